"""SARIF 2.1.0, one run, for GitHub code scanning (`github/codeql-action/upload-sarif`) and other
consumers.

Strict consumers reject what the schema allows but the spec discourages, so this writer never emits an
empty object, an empty string where text is expected, or a region without a line.

Fingerprints: `partialFingerprints["mcpGitopsFinding/v1"]` hashes the rule, the path and the message,
never the line or column, so an unrelated edit above a finding does not turn it into a new alert. Two
identical findings in one file (same rule and message) are told apart by a `:N` occurrence suffix in
file order, the way GitHub's own line-hash fingerprints count repeats. Changing the hashed fields is a
breaking change for every repository's alert history: bump the `/v1` key instead.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from reconciler.findings import Finding, Report, Severity
from reconciler.report import ReportContext
from reconciler.report.locations import checkout_prefix
from reconciler.rules import RuleInfo

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "mcp-gitops"
INFORMATION_URI = "https://github.com/mcp-gitops/mcp-gitops"  # [project.urls] Homepage
FINGERPRINT_KEY = "mcpGitopsFinding/v1"

LEVELS: dict[Severity, str] = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
}


def _text(value: str) -> dict[str, str]:
    return {"text": value}


def _first_sentence(text: str) -> str:
    """SARIF wants `shortDescription` to be one sentence; our descriptions usually already are."""
    head, dot, rest = text.partition(". ")
    return head + "." if dot and rest else text


def rule_descriptor(rule: RuleInfo) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"id": rule.id}
    if rule.description:
        descriptor["shortDescription"] = _text(_first_sentence(rule.description))
        descriptor["fullDescription"] = _text(rule.description)
    help_text = rule.help or rule.description
    if help_text:
        descriptor["help"] = {"text": help_text, "markdown": help_text}
    descriptor["defaultConfiguration"] = {"level": LEVELS[rule.severity]}
    # `source` is "builtin" or the defining policy file; a tag only needs to say which kind it is.
    descriptor["properties"] = {"tags": ["builtin" if rule.source == "builtin" else "policy"]}
    return descriptor


def fingerprint(finding: Finding) -> str:
    key = "\0".join((finding.rule, finding.path, finding.message))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _location(finding: Finding, prefix: str) -> dict[str, Any]:
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": prefix + finding.path},
        "region": {"startLine": finding.line, "startColumn": finding.column},
    }
    return {"physicalLocation": physical}


def _result(finding: Finding, rule_index: int, occurrence: int, prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        # SARIF requires non-empty message text; an empty message would make the whole log invalid.
        "message": _text(finding.message or finding.rule),
        "locations": [_location(finding, prefix)],
        "partialFingerprints": {FINGERPRINT_KEY: f"{fingerprint(finding)}:{occurrence}"},
    }
    if finding.waived is not None:
        # Waivers live in the settings file or in a manifest annotation, not in a source comment the
        # way "inSource" means; "external" is the closer of the two kinds.
        suppression: dict[str, str] = {"kind": "external", "status": "accepted"}
        if finding.waived:
            suppression["justification"] = finding.waived
        result["suppressions"] = [suppression]
    return result


def build(report: Report, context: ReportContext) -> dict[str, Any]:
    """The SARIF log as plain data (tests inspect it without re-parsing)."""
    rules: list[dict[str, Any]] = [rule_descriptor(rule) for rule in context.rules.values()]
    index = {rule_id: i for i, rule_id in enumerate(context.rules)}
    findings = report.sorted()
    # A finding whose rule is missing from the catalogue still needs a descriptor for `ruleIndex`.
    for f in findings:
        if f.rule not in index:
            index[f.rule] = len(rules)
            rules.append({"id": f.rule, "defaultConfiguration": {"level": LEVELS[f.severity]}})

    prefix = checkout_prefix(context)
    seen: Counter[str] = Counter()
    results = []
    for f in findings:
        key = fingerprint(f)
        seen[key] += 1
        results.append(_result(f, index[f.rule], seen[key], prefix))

    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "version": context.tool_version,
        "semanticVersion": context.tool_version,
        "informationUri": INFORMATION_URI,
    }
    if rules:
        driver["rules"] = rules
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        # Our columns count characters, not UTF-16 code units.
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if context.revision:
        run["properties"] = {"revision": context.revision}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report, context: ReportContext) -> str:
    return json.dumps(build(report, context), indent=2, ensure_ascii=False) + "\n"
