"""`path:line:col: severity rule: message`, then one summary line. Paths are relative to the Git
checkout, as in every other format (see `locations.py`)."""

from __future__ import annotations

from reconciler.findings import Report
from reconciler.report import ReportContext
from reconciler.report.locations import checkout_prefix
from reconciler.report.summary import counts_line


def render(report: Report, context: ReportContext) -> str:
    prefix = checkout_prefix(context)
    lines = []
    for f in report.sorted():
        waived = f" (waived: {f.waived})" if f.waived is not None else ""
        lines.append(
            f"{prefix}{f.path}:{f.line}:{f.column}: {f.severity.value} {f.rule}: {f.message}{waived}"
        )
    lines.append(counts_line(report))
    return "\n".join(lines) + "\n"
