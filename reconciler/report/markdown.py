"""A GitHub-flavoured Markdown summary for `$GITHUB_STEP_SUMMARY`: counts, then one table per file.

Links: a job summary is not rendered at a repository path, so a relative link goes nowhere there. When
GitHub's environment names the server, repository and commit, links are absolute
(`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA/path#L12`); elsewhere (a local run, a PR
comment written by hand) they stay relative.

Size: GitHub rejects a step summary over 1024 KiB, so the output stops adding findings below that
budget and ends with a note saying how many were left out (SARIF and JSON always have them all).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from itertools import groupby
from urllib.parse import quote

from reconciler.findings import Finding, Report
from reconciler.report import ReportContext
from reconciler.report.locations import checkout_prefix
from reconciler.report.summary import coverage_note
from reconciler.report.summary import plural as _plural

# GitHub's limit is 1024 KiB; keep a margin for the truncation note and anything else the step appends.
MAX_BYTES = 1000 * 1024
TITLE = "## mcp-gitops validate"
TABLE_HEAD = "| Line | Severity | Rule | Message |\n|---:|---|---|---|"
WAIVED_HEAD = "| File | Line | Rule | Message | Reason |\n|---|---:|---|---|---|"

# Characters that GFM would turn into markup inside a table cell. `|` would end the cell, `<` could
# open raw HTML, the others emphasis, code or links.
_MARKUP = re.compile(r"([\\`*_\[\]|<>~#!])")


def cell(text: str) -> str:
    """Escape text for one table cell; a newline becomes `<br>` because a row is one line."""
    escaped = _MARKUP.sub(r"\\\1", text.replace("&", "&amp;"))
    return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def link_base() -> str:
    """The URL prefix for file links: absolute on GitHub, else "" (links relative to the repository)."""
    server, repository, sha = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")
    )
    if server and repository and sha:
        return f"{server.rstrip('/')}/{repository}/blob/{sha}/"
    return ""


def headline(report: Report) -> str:
    counts = report.counts()
    status = "❌" if counts["error"] else ("⚠️" if counts["warning"] else "✅")
    parts = [
        _plural(counts["error"], "error"),
        _plural(counts["warning"], "warning"),
        _plural(counts["info"], "info"),
    ]
    text = f"{status} **{', '.join(parts)}** in {_plural(report.files, 'file')}"
    if counts["waived"]:
        text += f" ({counts['waived']} waived)"
    if report.unjudged:
        text += f"; {cell(coverage_note(report))}"
    return text


def _line_link(finding: Finding, url: str) -> str:
    return f"[{finding.line}:{finding.column}]({url}#L{finding.line})"


class _Budget:
    """Counts UTF-8 bytes so the summary stays under GitHub's limit."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, chunk: str) -> bool:
        size = len(chunk.encode("utf-8")) + 1  # the newline that joins it
        if size > self.left:
            return False
        self.left -= size
        return True


def _file_sections(findings: list[Finding], prefix: str, base: str) -> Iterator[tuple[str, list[str]]]:
    """(heading and table head, rows) per file, in path order."""
    for path, group in groupby(findings, key=lambda f: f.path):
        shown = prefix + path
        url = base + quote(shown)
        head = f"### [{cell(shown)}]({url})\n\n{TABLE_HEAD}"
        rows = [
            f"| {_line_link(f, url)} | {f.severity.value} | {cell(f.rule)} | {cell(f.message)} |"
            for f in group
        ]
        yield head, rows


def render(report: Report, context: ReportContext, limit: int = MAX_BYTES) -> str:
    prefix, base = checkout_prefix(context), link_base()
    ordered = report.sorted()
    active = [f for f in ordered if f.waived is None]
    waived = [f for f in ordered if f.waived is not None]
    total = len(ordered)

    # Room for the truncation note is set aside up front, so adding it can never break the limit.
    note_reserve = 400
    budget = _Budget(limit - note_reserve)
    out: list[str] = []
    # Several validations in one job (a monorepo) each add a summary; the folder tells them apart.
    title = TITLE if context.root in ("", ".") else f"{TITLE}: {cell(context.root)}"
    for chunk in (title, "", headline(report)):
        budget.take(chunk)
        out.append(chunk)
    shown = 0

    def add_table(head: str, rows: list[str]) -> bool:
        nonlocal shown
        # A heading only goes in together with its first row: never an empty table before the note.
        if not budget.take("\n" + head + "\n" + rows[0]):
            return False
        out.extend(["", head, rows[0]])
        shown += 1
        for row in rows[1:]:
            if not budget.take(row):
                return False
            out.append(row)
            shown += 1
        return True

    complete = all(add_table(head, rows) for head, rows in _file_sections(active, prefix, base))
    if complete and waived:
        rows = [
            f"| {cell(prefix + f.path)} | {_line_link(f, base + quote(prefix + f.path))} | {cell(f.rule)} "
            f"| {cell(f.message)} | {cell(f.waived or '')} |"
            for f in waived
        ]
        complete = add_table(f"### Waived\n\n{WAIVED_HEAD}", rows)
    if not complete:
        out.extend(
            [
                "",
                f"> **Truncated:** {shown} of {total} findings shown; a job summary is limited to 1 MiB. "
                "The SARIF and JSON outputs list every finding.",
            ]
        )
    return "\n".join(out) + "\n"
