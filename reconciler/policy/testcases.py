"""Policy test cases (`mcp-gitops policies test`): small repositories and the findings expected of
them, so a team keeps its own CEL policies honest (as `conftest verify` does for Rego).

A test file (`*.yaml` in the test folder) holds `cases:`, each a name, the `documents` of a small
repository (path -> YAML text, or data), and the findings `expect`ed. Each case is validated like a
repository, with the repository's policies and, unless the case brings its own, its registry config.
Compared are the findings of the rules in `rules:` (default: the rules the case expects, and the
repository's own policies): every expected finding must be there (matched by rule and path, and line,
severity and a message fragment when given), and no other.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.documents import format_field_path, parse
from reconciler.findings import Finding
from reconciler.policy.loader import PolicySet
from reconciler.settings import SETTINGS_FILE, Settings
from reconciler.source import FolderSource

DocumentContent = str | dict[str, object] | list[object]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ExpectedFinding(_Model):
    rule: str
    path: str
    line: int | None = None
    severity: Literal["error", "warning", "info"] | None = None
    message: str | None = None  # a fragment of the message

    def matches(self, finding: Finding) -> bool:
        return (
            finding.rule == self.rule
            and finding.path == self.path
            and (self.line is None or finding.line == self.line)
            and (self.severity is None or finding.severity.value == self.severity)
            and (self.message is None or self.message in finding.message)
        )

    def text(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        extra = "".join(f" {v}" for v in (self.severity, repr(self.message) if self.message else None) if v)
        return f"{where} {self.rule}{extra}"


class Case(_Model):
    name: str = Field(min_length=1)
    documents: dict[str, DocumentContent] = Field(min_length=1)
    expect: list[ExpectedFinding] = []
    rules: list[str] | None = None


class CaseFile(_Model):
    cases: list[Case] = Field(min_length=1)


class CaseFileError(Exception):
    """A test file that cannot be read as test cases (exit 2), with its place."""


@dataclass
class CaseResult:
    file: str
    name: str
    missing: list[ExpectedFinding] = field(default_factory=list)
    unexpected: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected


def load_case_files(folder: Path) -> list[tuple[str, CaseFile]]:
    if not folder.is_dir():
        raise CaseFileError(f"{folder}: no such folder of policy tests")
    loaded = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json")):
        name = path.relative_to(folder).as_posix()
        result = parse(name, path.read_bytes())
        if result.findings:
            first = result.findings[0]
            raise CaseFileError(f"{folder / first.path}:{first.line}:{first.column}: {first.message}")
        for doc in result.documents:
            try:
                loaded.append((name, CaseFile.model_validate(doc.data)))
            except ValidationError as exc:
                problems = []
                for error in exc.errors():
                    location = tuple(error["loc"])
                    line, _ = doc.locate(location, key=error["type"] == "extra_forbidden")
                    problems.append(f"{folder / name}:{line}: {format_field_path(location)}: {error['msg']}")
                raise CaseFileError("; ".join(problems)) from None
    if not loaded:
        raise CaseFileError(f"{folder}: no test files (*.yaml, *.json)")
    return loaded


def run_case(
    file: str, case: Case, policies: PolicySet, own_rules: set[str], registry_config: Path | None
) -> CaseResult:
    from reconciler.pipeline import validate

    compared = set(case.rules) if case.rules is not None else own_rules | {e.rule for e in case.expect}
    with tempfile.TemporaryDirectory(prefix="mcp-gitops-case-") as folder:
        root = Path(folder)
        for relative, content in case.documents.items():
            target = root / relative
            if not target.resolve().is_relative_to(root.resolve()):
                raise CaseFileError(f"{file}: case {case.name!r}: document path {relative} leaves the case")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
        # the repository's registry config, unless the case brings its own (or its own settings)
        default_config = Settings().registryConfig
        if registry_config is not None and not {SETTINGS_FILE, default_config} & case.documents.keys():
            shutil.copyfile(registry_config, root / default_config)
        found = [
            f for f in validate(FolderSource(root), policies=policies).report.active() if f.rule in compared
        ]
    result = CaseResult(file, case.name)
    remaining = list(found)
    for expected in case.expect:
        match = next((f for f in remaining if expected.matches(f)), None)
        if match is None:
            result.missing.append(expected)
        else:
            remaining.remove(match)
    result.unexpected = remaining
    return result
