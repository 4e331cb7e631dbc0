"""The validation pipeline every command shares: source -> documents -> models -> policies -> report.

`plan`, `apply` and the daemon call `validate` first and refuse to touch a target when it reports
errors.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from reconciler.crds.sources import CrdOptions
from reconciler.findings import Finding, Report
from reconciler.policy.engine import Inputs, evaluate, unjudged
from reconciler.policy.loader import PolicySet, load_policies
from reconciler.policy.selection import select
from reconciler.policy.token import verify_token
from reconciler.policy.waivers import apply_waivers
from reconciler.repository import Repository, load_repository, transition_findings
from reconciler.rules import RuleInfo, catalogue
from reconciler.source import Source


@dataclass
class Validation:
    repo: Repository
    report: Report
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    base: Repository | None = None
    policies: PolicySet = field(default_factory=PolicySet)
    # Whether the report also judged a token's rules: a later validation can build on this one only
    # when it did not (`previous=`).
    token_verified: bool = False


def validate(
    source: Source,
    *,
    base: Source | None = None,
    token: str | None = None,
    key_file: str | None = None,
    policies: PolicySet | None = None,
    crds: CrdOptions | None = None,
    server_version: str | None = None,
    previous: Validation | None = None,
    beside: Callable[[Repository], None] | None = None,
) -> Validation:
    """Validate a repository. Raises SourceError (unreadable repository), PolicyError (a policy that
    does not compile) and TokenError (a token that fails verification): all exit 2.

    `previous` is an earlier validation of the same repository (the daemon's last cycle): files it
    shares with this revision are not parsed or checked again, and the findings of policies that read
    only their own document are taken from it; the report is the one a cold run gives.

    `beside(repo)` is the caller's own work on the loaded repository, run while forked workers check
    the policies, and only then (at most once; the caller does what did not run here afterwards): the
    `apply` command writes the registry there, uncommitted until it knows the report has no errors. It
    must not change the repository."""
    # Parsed documents are a million small acyclic containers on a large repository; the cyclic
    # garbage collector would rescan them all again and again while they are built (a third of the
    # run), and could free none of them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _validate(source, base, token, key_file, policies, crds, server_version, previous, beside)
    finally:
        if collecting:
            gc.enable()


def _validate(
    source: Source,
    base: Source | None,
    token: str | None,
    key_file: str | None,
    policies: PolicySet | None,
    crds: CrdOptions | None,
    server_version: str | None,
    previous: Validation | None,
    beside: Callable[[Repository], None] | None,
) -> Validation:
    # The previous validation may have seen other CRDs (a cluster's, since upgraded): its manifests
    # are checked again.
    reused = previous.repo if previous is not None else None
    repo = load_repository(source, reuse=reused, crds=crds, same_crds=False, server_version=server_version)
    policy_set = policies if policies is not None else load_policies(source, repo.settings.policies)
    claims = None
    if token is not None:
        claims = verify_token(token, repo.config.data if repo.config is not None else None, key_file)
    base_repo = None
    if base is not None:
        base_repo = load_repository(base, reuse=repo, crds=crds, server_version=server_version)
        # The CRDs' transition rules compare each object with its version at the base (oldSelf).
        repo.findings += transition_findings(repo, base_repo)
    if previous is not None and _plain(previous) and claims is None and base is None:
        from reconciler.diff.findings import base_report  # diff builds on this module

        # What `check` would answer, from less work: base_report serves any revision loaded beside
        # one already validated without a token or base, here the previous one.
        report = base_report(repo, previous, policy_set)
    else:
        work = None if beside is None else partial(beside, repo)
        report = check(repo, policy_set, Inputs(token=claims, base=base_repo), work)
    return Validation(
        repo, report, catalogue(policy_set.rules()), base_repo, policy_set, token_verified=claims is not None
    )


def _plain(validation: Validation) -> bool:
    """Validated without a token or a base revision: its findings are the documents' own."""
    return validation.base is None and not validation.token_verified


def check(
    repo: Repository, policies: PolicySet, inputs: Inputs, beside: Callable[[], None] | None = None
) -> Report:
    """The findings of an already loaded repository: its load findings, policies, waivers. `beside`
    runs while forked workers evaluate the policies, and only then (`validate`)."""
    return finish(repo, repo.findings + evaluate(repo, policies, inputs, beside), policies, inputs)


def finish(repo: Repository, findings: list[Finding], policies: PolicySet, inputs: Inputs) -> Report:
    """A report from a repository's findings: waivers applied (and checked against the rules), the
    rules that could not be judged said once, the rule selection applied and counted."""
    not_judged = unjudged(repo, policies, inputs)
    known = catalogue(policies.rules()).keys()
    selected, selection = select(repo, findings, known)
    waived = apply_waivers(repo, selected, known, not_judged)
    return Report(waived, files=repo.files, unjudged=tuple(not_judged), selection=tuple(selection))
