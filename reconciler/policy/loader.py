"""Load and compile policy files: the built-in set plus a repository's own folders.

A policy that does not parse or compile is a `PolicyError` naming its file and line (exit 2): a
broken policy must stop the run, not silently pass everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.documents import Document, FieldPath, format_field_path, parse, parse_field_path
from reconciler.findings import Severity
from reconciler.policy import cel_runtime as cel
from reconciler.policy.model import Policy, Validation
from reconciler.rules import RuleInfo
from reconciler.source import Source, SourceProblem

_VARIABLE_REF = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)\b")
_REPO_KIND = re.compile(r"\brepo\.([A-Za-z]+)\b")
_REPO_ANY = re.compile(r"\brepo\b(?!\.[A-Za-z])")
# `object.a.b` / `config.a.b` chains of the variables the engine binds, and any other use of one
# (passed whole, compared, indexed with []); a null test of one (`config == null`) reads nothing inside
# it: a projection is null exactly when the value is. `repo` is not among them: its kinds are what it
# reads (repo_kinds).
_BOUND_OBJECTS = ("object", "oldObject", "request", "config", "server", "token")
_OBJECT_NAMED = {name: re.compile(rf"(?<![\w.]){name}\b") for name in _BOUND_OBJECTS}
_OBJECT_PATH = {
    name: re.compile(rf"(?<![\w.]){name}((?:\.[A-Za-z_][A-Za-z0-9_]*)+)") for name in _BOUND_OBJECTS
}
_OBJECT_ANY = {name: re.compile(rf"(?<![\w.]){name}\b(?!\.[A-Za-z_])") for name in _BOUND_OBJECTS}
_BOUND = "|".join(_BOUND_OBJECTS)
_NULL_TEST = re.compile(rf"(?<![\w.])(?:{_BOUND})\s*[!=]=\s*null\b|\bnull\s*[!=]=\s*(?:{_BOUND})\b(?!\.)")
_STRING_LITERAL = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")


class PolicyError(Exception):
    """A policy file is invalid; the message names the file and line."""


def builtin_policy_dir() -> Path:
    """Policies ship inside the wheel as `reconciler/_builtin_policies`; a source checkout reads the
    repository's `policies/` folder directly."""
    packaged = Path(__file__).resolve().parent.parent / "_builtin_policies"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent.parent / "policies"


@dataclass
class CompiledValidation:
    spec: Validation
    program: Any
    severity: Severity
    message_program: Any = None
    field_path: FieldPath = ()
    field_path_program: Any = None
    for_each_program: Any = None


@dataclass
class CompiledPolicy:
    policy: Policy
    path: str
    validations: list[CompiledValidation]
    # Kinds the policy reads through `repo.<Kind>`; None means the whole `repo`.
    repo_kinds: frozenset[str] | None = frozenset()
    # The `object.a.b` / `config.a.b` paths the policy reads, by bound variable: None when it uses
    # that variable whole; a variable it never names is absent (the engine need not bind it at all).
    reads: dict[str, frozenset[tuple[str, ...]] | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.policy.id

    def rule(self) -> RuleInfo:
        p = self.policy
        return RuleInfo(p.id, Severity(p.severity), p.description, p.help or p.description, self.path)


@dataclass
class PolicySet:
    policies: list[CompiledPolicy] = field(default_factory=list)

    def rules(self) -> dict[str, RuleInfo]:
        return {p.id: p.rule() for p in self.policies}

    def for_kind(self, kind: str) -> list[CompiledPolicy]:
        return [p for p in self.policies if kind in p.policy.match.kinds]


@dataclass(frozen=True)
class _Place:
    """`file:line` of a field of a policy file, spelled out only when an error message needs it:
    locating a field parses the file again for positions, which a run without errors never needs."""

    doc: Document
    field_path: tuple[str | int, ...]

    def __str__(self) -> str:
        line, _ = self.doc.locate(self.field_path)
        return f"{self.doc.path}:{line}"


def _inline_variables(expression: str, variables: dict[str, str], where: _Place) -> str:
    """Replace `variables.x` with `(expression of x)`, outside string literals. Inlining (rather than
    binding a `variables` map per object) keeps one CEL context per object: rebinding costs a full
    conversion of the object."""
    out, last = [], 0
    for literal in _STRING_LITERAL.finditer(expression):
        out.append(_substitute(expression[last : literal.start()], variables, where))
        out.append(literal.group(0))
        last = literal.end()
    out.append(_substitute(expression[last:], variables, where))
    return "".join(out)


def _substitute(code: str, variables: dict[str, str], where: _Place) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise PolicyError(f"{where}: unknown variable 'variables.{name}'")
        return f"({variables[name]})"

    return _VARIABLE_REF.sub(replace, code)


def _compile(expression: str, where: _Place) -> Any:
    try:
        return cel.compile(expression)
    except ValueError as exc:
        raise PolicyError(f"{where}: CEL does not compile: {str(exc).strip()}") from exc


def compile_policy(doc: Document) -> CompiledPolicy:
    def at(field_path: tuple[str | int, ...]) -> _Place:
        return _Place(doc, field_path)

    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        raise PolicyError(f"{at(loc)}: {format_field_path(loc) or 'policy'}: {error['msg']}") from exc
    variables: dict[str, str] = {}
    for i, variable in enumerate(policy.variables):
        # earlier variables may be used by later ones
        variables[variable.name] = _inline_variables(
            variable.expression, variables, at(("variables", i, "expression"))
        )
        _compile(variables[variable.name], at(("variables", i, "expression")))
    compiled: list[CompiledValidation] = []
    sources: list[str] = list(variables.values())
    for i, v in enumerate(policy.validations):

        def build(key: str, text: str | None, i: int = i) -> Any:
            if text is None:
                return None
            where = at(("validations", i, key))
            inlined = _inline_variables(text, variables, where)
            sources.append(inlined)
            return _compile(inlined, where)

        compiled.append(
            CompiledValidation(
                spec=v,
                program=build("expression", v.expression),
                severity=Severity(v.severity or policy.severity),
                message_program=build("messageExpression", v.messageExpression),
                field_path=parse_field_path(v.fieldPath) if v.fieldPath else (),
                field_path_program=build("fieldPathExpression", v.fieldPathExpression),
                for_each_program=build("forEach", v.forEach),
            )
        )
    code = " ".join(_STRING_LITERAL.sub("''", s) for s in sources)
    repo_kinds = None if _REPO_ANY.search(code) else frozenset(_REPO_KIND.findall(code))
    return CompiledPolicy(policy, doc.path, compiled, repo_kinds, _reads(code))


def _reads(code: str) -> dict[str, frozenset[tuple[str, ...]] | None]:
    reads: dict[str, frozenset[tuple[str, ...]] | None] = {}
    without_null_tests = _NULL_TEST.sub("true", code)
    for name in _BOUND_OBJECTS:
        if not _OBJECT_NAMED[name].search(code):
            continue
        reads[name] = None if _OBJECT_ANY[name].search(without_null_tests) else _paths(code, name)
    return reads


def _paths(code: str, name: str) -> frozenset[tuple[str, ...]] | None:
    """The field paths `code` reads in `name`; None when a method or macro takes the variable itself
    (`config.exists(k, ...)`): it reads every field."""
    paths = set()
    for match in _OBJECT_PATH[name].finditer(code):
        path = match.group(1).lstrip(".").split(".")
        if code[match.end() :].lstrip().startswith("("):
            path = path[:-1]  # `object.x.endsWith(...)`: a method call on x, not a field of it
        if not path:
            return None
        paths.add(tuple(path))
    return frozenset(paths)


def _policy_documents(path: str, raw: bytes) -> list[Document]:
    result = parse(path, raw)
    if result.findings:
        f = result.findings[0]
        raise PolicyError(f"{f.path}:{f.line}: {f.message}")
    return result.documents


def load_policies(source: Source | None = None, folders: list[str] | None = None) -> PolicySet:
    """The built-in policies, plus those in `folders` of the repository `source`."""
    documents: list[Document] = []
    builtin = builtin_policy_dir()
    for file in sorted(builtin.glob("*.yaml")):
        documents += _policy_documents(f"{builtin.name}/{file.name}", file.read_bytes())
    for folder in folders or []:
        if source is None or not source.exists(folder):
            raise PolicyError(f"policy folder '{folder}' not found in the repository")
        for path in sorted(source.walk(folder)):
            try:
                raw = source.read(path, 1024 * 1024)
            except SourceProblem as problem:
                raise PolicyError(f"{path}: {problem.message}") from problem
            documents += _policy_documents(path, raw)
    policies = PolicySet()
    seen: dict[str, str] = {}
    for doc in documents:
        policy = compile_policy(doc)
        if policy.id in seen:
            raise PolicyError(
                f"{doc.path}:{doc.locate(('id',))[0]}: policy id '{policy.id}' is already "
                f"defined in {seen[policy.id]}"
            )
        seen[policy.id] = doc.path
        policies.policies.append(policy)
    return policies
