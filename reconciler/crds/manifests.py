"""Check the repository's manifests against the run's CRDs, and turn what is wrong into findings at the
offending field's line and column."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.crds.catalog import Catalog, Problem
from reconciler.documents import Document, format_field_path
from reconciler.findings import Finding, Severity

TOOLHIVE_GROUP = "toolhive.stacklok.dev"
CORE_SECRET = "Secret"
_SEVERITY = {
    "crd-schema": Severity.ERROR,
    "crd-rule": Severity.ERROR,
    "crd-rule-unsupported": Severity.WARNING,
}
# Findings worked out over all manifests at once (not per file), so never carried over from another
# revision's load of an unchanged file.
REPOSITORY_WIDE_RULES = frozenset({"crd-schema-unavailable", "ref-unknown", "service-name"})
HOW_TO_PROVIDE = (
    "pass --crds PATH|URL (the operator-crds files of the ToolHive release you run), set crds: in "
    "mcp-gitops.yaml, or use --crds-from-cluster"
)


def split_api_version(api_version: object) -> tuple[str, str]:
    """(group, version); the core group is ''."""
    text = str(api_version)
    group, sep, version = text.partition("/")
    return (group, version) if sep else ("", text)


@dataclass
class ManifestChecker:
    """One per run: `check` each manifest, then `finish` for the per-kind warnings."""

    catalog: Catalog | None
    findings: list[Finding] = field(default_factory=list)
    unchecked: dict[str, Document] = field(default_factory=dict)  # ToolHive kind -> first manifest
    toolhive_kinds: set[str] = field(default_factory=set)  # the ToolHive kinds seen, checked or not

    def add(
        self,
        rule: str,
        severity: Severity,
        doc: Document,
        path: tuple[str | int, ...],
        message: str,
        at_key: bool = False,
    ) -> None:
        line, column = doc.locate(path, key=at_key)
        where = format_field_path(path)
        self.findings.append(
            Finding(rule, severity, doc.path, line, column, f"{where}: {message}" if where else message)
        )

    def register(self, doc: Document) -> None:
        """Count a manifest checked in another revision (same bytes, same settings) for this run's
        per-kind findings."""
        if split_api_version(doc.data["apiVersion"])[0] == TOOLHIVE_GROUP:
            self.toolhive_kinds.add(doc.kind)
            if self.catalog is None:
                self.unchecked.setdefault(doc.kind, doc)

    def check(self, doc: Document) -> str | None:
        """Check one manifest; returns the kind it is known as, or None for a pass-through manifest.
        Sets `doc.valid` to whether it would be accepted as far as the CRDs tell."""
        data = doc.data
        kind = str(data["kind"])
        group, version = split_api_version(data["apiVersion"])
        served = self.catalog.served(group, kind) if self.catalog is not None else None
        if served is None:
            return self._not_in_catalog(doc, group, kind)
        doc.kind = kind
        if group == TOOLHIVE_GROUP:
            self.toolhive_kinds.add(kind)
        target = served.get(version)
        if target is None:
            self.add(
                "crd-schema",
                Severity.ERROR,
                doc,
                ("apiVersion",),
                f"{group}/{version} is not served for {kind}; served: "
                + ", ".join(f"{group}/{v}" for v in sorted(served)),
            )
            doc.valid = False
            return kind
        if target.deprecated:
            warning = target.warning or f"{target.api_version} {kind} is deprecated"
            self.add("deprecated-api-version", Severity.WARNING, doc, ("apiVersion",), warning)
        problems = target.check(data)
        for problem in problems:
            self._report(doc, problem)
        doc.valid = not any(_SEVERITY[p.rule] is Severity.ERROR for p in problems)
        return kind

    def _not_in_catalog(self, doc: Document, group: str, kind: str) -> str | None:
        if group != TOOLHIVE_GROUP:
            doc.valid = True
            if not is_applied(doc.data["apiVersion"], kind):
                self.add(
                    "kind-not-applied",
                    Severity.INFO,
                    doc,
                    ("kind",),
                    f"apply --target cluster does not send {kind} manifests (only the ToolHive kinds and "
                    "Namespace); manage it with other tooling",
                )
            return CORE_SECRET if group == "" and kind == CORE_SECRET else None
        if self.catalog is None:
            # Not judged: the operational policies still run, and `finish` says the schema was not checked.
            self.unchecked.setdefault(kind, doc)
            self.toolhive_kinds.add(kind)
            doc.kind, doc.valid = kind, True
            return kind
        close = self.catalog.close_kind(group, kind)
        hint = f" (did you mean {close}?)" if close else ""
        self.add(
            "unknown-kind",
            Severity.ERROR,
            doc,
            ("kind",),
            f"no CRD of {self.catalog.origin} defines {group} kind {kind}{hint}",
        )
        doc.valid = False
        return None

    def _report(self, doc: Document, problem: Problem) -> None:
        self.add(problem.rule, _SEVERITY[problem.rule], doc, problem.path, problem.message, problem.at_key)

    def finish(self) -> list[Finding]:
        for kind, doc in sorted(self.unchecked.items()):
            line, column = doc.locate(("kind",))
            self.findings.append(
                Finding(
                    "crd-schema-unavailable",
                    Severity.WARNING,
                    doc.path,
                    line,
                    column,
                    f"{kind} manifests were not checked against the operator's CRD (no CRD source): "
                    + HOW_TO_PROVIDE,
                )
            )
        return self.findings


# Besides the ToolHive kinds, `apply` sends Namespaces, so that a namespace and its servers can come in
# one change. Any other kind in the manifests folder is validated but left to other tooling.
APPLIED_CORE_KINDS = frozenset({"Namespace"})


def is_applied(api_version: object, kind: object) -> bool:
    """Whether `apply --target cluster` sends a manifest of this apiVersion and kind."""
    group, _ = split_api_version(api_version)
    return group == TOOLHIVE_GROUP or (group == "" and str(kind) in APPLIED_CORE_KINDS)


def transitions(
    catalog: Catalog | None, manifests: list[Document], old_of: Callable[[Document], Any]
) -> list[Finding]:
    """Findings of the transition rules (`oldSelf`) of each manifest that has an old object."""
    checker = ManifestChecker(catalog)
    for doc in manifests:
        if catalog is None or not isinstance(doc.data, dict):
            continue
        group, version = split_api_version(doc.data.get("apiVersion"))
        target = (catalog.served(group, str(doc.data.get("kind"))) or {}).get(version)
        old = old_of(doc) if target is not None and target.has_transitions else None
        if target is not None and isinstance(old, dict):
            for problem in target.check_transitions(doc.data, old):
                checker._report(doc, problem)
    return checker.findings
