"""The Kubernetes CEL library functions mcp-gitops adds to the engine for CRD rules, called as CRD rules
call them (receiver-style), and the detection of functions it does not implement."""

from __future__ import annotations

import pytest

from reconciler.crds.k8s_cel import LIBRARY, unsupported_functions
from reconciler.policy import cel_runtime as cel


@pytest.mark.parametrize(
    "expression",
    [
        "'ABC-é'.lowerAscii() == 'abc-é'",
        "'abc'.upperAscii() == 'ABC'",
        "' x '.trim() == 'x'",
        "'aXa'.replace('a', 'b') == 'bXb'",
        "'aXa'.replace('a', 'b', 1) == 'bXa'",
        "'a,b,c'.split(',') == ['a', 'b', 'c']",
        "'a,b,c'.split(',', 2) == ['a', 'b,c']",
        "['a', 'b'].join('-') == 'a-b'",
        "'abca'.indexOf('a', 1) == 3 && 'abca'.lastIndexOf('a') == 3",
        "[1, 2, 3].isSorted() && ![2, 1].isSorted()",
        "[1, 2].sum() == 3",
        "'a1b22'.find('[0-9]+') == '1' && 'a1b22'.findAll('[0-9]+') == ['1', '22']",
    ],
)
def test_library_function(expression: str) -> None:
    assert cel.compile(expression).execute(cel.Context(functions=LIBRARY)) is True


def test_unsupported_functions_are_named_and_string_literals_are_not_calls() -> None:
    rule = (
        "self.url(x).getHost() == 'a(b)' && quantity(self.q).isLessThan(quantity('1'))"
        " && self.matches('^(a)$')"
    )
    assert unsupported_functions(rule) == ["getHost", "isLessThan", "quantity", "url"]
