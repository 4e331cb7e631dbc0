"""JUnit XML, for CI systems that show test reports (GitLab, Jenkins, Azure DevOps, test-reporter
actions).

One test case per file and rule (`classname` = file, `name` = rule). Its body lists every finding of
that pair as `path:line:col: severity: message`, continuation lines of a multi-line message indented by
two spaces. The element that carries the body says the outcome:

- `<failure>` when an active error is among them: the case fails;
- `<skipped>` when every finding is waived;
- `<system-out>` otherwise (warnings and infos only): the case passes, as `--fail-on error` would.

Files without findings get no test case: a report only counts files (`files` in `<properties>`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from reconciler.findings import Finding, Report, Severity
from reconciler.report import ReportContext
from reconciler.report.locations import checkout_prefix

# XML 1.0 cannot carry these characters at all, not even escaped; show them as `\xNN` instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def finding_line(finding: Finding, path: str) -> str:
    message = finding.message.replace("\r\n", "\n").replace("\n", "\n  ")
    waived = f" (waived: {finding.waived})" if finding.waived is not None else ""
    return f"{path}:{finding.line}:{finding.column}: {finding.severity.value}: {message}{waived}"


def _case(path: str, rule: str, findings: list[Finding]) -> ET.Element:
    case = ET.Element("testcase", classname=xml_text(path), name=xml_text(rule), file=xml_text(path))
    body = xml_text("\n".join(finding_line(f, path) for f in findings))
    active = [f for f in findings if f.waived is None]
    first_error = next((f for f in active if f.severity is Severity.ERROR), None)
    if first_error is not None:
        summary = f"{len(findings)} findings" if len(findings) > 1 else first_error.message
        failure = ET.SubElement(case, "failure", message=xml_text(summary), type=xml_text(rule))
        failure.text = body
    elif not active:
        ET.SubElement(case, "skipped", message="waived").text = body
    else:
        ET.SubElement(case, "system-out").text = body
    return case


def render(report: Report, context: ReportContext) -> str:
    prefix = checkout_prefix(context)
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in report.sorted():
        groups[(prefix + f.path, f.rule)].append(f)
    cases = [_case(path, rule, findings) for (path, rule), findings in sorted(groups.items())]

    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    suites = ET.Element("testsuites", {"name": "mcp-gitops", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": "mcp-gitops validate", **counts})
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="files", value=str(report.files))
    ET.SubElement(properties, "property", name="tool-version", value=context.tool_version)
    if context.revision:
        ET.SubElement(properties, "property", name="revision", value=xml_text(context.revision))
    suite.extend(cases)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
