"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` annotation per finding.

`::error file=F,line=L,col=C,title=RULE::message`. GitHub reads property values up to the next `,` or
`::` and the data up to the end of the line, so both are percent-escaped (properties also escape `:`
and `,`). Waived findings are not annotated: they do not need attention in the pull request, and the
SARIF and markdown outputs still list them. A plain summary line closes the output for the log; GitHub
ignores lines that are not commands.
"""

from __future__ import annotations

from reconciler.findings import Finding, Report, Severity
from reconciler.report import ReportContext
from reconciler.report.locations import checkout_prefix
from reconciler.report.summary import counts_line

COMMANDS: dict[Severity, str] = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "notice",
}


def escape_data(text: str) -> str:
    # `%` first, or the escapes added for the others would be escaped again.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding, prefix: str = "") -> str:
    properties = [f"file={escape_property(prefix + finding.path)}"]
    properties += [f"line={finding.line}", f"col={finding.column}"]
    properties.append(f"title={escape_property(finding.rule)}")
    return f"::{COMMANDS[finding.severity]} {','.join(properties)}::{escape_data(finding.message)}"


def render(report: Report, context: ReportContext) -> str:
    prefix = checkout_prefix(context)
    lines = [annotation(f, prefix) for f in report.sorted() if f.waived is None]
    lines.append(f"mcp-gitops: {counts_line(report)}")
    return "\n".join(lines) + "\n"
