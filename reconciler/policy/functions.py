"""The functions policies call, implemented once in Python and registered in every CEL context."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.documents import format_field_path
from reconciler.policy.claims import claims_equal, claims_value_errors, covers, is_super_admin

# Environment variables whose literal value is a credential.
_SECRET_ENV_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)", re.IGNORECASE)
_URL_WITH_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]*@")


def _walk(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _walk(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))


def _url_has_password(text: str) -> bool:
    if not _URL_WITH_USERINFO.match(text):
        return False
    try:
        return bool(urlsplit(text).password)
    except ValueError:
        return True


def secrets_in(document: Any) -> list[dict[str, str]]:
    """Places in a document that hold a credential in clear: `{path, what}` per place, never the
    value. Connection URLs with a password anywhere, and literal values of secret-looking
    environment variables (`{name: ..._PASSWORD, value: ...}`)."""
    found: list[dict[str, str]] = []
    for path, value in _walk(document):
        if isinstance(value, str) and _url_has_password(value):
            found.append({"path": format_field_path(path), "what": "a connection URL with a password"})
        elif (
            isinstance(value, Mapping)
            and isinstance(value.get("name"), str)
            and isinstance(value.get("value"), str)
            and value["value"]
            and _SECRET_ENV_NAME.search(value["name"])
        ):
            found.append(
                {
                    "path": format_field_path((*path, "value")),
                    "what": f"an inline value for the secret variable {value['name']}",
                }
            )
    return found


def build_functions(
    config: Mapping[str, Any] | None,
    entries_by_name: Mapping[str, list[dict[str, Any]]],
    default_namespace: str,
) -> dict[str, Callable[..., Any]]:
    def namespace_of(obj: Any) -> str:
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
        return namespace if isinstance(namespace, str) and namespace else default_namespace

    def entries_named(name: Any) -> list[dict[str, Any]]:
        return entries_by_name.get(name, []) if isinstance(name, str) else []

    return {
        "covers": covers,
        "claimsEqual": claims_equal,
        "isSuperAdmin": lambda token: is_super_admin(token, config),
        "claimValueErrors": claims_value_errors,
        "entriesNamed": entries_named,
        "secretsIn": secrets_in,
        "namespaceOf": namespace_of,
        "join": lambda items, sep="": sep.join(str(i) for i in items),
    }
