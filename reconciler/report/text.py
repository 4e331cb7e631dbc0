"""`path:line:col: severity rule: message`, then one summary line."""

from __future__ import annotations

from reconciler.findings import Report
from reconciler.report import ReportContext


def render(report: Report, context: ReportContext) -> str:
    lines = []
    for f in report.sorted():
        waived = f" (waived: {f.waived})" if f.waived is not None else ""
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.severity.value} {f.rule}: {f.message}{waived}")
    counts = report.counts()
    summary = (
        f"{report.files} files: {counts['error']} errors, {counts['warning']} warnings, "
        f"{counts['info']} infos"
    )
    if counts["waived"]:
        summary += f", {counts['waived']} waived"
    lines.append(summary)
    return "\n".join(lines) + "\n"
