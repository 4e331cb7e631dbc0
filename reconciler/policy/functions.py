"""The functions policies call, implemented once in Python and registered in every CEL context."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.documents import Document, format_field_path
from reconciler.policy.claims import claims_equal, claims_value_errors, covers, is_super_admin
from reconciler.policy.entries import EntryIndex
from reconciler.policy.registry import registry_functions

# Environment variables whose literal value is a credential.
_SECRET_ENV_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)", re.IGNORECASE)
# What every name _SECRET_ENV_NAME matches holds, upper-cased.
_SECRET_ENV_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "API_KEY")
_URL_WITH_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]*@")
# The same, anywhere in a document's text (a prefilter: a match is checked value by value).
_URL_USERINFO_IN_TEXT = re.compile(r"://[^/@\s]*:[^/@\s]*@")


def _url_has_password(text: str) -> bool:
    if not _URL_WITH_USERINFO.match(text):
        return False
    try:
        return bool(urlsplit(text).password)
    except ValueError:
        return True


def _secret_env_value(node: dict[str, Any]) -> bool:
    name, value = node.get("name"), node.get("value")
    return type(name) is str and type(value) is str and bool(value) and bool(_SECRET_ENV_NAME.search(name))


def _secret_input_literal(node: dict[str, Any]) -> str | None:
    """The key of a literal `default` or `value` on a server.json input marked `isSecret: true`."""
    if node.get("isSecret") is not True:
        return None
    for key in ("default", "value"):
        literal = node.get(key)
        if type(literal) is str and literal:
            return key
    return None


def secrets_in(document: Any) -> list[dict[str, str]]:
    """Places in a document that hold a credential in clear: `{path, what}` per place, never the
    value. Connection URLs with a password anywhere, literal values of secret-looking environment
    variables (`{name: ..._PASSWORD, value: ...}`), and literal `default`/`value` of server.json inputs
    marked `isSecret: true`."""
    found = [
        {"path": format_field_path(path), "what": what} for path, what in _secret_places(document, paths=True)
    ]
    found.sort(key=lambda f: f["path"])
    return found


def secrets_of(document: Document) -> list[dict[str, str]]:
    text = document.text  # None once released: then the walk decides
    if text is not None and not _may_hold_secret(text):
        return []
    # A first walk without building paths: most documents that pass the text prefilter hold none.
    if next(_secret_places(document.data, paths=False), None) is None:
        return []
    return secrets_in(document.data)


def _secret_places(document: Any, paths: bool) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(field path, what) of each secret in `document`; every path is () unless `paths` is set. Each
    container is visited once: a structure that shares or loops back to a node (YAML aliases) cannot
    make the walk repeat itself or run for ever."""
    seen: set[int] = set()
    # Only containers, and strings that could be a URL with credentials, are worth visiting.
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, node = stack.pop()
        kind = type(node)
        if kind is str:
            if _url_has_password(node):
                yield path, "a connection URL with a password"
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if kind is dict:
            if _secret_env_value(node):
                yield (*path, "value"), f"an inline value for the secret variable {node['name']}"
            literal = _secret_input_literal(node)
            if literal is not None:
                name = node.get("name")
                label = f" {name}" if type(name) is str else ""
                yield (*path, literal), f"a literal {literal} for the secret input{label} (isSecret: true)"
            children: Any = node.items()
        else:
            children = enumerate(node)
        for key, child in children:
            child_kind = type(child)
            if child_kind is dict or child_kind is list or (child_kind is str and "@" in child):
                stack.append(((*path, key if kind is list else str(key)) if paths else path, child))


def _may_hold_secret(text: str) -> bool:
    """Whether a document's text could hold any secret `secrets_in` finds; a substring test is far
    cheaper than the walk, and most documents fail it. Every kind of secret spells its markers in the
    text: `scheme://user:password@` for a URL, a `value` key beside a secret-looking name, `isSecret`
    beside a `default` or `value` key. Escapes (JSON `\\u0040`, YAML `"\\x40"`) could hide a
    marker, so text with a backslash is always walked."""
    if "\\" in text:
        return True
    if "@" in text and _URL_USERINFO_IN_TEXT.search(text):
        return True
    has_value = "value" in text
    if "isSecret" in text and (has_value or "default" in text):
        return True
    if has_value:
        upper = text.upper()
        return any(word in upper for word in _SECRET_ENV_WORDS)
    return False


def build_functions(
    config: Mapping[str, Any] | None,
    entries: EntryIndex,
    default_namespace: str,
    current: Callable[[], Document],
    pruned: list[dict[str, Any]] | None = None,
) -> dict[str, Callable[..., Any]]:
    """`current` returns the document being evaluated: document-scoped functions such as `secrets()`
    read it directly, because passing `object` to a Python function converts the whole object back
    from CEL on every call."""

    def namespace_of(obj: Any) -> str:
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        return namespace if isinstance(namespace, str) and namespace else default_namespace

    return {
        "covers": covers,
        "claimsEqual": claims_equal,
        "isSuperAdmin": lambda token: is_super_admin(token, config),
        "claimValueErrors": claims_value_errors,
        **registry_functions(config, current, entries.count(), pruned or []),
        "entriesNamed": entries.entries_named,
        "entryFiles": entries.entry_files,
        "claimsConflicts": entries.claims_conflicts,
        "secrets": lambda: secrets_of(current()),
        "namespaceOf": namespace_of,
        "join": lambda items, sep="": sep.join(str(i) for i in items),
    }
