"""`mcp-gitops diff` output: text for a terminal, JSON for tools, markdown for a pull-request comment.

The markdown is one comment: grouped by target, each change's field table collapsed when long, and
cut below GitHub's 65,536-character comment limit with a note saying how much was left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reconciler.diff.model import Change, RevisionDiff
from reconciler.findings import Finding
from reconciler.report.markdown import cell
from reconciler.report.summary import plural
from reconciler.targets.cluster.diff import ABSENT, FieldChange

FORMATS = ("text", "json", "markdown")
# Found by the Action to update its one comment instead of adding another on each push.
COMMENT_MARKER = "<!-- mcp-gitops-diff -->"
# GitHub refuses a comment body over 65,536 characters; leave room for the marker and the note.
COMMENT_LIMIT = 65_536
_NOTE_RESERVE = 600
# A change with more fields than this shows its table collapsed, and so does every change of a target
# with more changes than _OPEN_CHANGES: a long comment stays a list to scan.
_OPEN_FIELDS = 5
_OPEN_CHANGES = 20
_SYMBOL = {"added": "+", "removed": "-", "changed": "~"}
_TARGETS = (("registry", "Registry"), ("cluster", "Cluster"))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _value(change: FieldChange, value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return "(sensitive)" if change.sensitive else _json(value)


def summary(diff: RevisionDiff) -> str:
    counts = {a: sum(c.action == a for c in diff.changes) for a in ("added", "changed", "removed")}
    parts = [f"{n} {a}" for a, n in counts.items() if n]
    text = plural(len(diff.changes), "change") + (f" ({', '.join(parts)})" if parts else "")
    text += (
        f"; {plural(len(diff.introduced), 'finding')} introduced, {len(diff.fixed)} fixed"
        if diff.introduced or diff.fixed
        else "; no finding introduced or fixed"
    )
    if diff.errors:
        text += f"; the revision has {plural(diff.errors, 'error')}: apply would refuse it"
    return text


def _short(revision: str | None) -> str:
    return revision[:12] if revision else "the work tree"


def _claims_text(claims: dict[str, Any] | None) -> str:
    return "none" if not claims else _json(claims)


def _finding_text(f: Finding) -> str:
    return f"{f.path}:{f.line}:{f.column}: {f.severity.value} {f.rule}: {f.message}"


def render_text(diff: RevisionDiff) -> str:
    lines = [f"diff {_short(diff.base)} -> {_short(diff.revision)}"]
    lines.extend(f"error: {problem}" for problem in diff.problems)
    for target, title in _TARGETS:
        group = [c for c in diff.changes if c.target == target]
        if not group:
            continue
        lines.append(f"{title}:")
        for change in group:
            where = f"  ({change.path})" if change.path else ""
            lines.append(f"  {_SYMBOL[change.action]} {change.kind} {change.key}{where}")
            if change.claims is not None:
                old, new = change.claims
                claims = (
                    _claims_text(new)
                    if change.action == "added"
                    else _claims_text(old)
                    if change.action == "removed"
                    else f"{_claims_text(old)} -> {_claims_text(new)}"
                )
                lines.append(f"      claims: {claims}")
            lines.extend(f"      {f.render()}" for f in change.fields)
    for title, findings in (("Findings introduced", diff.introduced), ("Findings fixed", diff.fixed)):
        if findings:
            lines.append(f"{title}:")
            lines.extend(f"  {_finding_text(f)}" for f in findings)
    lines.append(summary(diff))
    return "\n".join(lines) + "\n"


def render_json(diff: RevisionDiff) -> str:
    return json.dumps(diff.to_json(), indent=2, sort_keys=False, default=str) + "\n"


def _markdown_change(change: Change, collapse: bool) -> str:
    where = f" — `{cell(change.path)}`" if change.path else ""
    head = f"{_SYMBOL[change.action]} **{cell(change.kind)}** `{cell(change.key)}`{where}"
    rows: list[str] = []
    if change.claims is not None:
        old, new = change.claims
        rows.append(f"| claims | {cell(_claims_text(old))} | {cell(_claims_text(new))} |")
    rows.extend(
        f"| {cell(f.field)} | {cell(_value(f, f.before))} | {cell(_value(f, f.after))} |"
        for f in change.fields
    )
    if not rows:
        return f"- {head}"
    table = "| Field | Before | After |\n|---|---|---|\n" + "\n".join(rows)
    if collapse or len(rows) > _OPEN_FIELDS:
        return (
            f"<details><summary>{_SYMBOL[change.action]} {cell(change.kind)} {cell(change.key)} "
            f"({plural(len(rows), 'field')})</summary>\n\n{table}\n\n</details>"
        )
    return f"- {head}\n\n{table}\n"


def _markdown_finding(f: Finding) -> str:
    return f"| {cell(f.path)}:{f.line} | {f.severity.value} | {cell(f.rule)} | {cell(f.message)} |"


def render_markdown(diff: RevisionDiff, limit: int = COMMENT_LIMIT) -> str:
    out = [
        COMMENT_MARKER,
        "## mcp-gitops diff",
        "",
        f"`{_short(diff.base)}` → `{_short(diff.revision)}`: **{summary(diff)}**",
    ]
    out.extend(f"\n> **Error:** {cell(problem)}" for problem in diff.problems)
    budget = limit - _NOTE_RESERVE - sum(len(part) + 1 for part in out)
    shown = total = 0

    def add(block: str) -> bool:
        nonlocal budget
        if len(block) + 2 > budget:
            return False
        budget -= len(block) + 2
        out.extend(["", block])
        return True

    sections: list[tuple[str, list[str]]] = []
    for target, title in _TARGETS:
        group = [c for c in diff.changes if c.target == target]
        if group:
            heading = f"### {title} ({plural(len(group), 'change')})"
            collapse = len(group) > _OPEN_CHANGES
            sections.append((heading, [_markdown_change(c, collapse) for c in group]))
    for title, findings in (("Findings introduced", diff.introduced), ("Findings fixed", diff.fixed)):
        if findings:
            head = "| Where | Severity | Rule | Message |\n|---|---|---|---|"
            rows = [_markdown_finding(f) for f in findings]
            sections.append((f"### {title} ({len(findings)})\n\n{head}", rows))
    complete = True
    for heading, blocks in sections:
        total += len(blocks)
        if not complete:
            continue
        if not add(heading):
            complete = False
            continue
        table = heading.endswith("|")
        for block in blocks:
            if table:
                if len(block) + 1 > budget:
                    complete = False
                    break
                budget -= len(block) + 1
                out.append(block)
            elif not add(block):
                complete = False
                break
            shown += 1
    if not complete:
        out.extend(
            [
                "",
                f"> **Cut:** {shown} of {total} items shown; a pull-request comment is limited to "
                f"{COMMENT_LIMIT:,} characters. Run `mcp-gitops diff -o json` for everything.",
            ]
        )
    return "\n".join(out) + "\n"


RENDERERS: dict[str, Callable[[RevisionDiff], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
