"""The functions policies call, implemented once in Python and registered in every CEL context."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.documents import Document, format_field_path
from reconciler.policy.claims import claims_equal, claims_value_errors, covers, is_super_admin
from reconciler.policy.entries import EntryIndex

# Environment variables whose literal value is a credential.
_SECRET_ENV_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)", re.IGNORECASE)
_URL_WITH_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]*@")


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


def secrets_in(document: Any) -> list[dict[str, str]]:
    """Places in a document that hold a credential in clear: `{path, what}` per place, never the
    value. Connection URLs with a password anywhere, and literal values of secret-looking
    environment variables (`{name: ..._PASSWORD, value: ...}`)."""
    found: list[dict[str, str]] = []
    # Only containers, and strings that could be a URL with credentials, are worth visiting.
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, node = stack.pop()
        kind = type(node)
        if kind is str:
            if _url_has_password(node):
                found.append({"path": format_field_path(path), "what": "a connection URL with a password"})
            continue
        if kind is dict:
            if _secret_env_value(node):
                found.append(
                    {
                        "path": format_field_path((*path, "value")),
                        "what": f"an inline value for the secret variable {node['name']}",
                    }
                )
            children: Any = node.items()
        else:
            children = enumerate(node)
        for key, child in children:
            child_kind = type(child)
            if child_kind is dict or child_kind is list or (child_kind is str and "@" in child):
                stack.append(((*path, key if kind is list else str(key)), child))
    found.sort(key=lambda f: f["path"])
    return found


def secrets_of(document: Document) -> list[dict[str, str]]:
    # Both kinds of secret need a literal marker in the text: `@` in a URL with credentials, or a
    # `value` key; most documents have neither, and a substring test is far cheaper than the walk.
    text = document.text
    if text and "@" not in text and "value" not in text:
        return []
    return secrets_in(document.data)


def build_functions(
    config: Mapping[str, Any] | None,
    entries: EntryIndex,
    default_namespace: str,
    current: Callable[[], Document],
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
        "entriesNamed": entries.entries_named,
        "entryFiles": entries.entry_files,
        "claimsConflicts": entries.claims_conflicts,
        "secrets": lambda: secrets_of(current()),
        "namespaceOf": namespace_of,
        "join": lambda items, sep="": sep.join(str(i) for i in items),
    }
