"""`x-kubernetes-validations` rules: compiled once per run, evaluated at their place in the schema with
`self` (and `oldSelf` for transition rules, when the old object is known), the way the API server does.

A rule that calls a function the engine lacks is `unsupported` (a warning, never a silent pass); one that
fails to evaluate is an error, as on the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

from reconciler.crds.k8s_cel import LIBRARY, unsupported_functions
from reconciler.documents import parse_field_path
from reconciler.policy import cel_runtime as cel

FieldPath = tuple[str | int, ...]


class Verdict(Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"  # a transition rule without an old object (as on create)


@dataclass(frozen=True)
class Rule:
    text: str
    message: str | None
    field_path: FieldPath
    reason: str | None
    transition: bool  # uses oldSelf
    optional_old_self: bool
    program: Any = field(default=None, compare=False, repr=False)
    message_program: Any = field(default=None, compare=False, repr=False)  # messageExpression
    problem: str | None = None  # why it cannot be evaluated (unsupported function, syntax)


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    message: str = ""


@cache
def _compile(text: str) -> tuple[Any, str | None]:
    missing = unsupported_functions(text)
    if missing:
        return None, f"uses {', '.join(missing)}, which mcp-gitops does not implement"
    try:
        return cel.compile(text), None
    except ValueError as exc:
        return None, f"does not compile: {str(exc).splitlines()[0]}"


def compile_rule(spec: Mapping[str, Any]) -> Rule:
    text = str(spec.get("rule", ""))
    program, problem = _compile(text)
    message_expression = spec.get("messageExpression")
    message_program = _compile(str(message_expression))[0] if message_expression else None
    raw_path = str(spec.get("fieldPath") or "")
    return Rule(
        text=text,
        message=spec.get("message"),
        field_path=parse_field_path(raw_path.lstrip(".")) if raw_path else (),
        reason=spec.get("reason"),
        transition="oldSelf" in text,
        optional_old_self=bool(spec.get("optionalOldSelf")),
        program=program,
        message_program=message_program,
        problem=problem,
    )


# The old object is unknown (no --base, or the object is new): transition rules are skipped.
NO_OLD: Any = object()


def evaluate(rules: Sequence[Rule], value: Any, old: Any = NO_OLD) -> list[Outcome]:
    """The outcome of each rule of one schema node. The rules share one context per kind of `oldSelf`
    binding, because binding `self` (converting the value to CEL) is where the time goes."""
    contexts: dict[bool | None, Any] = {}

    def context_for(rule: Rule) -> Any:
        # None: no oldSelf; True: oldSelf as an optional; False: oldSelf as the value.
        key = rule.optional_old_self if rule.transition else None
        if key not in contexts:
            variables: dict[str, Any] = {"self": value}
            if key is True:
                variables["oldSelf"] = (
                    cel.OptionalValue.none() if old is NO_OLD else cel.OptionalValue.of(old)
                )
            elif key is False:
                variables["oldSelf"] = old
            contexts[key] = cel.Context(variables=variables, functions=LIBRARY)
        return contexts[key]

    return [_evaluate_one(rule, old, context_for) for rule in rules]


def _evaluate_one(rule: Rule, old: Any, context_for: Callable[[Rule], Any]) -> Outcome:
    if rule.problem is not None:
        return Outcome(Verdict.UNSUPPORTED, rule.problem)
    if rule.transition and old is NO_OLD and not rule.optional_old_self:
        return Outcome(Verdict.SKIPPED)
    context = context_for(rule)
    try:
        result = rule.program.execute(context)
    except Exception as exc:  # KeyError, TypeError, RuntimeError...: each is an evaluation error
        return Outcome(Verdict.ERROR, f"rule `{rule.text}` failed to evaluate: {_reason(exc)}")
    if result is True:
        return Outcome(Verdict.PASSED)
    if result is not False:
        return Outcome(Verdict.ERROR, f"rule `{rule.text}` returned a non-boolean value")
    return Outcome(Verdict.FAILED, _message(rule, context))


def _message(rule: Rule, context: Any) -> str:
    if rule.message_program is not None:
        try:
            text = rule.message_program.execute(context)
        except Exception:  # the server falls back to `message` (or the rule) when messageExpression fails
            text = None
        if isinstance(text, str) and text.strip():
            return text
    return rule.message or f"failed rule: {rule.text}"


_FUNCTION_ERROR = re.compile(r"^Function '([^']+)' error")


def _reason(exc: Exception) -> str:
    """Why a rule failed to evaluate, without the value it failed on (it may be a misplaced secret):
    the engine's messages for a function error quote the argument, so those are cut to the name."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else ''}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    function_error = _FUNCTION_ERROR.match(text)
    if function_error:
        return f"function {function_error.group(1)}() refused its argument"
    return text.split(". ")[0]
