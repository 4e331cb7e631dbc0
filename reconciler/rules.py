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
        _rule(
            "yaml-limit",
            E,
            "A YAML or JSON file exceeds a loading limit.",
            "Aliases (uses and expanded size), nesting depth and integer size are bounded, and an "
            "alias may not contain itself; see docs/loading.md.",
        ),
        _rule("encoding", E, "A file or file name is not valid UTF-8.", "Save the file as UTF-8; rename it."),
        _rule(
            "file-unreadable",
            E,
            "A file or folder cannot be read.",
            "Its content is unknown, so nothing is applied from it; fix its permissions or type.",
        ),
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
        _rule(
            "crd-schema",
            E,
            "A manifest does not match its CRD's schema.",
            "Checked as the API server checks it (types, enums, ranges, patterns, required fields), after "
            "defaulting; unknown fields are errors, where the server would drop them silently.",
        ),
        _rule(
            "crd-rule",
            E,
            "A manifest breaks one of its CRD's CEL rules (x-kubernetes-validations).",
            "The message is the CRD's own; the API server refuses the object for the same reason.",
        ),
        _rule(
            "crd-rule-unsupported",
            W,
            "A CRD rule uses a CEL function mcp-gitops does not implement.",
            "The rule was not evaluated; the API server will evaluate it. See docs/crds.md.",
        ),
        _rule(
            "crd-schema-unavailable",
            W,
            "ToolHive manifests were not checked against CRDs: no CRD source.",
            "Pass --crds PATH|URL, set crds: in mcp-gitops.yaml, or use --crds-from-cluster (docs/crds.md).",
        ),
        _rule(
            "deprecated-api-version",
            W,
            "A manifest uses an API version its CRD marks deprecated.",
            "Move to the storage version (v1beta1 for ToolHive v0.44.0); the message is the CRD's warning.",
        ),
        _rule(
            "unknown-kind",
            E,
            "A toolhive.stacklok.dev manifest names a kind no CRD defines.",
            "Check the spelling (the close match is suggested) or the CRD version.",
        ),
        _rule(
            "ref-unknown",
            E,
            "A reference the operator resolves (groupRef, oidcConfigRef, ...) names no object.",
            "An error when the repository manages that kind in the namespace; a warning when the object may "
            "be managed elsewhere (waive it then).",
        ),
        _rule(
            "kind-not-applied",
            INFO,
            "A manifest's kind is validated but not sent by apply --target cluster.",
            "apply sends the ToolHive kinds and Namespace; manage other kinds with other tooling.",
        ),
        _rule(
            "service-name",
            E,
            "An object name gives a Service name that is not a DNS-1035 label of at most 63 characters.",
            "The operator derives mcp-<name>-proxy, mcp-<name>-headless and vmcp-<name>; shorten the name "
            "and avoid dots.",
        ),
    )
}


def catalogue(policy_rules: dict[str, RuleInfo] | None = None) -> dict[str, RuleInfo]:
    """Every known rule: structural rules first, then policies (sorted by ID)."""
    rules = dict(STRUCTURAL_RULES)
    for rule_id in sorted(policy_rules or {}):
        rules[rule_id] = (policy_rules or {})[rule_id]
    return rules
