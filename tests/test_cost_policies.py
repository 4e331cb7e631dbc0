"""Issue 17: the cheaper policy paths answer exactly as the full ones."""

from __future__ import annotations

import json

import pytest

from reconciler.documents import parse
from reconciler.policy.functions import secrets_in, secrets_of
from reconciler.policy.loader import PolicyError, compile_policy

SECRET_TEXTS = {
    "url.yaml": "server:\n  remotes:\n    - url: 'postgres://app:s3cret@db:5432/x'\n",
    "url-escaped.json": json.dumps({"server": {"url": "https://u:p\\u0040host"}}).replace("\\\\", "\\"),
    "env.yaml": "env:\n  - name: GITHUB_TOKEN\n    value: ghp_x\n",
    "env-lower.yaml": "env:\n  - name: db_password\n    value: x\n",
    "apikey.yaml": "env:\n  - name: OPENAI_APIKEY\n    value: x\n",
    "input-default.yaml": "inputs:\n  - name: key\n    isSecret: true\n    default: abc\n",
    "input-value.json": json.dumps({"inputs": [{"name": "k", "isSecret": True, "value": "v"}]}),
    "escaped-key.json": '{"env": [{"name": "API_KEY", "\\u0076alue": "x"}]}',
    "clean.yaml": "server:\n  identifier: '@acme/pkg'\n  env:\n    - name: LOG_LEVEL\n      value: info\n",
    # passes the text prefilter (isSecret, a `value` word, TOKEN), holds no secret
    "clean-input.yaml": "inputs:\n  - name: API_TOKEN\n    isSecret: true\n    description: the value\n",
}
CLEAN = {"clean.yaml", "clean-input.yaml"}


@pytest.mark.parametrize("name", sorted(SECRET_TEXTS))
def test_the_text_prefilter_never_hides_what_the_walk_finds(name: str) -> None:
    (doc,) = parse(name, SECRET_TEXTS[name].encode()).documents
    assert secrets_of(doc) == secrets_in(doc.data)
    assert bool(secrets_in(doc.data)) == (name not in CLEAN)


def test_policy_positions_are_worked_out_only_for_an_error() -> None:
    text = (
        b"id: p\nseverity: error\ndescription: d\nmatch: {kinds: [MCPServer]}\nvalidations:\n"
        b"  - message: m\n    expression: 'object.x +'\n"
    )
    (doc,) = parse("policies/p.yaml", text).documents
    with pytest.raises(PolicyError, match=r"^policies/p.yaml:7: CEL does not compile"):
        compile_policy(doc)
    (good,) = parse("policies/g.yaml", text.replace(b"object.x +", b"true")).documents
    compile_policy(good)
    assert good.positions is None or good.positions._trees is None  # no position-keeping parse
