"""The catalogue of rule IDs: the structural rules built into the loader, plus every policy's rule.

Reporters (SARIF `tool.driver.rules`, `mcp-gitops policies`) read rule metadata from here, so every
finding's rule ID resolves to a description and a default level.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.findings import Severity


@dataclass(frozen=True)
class RuleInfo:
    id: str
    severity: Severity
    description: str
    help: str = ""
    source: str = "builtin"  # "builtin" for loader rules, else the policy file that defines it


def _rule(id: str, severity: Severity, description: str, help: str) -> RuleInfo:
    return RuleInfo(id=id, severity=severity, description=description, help=help)


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

# Rules raised by the loading stages (documents, models, settings), not by CEL policies.
STRUCTURAL_RULES: dict[str, RuleInfo] = {
    r.id: r
    for r in (
        _rule("yaml-syntax", E, "A YAML or JSON file does not parse.", "Fix the syntax at the given line."),
        _rule(
            "duplicate-key",
            E,
            "A mapping repeats a key.",
            "YAML and JSON parsers disagree on which "
            "value wins; remove the duplicate so the file means one thing.",
        ),
        _rule("encoding", E, "A file is not valid UTF-8.", "Save the file as UTF-8."),
        _rule(
            "file-too-large",
            E,
            "A file is larger than the size limit.",
            "Split the file, or raise `limits.maxFileBytes` in mcp-gitops.yaml.",
        ),
        _rule(
            "unsafe-path",
            E,
            "A symbolic link points outside the repository.",
            "Links that leave the repository are never followed; replace the link with the file itself.",
        ),
        _rule(
            "schema",
            E,
            "A document does not match its schema.",
            "The message names the field and "
            "the expected value; unknown fields are errors (did you misspell a key?).",
        ),
        _rule(
            "unknown-document",
            W,
            "A file in an entries or manifests folder is not a known kind.",
            "Entries are `{claims, server}` publish bodies; manifests need apiVersion and kind.",
        ),
        _rule(
            "legacy-format",
            E,
            "A registry file uses the legacy ToolHive format.",
            "ToolHive Registry Server v1.2.0 serves the upstream MCP format only. Convert it with "
            "`mcp-gitops convert LEGACY.json --out DIR`.",
        ),
        _rule("settings", E, "The mcp-gitops.yaml settings file is invalid.", "See README, Settings."),
        _rule(
            "policy-error",
            E,
            "A policy failed to evaluate on a document.",
            "The policy's expression raised an error for this document; fix the policy or the data.",
        ),
        _rule(
            "waiver-expired",
            E,
            "A waiver's expiry date has passed.",
            "Fix the finding, or renew the waiver with a new reason and date.",
        ),
        _rule(
            "waiver-invalid",
            E,
            "A waiver is malformed, names an unknown rule, or a target that matches nothing.",
            "A waiver needs a known rule, a target that exists and a reason.",
        ),
        _rule(
            "waiver-unused",
            E,
            "A waiver excuses no finding.",
            "The finding it was written for is gone: delete the waiver, so it cannot hide a new one.",
        ),
    )
}


def catalogue(policy_rules: dict[str, RuleInfo] | None = None) -> dict[str, RuleInfo]:
    """Every known rule: structural rules first, then policies (sorted by ID)."""
    rules = dict(STRUCTURAL_RULES)
    for rule_id in sorted(policy_rules or {}):
        rules[rule_id] = (policy_rules or {})[rule_id]
    return rules
