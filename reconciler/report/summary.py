"""Summary lines every format shares: counted nouns ("1 error", "2 errors"), the counts line, what
rule selection did, and which rules could not be judged."""

from __future__ import annotations

from reconciler.findings import Report


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def counts_line(report: Report) -> str:
    """`12 files: 1 error, 0 warnings, 2 infos`, then `, 1 waived` when something is."""
    counts = report.counts()
    text = (
        f"{plural(report.files, 'file')}: {plural(counts['error'], 'error')}, "
        f"{plural(counts['warning'], 'warning')}, {plural(counts['info'], 'info')}"
    )
    text += f", {counts['waived']} waived" if counts["waived"] else ""
    if report.selection:
        text += "; rule selection: " + ", ".join(use.text() for use in report.selection)
    return text + (f"; {coverage_note(report)}" if report.unjudged else "")


def coverage_note(report: Report) -> str:
    return (
        f"not judged without a token: {', '.join(report.unjudged)} (pass --token with the publisher's "
        "JWT to check that it covers the entries' claims)"
    )
