"""The base revision's findings, evaluated only where they can differ from the head's.

`diff` reports the findings a change introduces or fixes, so it needs the base's findings as well as
the head's. Evaluating every policy on every base document would double the cost of a diff on a large
repository with a one-line change. Instead:

- files the base shares byte for byte with the head were loaded once (`load_repository(reuse=)`: the
  very same `Document` objects), so their load findings are known;
- a *local* policy reads only the document itself, the registry config and the token: on a shared
  document, with the same config, its findings are the head's findings;
- every other policy (one reading `repo`, `oldObject`, `request`, the cross-document functions, or
  needing a token) is evaluated on the whole base, as `validate` would.

When the settings, the registry config or the policies differ, everything is evaluated.
"""

from __future__ import annotations

import re
from dataclasses import replace

from reconciler import pipeline
from reconciler.findings import Report
from reconciler.pipeline import Validation
from reconciler.policy.engine import Inputs, evaluate
from reconciler.policy.loader import CompiledPolicy, PolicySet
from reconciler.repository import Repository

# What makes a policy's result depend on more than the document, the config and the token...
_NOT_LOCAL = re.compile(r"\b(repo|oldObject|request|entriesNamed|entryFiles|claimsConflicts)\b")
# ... except for these, which read the entries of one server name only.
_SAME_NAME = re.compile(r"\b(entriesNamed|entryFiles|claimsConflicts)\b")


def _texts(policy: CompiledPolicy) -> list[str]:
    spec = policy.policy
    texts = [v.expression for v in spec.variables]
    for v in spec.validations:
        texts += [t for t in (v.expression, v.messageExpression, v.fieldPathExpression, v.forEach) if t]
    return texts


def carried_over(policy: CompiledPolicy) -> bool:
    """Whether the policy's findings on a document depend only on that document, the config, the
    token and the entries of the document's server name."""
    if policy.policy.requires or policy.repo_kinds is None or policy.repo_kinds:
        return False
    return not any(_NOT_LOCAL.search(_SAME_NAME.sub("", text)) for text in _texts(policy))


def _name(data: object) -> str | None:
    server = data.get("server") if isinstance(data, dict) else None
    name = server.get("name") if isinstance(server, dict) else None
    return name if isinstance(name, str) else None


def base_report(base: Repository, head_validation: Validation, policies: PolicySet) -> Report:
    """The report `pipeline.check(base, policies, Inputs())` would give, from less work. `base` was
    loaded with `reuse=` the head's repository; the head was validated without a token or base."""
    head, head_report = head_validation.repo, head_validation.report
    same_policies = [(p.path, p.policy) for p in policies.policies] == [
        (p.path, p.policy) for p in head_validation.policies.policies
    ]
    same_config = (base.config is None and head.config is None) or (
        base.config is not None and head.config is not None and base.config.digest == head.config.digest
    )
    if not (same_config and same_policies) or base.settings != head.settings:
        return pipeline.check(base, policies, Inputs())
    carried = PolicySet([p for p in policies.policies if carried_over(p)])
    others = PolicySet([p for p in policies.policies if not carried_over(p)])
    carried_ids = {p.id for p in carried.policies}

    base_docs, head_docs = (*base.entries, *base.manifests), (*head.entries, *head.manifests)
    in_head, in_base = {id(d) for d in head_docs}, {id(d) for d in base_docs}
    changed_names = {_name(d.data) for d in base.entries if id(d) not in in_head}
    changed_names |= {_name(d.data) for d in head.entries if id(d) not in in_base}
    changed_names.discard(None)
    # Files to evaluate again: those that differ, and those holding an entry of a name that changed.
    again = {d.path for d in base_docs if id(d) not in in_head}
    again |= {d.path for d in base.entries if _name(d.data) in changed_names}
    shared = {d.path for d in base_docs if id(d) in in_head} - again
    subset = replace(
        base,
        entries=[d for d in base.entries if d.path in again],
        manifests=[d for d in base.manifests if d.path in again],
    )
    # The head's findings of those policies on the other files, as evaluated there (waivers are
    # applied again below, for the base).
    kept = [
        replace(f, waived=None) for f in head_report.findings if f.rule in carried_ids and f.path in shared
    ]
    findings = base.findings + evaluate(base, others, Inputs()) + evaluate(subset, carried, Inputs()) + kept
    return pipeline.finish(base, findings, policies, Inputs())
