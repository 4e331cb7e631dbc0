"""Rule selection from the settings file (`rules:`): skip a rule everywhere, report a rule at another
severity, leave paths out of the policies; each with a reason, and each reported with how many
findings it changed, so a selection is never silent.

Only policy rules can be selected: the structural rules (a file that does not parse, a settings or
waiver problem) say the repository cannot be read as meant, and stay. A selection naming an unknown
or structural rule is a `settings` error at its line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import replace
from fnmatch import fnmatchcase

from reconciler.findings import Finding, SelectionUse, Severity
from reconciler.repository import Repository
from reconciler.rules import STRUCTURAL_RULES
from reconciler.settings import SETTINGS_FILE, RuleSelection


def _excluded(path: str, patterns: list[str]) -> bool:
    return any(path.startswith(p) if p.endswith("/") else fnmatchcase(path, p) for p in patterns)


def _locate(repo: Repository, field_path: tuple[str | int, ...]) -> tuple[int, int]:
    doc = repo.settings_document
    return doc.locate(field_path) if doc is not None else (1, 1)


def _rule_problems(repo: Repository, selection: RuleSelection, known: Collection[str]) -> list[Finding]:
    problems = []
    entries: list[tuple[str, int, str]] = [("skip", i, s.rule) for i, s in enumerate(selection.skip)]
    entries += [("severity", i, s.rule) for i, s in enumerate(selection.severity)]
    for kind, index, rule in entries:
        if rule in STRUCTURAL_RULES:
            message = f"rules.{kind}[{index}]: {rule} is a structural rule and cannot be selected"
        elif rule not in known:
            close = difflib.get_close_matches(rule, list(known), n=1)
            message = f"rules.{kind}[{index}]: unknown rule '{rule}'" + (
                f"; did you mean '{close[0]}'?" if close else ""
            )
        else:
            continue
        line, column = _locate(repo, ("rules", kind, index, "rule"))
        problems.append(Finding("settings", Severity.ERROR, SETTINGS_FILE, line, column, message))
    return problems


def select(
    repo: Repository, findings: list[Finding], known_rules: Collection[str]
) -> tuple[list[Finding], list[SelectionUse]]:
    """The findings after the repository's rule selection, and what each selection did."""
    selection = repo.settings.rules
    if not (selection.skip or selection.severity or selection.exclude):
        return findings, []
    skipped = {s.rule: s for s in selection.skip}
    overridden = {s.rule: s for s in selection.severity}
    counts: dict[tuple[str, int], int] = {}
    out: list[Finding] = []
    for finding in findings:
        if finding.rule in STRUCTURAL_RULES:
            out.append(finding)
            continue
        excluded = next(
            (i for i, e in enumerate(selection.exclude) if _excluded(finding.path, e.paths)), None
        )
        if excluded is not None:
            counts[("exclude", excluded)] = counts.get(("exclude", excluded), 0) + 1
            continue
        if finding.rule in skipped:
            index = selection.skip.index(skipped[finding.rule])
            counts[("skip", index)] = counts.get(("skip", index), 0) + 1
            continue
        override = overridden.get(finding.rule)
        if override is not None:
            index = selection.severity.index(override)
            counts[("severity", index)] = counts.get(("severity", index), 0) + 1
            finding = replace(finding, severity=Severity(override.severity))
        out.append(finding)
    uses = [
        SelectionUse("skip", s.rule, s.reason, counts.get(("skip", i), 0))
        for i, s in enumerate(selection.skip)
    ]
    uses += [
        SelectionUse("severity", f"{s.rule} -> {s.severity}", s.reason, counts.get(("severity", i), 0))
        for i, s in enumerate(selection.severity)
    ]
    uses += [
        SelectionUse("exclude", ", ".join(e.paths), e.reason, counts.get(("exclude", i), 0))
        for i, e in enumerate(selection.exclude)
    ]
    return out + _rule_problems(repo, selection, known_rules), uses
