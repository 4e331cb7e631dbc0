"""How the registry server turns one server.json into rows, where that decides acceptance: the keys of
its package, remote and icon tables (a repeated key fails the publish) and the size limit on publisher
metadata. Shared by the policies (pull-request time) and the registry writer (apply time)."""

from __future__ import annotations

import json
import marshal
from collections.abc import Mapping
from typing import Any

PUBLISHER_PROVIDED = "io.modelcontextprotocol.registry/publisher-provided"
# database.maxMetaSize when the config does not set it
DEFAULT_MAX_META_SIZE = 262144


def _text(value: Any) -> str:
    return str(value) if value is not None else ""


def package_row_key(package: Mapping[str, Any]) -> tuple[str, str, str]:
    """Primary key of mcp_server_package (with the server): registry type, identifier, transport."""
    transport = package.get("transport")
    kind = transport.get("type") if isinstance(transport, Mapping) else None
    return (_text(package.get("registryType")), _text(package.get("identifier")), _text(kind))


def remote_row_key(remote: Mapping[str, Any]) -> tuple[str, str]:
    return (_text(remote.get("type")), _text(remote.get("url")))


def icon_row_key(icon: Mapping[str, Any]) -> tuple[str, str, str]:
    """Primary key of mcp_server_icon after the server's defaults: a missing or unknown theme is LIGHT,
    a missing mimeType is empty."""
    theme = "DARK" if _text(icon.get("theme")).lower() == "dark" else "LIGHT"
    return (_text(icon.get("src")), _text(icon.get("mimeType")), theme)


def publisher_meta(server: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = server.get("_meta")
    publisher = meta.get(PUBLISHER_PROVIDED) if isinstance(meta, Mapping) else None
    return dict(publisher) if isinstance(publisher, Mapping) and publisher else None


def publisher_meta_fits(server: Mapping[str, Any], limit: int) -> bool:
    """Whether the publisher-provided metadata is at most `limit` bytes as the server encodes it,
    without encoding it when a bound settles that: no value a document can hold (a plain tree) is
    longer in Go's JSON than six times its marshal format 2 (no back-references: a repeated string
    counts each time), even a string of characters Go writes as six-byte escapes."""
    meta = publisher_meta(server)
    if meta is None:
        return True
    if 6 * len(marshal.dumps(meta, 2)) <= limit:
        return True
    return publisher_meta_size(server) <= limit


def publisher_meta_size(server: Mapping[str, Any]) -> int:
    """Bytes of the publisher-provided metadata as JSON, the size the server compares with
    database.maxMetaSize (0 when there is none)."""
    meta = publisher_meta(server)
    return go_json_size(json.dumps(meta, separators=(",", ":"), ensure_ascii=False)) if meta else 0


# Characters Go's encoding/json writes as a six-byte \uXXXX escape inside strings (HTML safety, and
# JavaScript's line separators), where Python's compact encoding keeps them as they are.
_GO_ESCAPED = {"<": 5, ">": 5, "&": 5, "\u2028": 3, "\u2029": 3}


def go_json_size(encoded: str) -> int:
    """The length of Go's `json.Marshal` of a value, from its compact Python encoding (`separators=
    (",", ":")`, `ensure_ascii=False`): the registry server measures the publisher metadata that way
    (internal/validators/meta.go). Key order does not change the length; a number may (Go writes the
    float 1.0 as `1`), by a byte or two, which only makes this count the larger."""
    size = len(encoded.encode())
    for character, extra in _GO_ESCAPED.items():
        if character in encoded:
            size += extra * encoded.count(character)
    return size


def duplicate_rows(server: Mapping[str, Any]) -> list[dict[str, str]]:
    """Packages, remotes and icons that repeat an earlier one's row key: `{path, message}` each."""
    found: list[dict[str, str]] = []
    if all(len(server.get(f) or ()) < 2 for f in ("packages", "remotes", "icons")):
        return found  # nothing can repeat: the common case, answered without building keys
    for field, key_of, what in (
        ("packages", package_row_key, "package (registryType, identifier, transport)"),
        ("remotes", remote_row_key, "remote (type, url)"),
        ("icons", icon_row_key, "icon (src, mimeType, theme; theme defaults to light)"),
    ):
        items = server.get(field)
        seen: dict[tuple[str, ...], int] = {}
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, Mapping):
                continue
            key = key_of(item)
            if key in seen:
                found.append(
                    {
                        "path": f"server.{field}[{index}]",
                        "message": f"repeats the {what} of {field}[{seen[key]}]",
                    }
                )
            else:
                seen[key] = index
    return found


def meta_size_limit(config: Mapping[str, Any] | None) -> int:
    """database.maxMetaSize as the server reads it (a quoted number too), else its default."""
    database = (config or {}).get("database")
    value = database.get("maxMetaSize") if isinstance(database, Mapping) else None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_META_SIZE
