"""Evaluate policies over a loaded repository.

One CEL context per document kind; each document is bound once (`object`, `oldObject`, `request`) and
every matching policy runs against it, because binding is where the time goes (the object is converted
to CEL values on every change of the context).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from reconciler import parallel
from reconciler.documents import Document, parse_field_path
from reconciler.findings import Finding, Severity
from reconciler.policy import cel_runtime as cel
from reconciler.policy.entries import EntryIndex
from reconciler.policy.functions import build_functions
from reconciler.policy.loader import CompiledPolicy, CompiledValidation, PolicySet
from reconciler.policy.model import KINDS
from reconciler.policy.projection import Trie, build_trie, project
from reconciler.policy.registry import pruned_entries
from reconciler.repository import CONFIG, ENTRY, Repository, entry_key, manifest_key
from reconciler.transfer import findings_in, findings_out

# Documents to evaluate before the work is shared with forked workers (reconciler/parallel.py), and
# how many a process takes at a time.
PARALLEL_DOCUMENTS = 2_000
DOCUMENT_CHUNK = 200


@dataclass(frozen=True)
class _KindPlan:
    """One kind's fixed variables, its validations, and what of each document they read."""

    variables: dict[str, Any]
    checks: list[tuple[CompiledPolicy, CompiledValidation]]
    reads_object: bool
    object_trie: Trie | None
    reads_old: bool
    old_trie: Trie | None
    reads_request: bool
    request_trie: Trie | None


@dataclass(frozen=True)
class Inputs:
    """What the policies see besides the object itself."""

    token: Mapping[str, Any] | None = None
    base: Repository | None = None  # the base revision, in pull-request mode


def _identity(doc: Document, namespace: str) -> str | None:
    return (
        entry_key(doc)
        if doc.kind == ENTRY
        else (CONFIG if doc.kind == CONFIG else manifest_key(doc, namespace))
    )


def _documents_of(repo: Repository, kind: str) -> list[Document]:
    if kind == CONFIG:
        return [repo.config] if repo.config is not None and repo.config.valid else []
    return repo.valid(kind)


class _Evaluator:
    def __init__(self, repo: Repository, policies: PolicySet, inputs: Inputs) -> None:
        self.repo = repo
        self.inputs = inputs
        self.policies = policies
        self.config = repo.config.data if repo.config is not None and repo.config.valid else None
        self.current: Document | None = None
        # entry versions the apply deletes: the server would judge those deletions too
        pruned = pruned_entries(
            repo.valid(ENTRY), inputs.base.valid(ENTRY) if inputs.base else [], repo.settings.prune.registry
        )
        self.functions = build_functions(
            self.config, EntryIndex(repo.valid(ENTRY)), repo.settings.namespace, self.current_document, pruned
        )
        self.findings: list[Finding] = []
        namespace = repo.settings.namespace
        self.namespace = namespace
        self.old: dict[str, Any] = {}
        if inputs.base is not None:
            for doc in inputs.base.documents():
                key = _identity(doc, inputs.base.settings.namespace)
                if key is not None and doc.valid:
                    self.old[key] = doc.data

    def current_document(self) -> Document:
        assert self.current is not None, "document-scoped functions run only during evaluation"
        return self.current

    def repo_view(self, policies: list[CompiledPolicy]) -> dict[str, list[Any]] | None:
        kinds: set[str] = set()
        for policy in policies:
            if policy.repo_kinds is None:
                kinds.update(KINDS)
            else:
                kinds.update(policy.repo_kinds)
        if not kinds:
            return None
        return {kind: [d.data for d in _documents_of(self.repo, kind)] for kind in sorted(kinds)}

    def run(self, beside: Callable[[], None] | None) -> list[Finding]:
        plans = {}
        work: list[tuple[str, Document]] = []
        for kind in KINDS:
            policies = [p for p in self.policies.for_kind(kind) if _judgeable(p, self.inputs)]
            docs = _documents_of(self.repo, kind)
            if policies and docs:
                plans[kind] = self.plan_kind(policies)
                work += [(kind, doc) for doc in docs]
        jobs = parallel.jobs() if len(work) >= PARALLEL_DOCUMENTS else 1
        shared = parallel.SharedWork(
            len(work),
            DOCUMENT_CHUNK,
            lambda chunk: self.evaluate_documents(plans, work[chunk.start : chunk.stop]),
            findings_out,
            findings_in,
            jobs,
        )
        # Without workers the caller's work would only delay the findings: it does it afterwards.
        shared_beside = beside if jobs > 1 else None
        return [finding for found in shared.finish(shared_beside) for finding in found]

    def plan_kind(self, policies: list[CompiledPolicy]) -> _KindPlan:
        """What every chunk of one kind's documents binds, worked out once per run."""
        # Binding a document makes the context convert every variable again, the fixed ones too: only
        # the variables these policies name are bound, each projected to the paths they read.
        variables: dict[str, Any] = {}
        fixed = (
            ("token", self.inputs.token),
            ("config", self.config),
            # the targeted registry server release and what it does (reconciler/registry_server.py)
            ("server", self.repo.settings.registryServer.capabilities().to_cel()),
        )
        for name, value in fixed:
            named, trie = _trie(policies, name)
            if named:
                variables[name] = value if trie is None else project(value, trie)
        repo_view = self.repo_view(policies)
        if repo_view is not None:
            variables["repo"] = repo_view
        return _KindPlan(
            variables,
            [(policy, validation) for policy in policies for validation in policy.validations],
            *_trie(policies, "object"),
            # Most policies never look at the base revision's object: then it is not converted at all.
            *_trie(policies, "oldObject"),
            *_trie(policies, "request"),
        )

    def evaluate_documents(
        self, plans: dict[str, _KindPlan], work: list[tuple[str, Document]]
    ) -> list[Finding]:
        """The findings of consecutive documents, in order, one CEL context per kind among them."""
        self.findings = []
        for kind, items in groupby(work, key=lambda item: item[0]):
            self.evaluate_kind(kind, [doc for _, doc in items], plans[kind])
        found, self.findings = self.findings, []
        return found

    def evaluate_kind(self, kind: str, docs: Sequence[Document], plan: _KindPlan) -> None:
        variables = plan.variables
        context = cel.Context(variables, self.functions)
        for doc in docs:
            key = _identity(doc, self.namespace)
            old = self.old.get(key) if key is not None else None
            bound: dict[str, Any] = {}
            if plan.reads_object:
                trie = plan.object_trie
                bound["object"] = doc.data if trie is None else project(doc.data, trie)
            if plan.reads_old:
                trie = plan.old_trie
                bound["oldObject"] = None if old is None else old if trie is None else project(old, trie)
            if plan.reads_request:
                request = {
                    "kind": kind,
                    "path": doc.path,
                    "operation": "UPDATE" if old is not None else "CREATE",
                    # compared here, on the Python data: cheaper than any CEL comparison
                    "changed": old != doc.data,
                    "revision": self.repo.revision,
                }
                trie = plan.request_trie
                bound["request"] = request if trie is None else project(request, trie)
            if bound:
                context.update(bound)
            self.current = doc
            for policy, validation in plan.checks:
                if validation.for_each_program is not None:
                    self.check_each(policy, validation, doc, context, variables, bound)
                    continue
                # The common case inline (about ten per document): a passing expression costs one call.
                try:
                    passed = validation.program.execute(context)
                except Exception as exc:  # any evaluation error is the policy's finding, never a traceback
                    self.policy_error(policy, doc, f"{type(exc).__name__}: {exc}")
                    continue
                if passed is not True and passed is not None:
                    self.outcome(policy, validation, doc, context, passed)

    def check_each(
        self,
        policy: CompiledPolicy,
        v: CompiledValidation,
        doc: Document,
        context: Any,
        variables: dict[str, Any],
        bound: dict[str, Any],
    ) -> None:
        items = self.execute(policy, v.for_each_program, doc, context)
        if not isinstance(items, list):
            if items is not None:
                self.policy_error(policy, doc, "forEach did not yield a list")
            return
        for item in items:
            # Binding `item` needs its own context; only objects with something to report get here
            # for the built-in rules, so the extra conversion is rare.
            item_context = cel.Context({**variables, **bound, "item": item}, self.functions)
            passed = self.execute(policy, v.program, doc, item_context)
            if passed is not True and passed is not None:
                self.outcome(policy, v, doc, item_context, passed)

    def outcome(
        self, policy: CompiledPolicy, v: CompiledValidation, doc: Document, context: Any, passed: Any
    ) -> None:
        """A validation that did not pass: its finding, or a policy error when it yielded no bool."""
        if passed is not False:
            self.policy_error(policy, doc, f"expression yielded {type(passed).__name__}, not a bool")
            return
        message = v.spec.message or ""
        if v.message_program is not None:
            rendered = self.execute(policy, v.message_program, doc, context)
            if isinstance(rendered, str) and rendered:
                message = rendered
        field_path = v.field_path
        if v.field_path_program is not None:
            computed = self.execute(policy, v.field_path_program, doc, context)
            if isinstance(computed, str):
                field_path = parse_field_path(computed)
        line, column = doc.locate(field_path)
        self.findings.append(Finding(policy.id, v.severity, doc.path, line, column, message))

    def execute(self, policy: CompiledPolicy, program: Any, doc: Document, context: Any) -> Any:
        try:
            return program.execute(context)
        except Exception as exc:  # any evaluation error is the policy's finding, never a traceback
            self.policy_error(policy, doc, f"{type(exc).__name__}: {exc}")
            return None

    def policy_error(self, policy: CompiledPolicy, doc: Document, what: str) -> None:
        line, column = doc.locate(())
        self.findings.append(
            Finding(
                "policy-error",
                Severity.ERROR,
                doc.path,
                line,
                column,
                f"policy {policy.id} ({policy.path}) failed to evaluate: {what}",
            )
        )


def _trie(policies: list[CompiledPolicy], variable: str) -> tuple[bool, Trie | None]:
    """Whether any of `policies` names `variable`, and the trie of the paths they read in it (None:
    the whole object)."""
    named = [p.reads[variable] for p in policies if variable in p.reads]
    paths: set[tuple[str, ...]] = set()
    for read in named:
        if read is None:
            return True, None
        paths |= read
    return bool(named), build_trie(paths)


def _judgeable(policy: CompiledPolicy, inputs: Inputs) -> bool:
    return not ("token" in policy.policy.requires and inputs.token is None)


def unjudged(repo: Repository, policies: PolicySet, inputs: Inputs) -> list[str]:
    """The rules this run could not judge for want of an input (a token), on documents the repository
    has. A registry server that does not authenticate publishers (`auth.mode: anonymous`) needs no
    token, so nothing is left unjudged there."""
    config = repo.config.data if repo.config is not None and isinstance(repo.config.data, dict) else {}
    auth = config.get("auth")
    if isinstance(auth, dict) and auth.get("mode") == "anonymous":
        return []
    return sorted(
        {
            p.id
            for kind in KINDS
            for p in policies.for_kind(kind)
            if not _judgeable(p, inputs) and _documents_of(repo, kind)
        }
    )


def evaluate(
    repo: Repository,
    policies: PolicySet,
    inputs: Inputs | None = None,
    beside: Callable[[], None] | None = None,
) -> list[Finding]:
    """Every policy over every document it applies to. `beside` is other work of the caller's, run
    while forked workers evaluate, and only then (pipeline.validate's `beside`)."""
    inputs = inputs or Inputs()
    if not any(_judgeable(p, inputs) for p in policies.policies):
        return []  # nothing to run: the indexes over every entry are not built either
    return _Evaluator(repo, policies, inputs).run(beside)
