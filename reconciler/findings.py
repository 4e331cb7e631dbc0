"""Findings: what every stage reports, and the summary the CLI and the Action read.

The JSON shape produced by `Report.to_json` is a stable interface (the GitHub Action and other tools
parse it); add fields, never rename or remove them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

# What must never reach a terminal or a log raw: C0 controls (ESC starts terminal escape sequences,
# CR and LF forge lines such as `::error file=...`), DEL, C1 controls, Unicode line and paragraph
# separators, and the bidirectional overrides that make text read differently from what it is.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every character that could drive a terminal or forge a line shown as `\\xNN` or
    `\\uNNNN`; a backslash stays as it is."""
    return _UNPRINTABLE.sub(_escape_char, text)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class Finding:
    """One problem at one place. `line` and `column` are 1-based; a finding on a file as a whole is at
    line 1, column 1 (as every tool reading positions expects)."""

    rule: str
    severity: Severity
    path: str
    line: int
    column: int
    message: str
    # Set when a waiver covers this finding: the waiver's reason. Waived findings never fail a run.
    waived: str | None = None

    def __post_init__(self) -> None:
        # The one place every reporter's text passes through: paths, rule IDs (a repository's own
        # policies name them), messages that quote keys or values from the repository, waiver reasons.
        for name in ("rule", "path", "message", "waived"):
            value = getattr(self, name)
            if isinstance(value, str) and _UNPRINTABLE.search(value):
                object.__setattr__(self, name, printable(value))
        if self.line < 1 or self.column < 1:
            object.__setattr__(self, "line", max(self.line, 1))
            object.__setattr__(self, "column", max(self.column, 1))

    def waive(self, reason: str) -> Finding:
        return replace(self, waived=reason)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.rule, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }
        if self.waived is not None:
            out["waived"] = self.waived
        return out


@dataclass(frozen=True)
class SelectionUse:
    """One rule selection of the settings (reconciler/policy/selection.py), and how many findings
    it removed or changed in this run."""

    kind: str  # skip | severity | exclude
    what: str  # the rule (`rule -> severity`), or the path patterns
    reason: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "reason": self.reason, "count": self.count}

    def text(self) -> str:
        noun = "finding" if self.count == 1 else "findings"
        return f"{self.kind} {self.what} ({self.count} {noun})"


@dataclass
class Report:
    """The findings of one validation run, sorted by place."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    # Rules that could not be judged for want of an input (the publisher's token): said once, in the
    # summary, never as a finding.
    unjudged: tuple[str, ...] = ()
    # What the settings' rule selection did in this run (reconciler.policy.selection.SelectionUse)
    selection: tuple[SelectionUse, ...] = ()

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.waived is None]

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter(f.severity.value for f in self.active())
        counts["waived"] = sum(1 for f in self.findings if f.waived is not None)
        return counts

    @property
    def errors(self) -> int:
        return self.counts()["error"]

    @property
    def warnings(self) -> int:
        return self.counts()["warning"]

    def fails(self, fail_on: Severity = Severity.ERROR) -> bool:
        return any(f.severity.rank >= fail_on.rank for f in self.active())

    def to_json(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "findings": [f.to_json() for f in self.sorted()],
            "summary": {
                "files": self.files,
                "errors": counts["error"],
                "warnings": counts["warning"],
                "infos": counts["info"],
                "waived": counts["waived"],
                "notJudged": list(self.unjudged),
                "selection": [use.to_json() for use in self.selection],
            },
        }
