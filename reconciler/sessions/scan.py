"""Reading the keys under a prefix without changing them.

Keys are found with SCAN (KEYS blocks the server for the whole keyspace) and read with pipelined GET and
PTTL. Never GETEX, which ToolHive itself uses to read: it would restart each session's sliding TTL and
keep dead sessions alive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.sessions.connection import describe_error

SCAN_COUNT = 1000
_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")


def match_pattern(prefix: bytes) -> bytes:
    """SCAN MATCH pattern for the keys starting with `prefix` (glob characters escaped)."""
    return _GLOB_SPECIAL.sub(rb"\\\1", prefix) + b"*"


@dataclass(frozen=True)
class Batch:
    """Keys of one SCAN step, with their values (None: gone; an Exception: not a string) and PTTLs."""

    keys: list[bytes]
    values: list[Any]
    pttls: list[Any]


def read_prefix(
    client: Any,
    prefix: bytes,
    *,
    exclude: tuple[bytes, ...] = (),
    count: int = SCAN_COUNT,
    max_keys: int | None = None,
) -> Iterator[Batch]:
    """Batches of the keys under `prefix`, each key once, skipping keys under any of the longer prefixes
    in `exclude` (measured on their own). Stops after `max_keys`. Raises RedisProblem."""
    pattern = match_pattern(prefix)
    seen: set[bytes] = set()  # SCAN may return a key twice while the keyspace is being rehashed
    cursor = 0
    taken = 0
    while True:
        try:
            cursor, found = client.scan(cursor, match=pattern, count=count)
        except Exception as exc:
            raise describe_error(exc) from None
        keys = [k for k in found if k not in seen and not (exclude and k.startswith(exclude))]
        if max_keys is not None:
            keys = keys[: max(0, max_keys - taken)]
        if keys:
            seen.update(keys)
            taken += len(keys)
            yield _read(client, keys)
        if cursor == 0 or (max_keys is not None and taken >= max_keys):
            return


def _pack(keys: list[bytes]) -> bytes:
    """GET and PTTL of every key, as one RESP buffer (redis-py's per-command packing costs more than
    everything else the measurement does)."""
    parts: list[bytes] = []
    for key in keys:
        head = b"$%d\r\n" % len(key)
        parts += (b"*2\r\n$3\r\nGET\r\n", head, key, b"\r\n*2\r\n$4\r\nPTTL\r\n", head, key, b"\r\n")
    return b"".join(parts)


def _read(client: Any, keys: list[bytes]) -> Batch:
    """One round trip: all GETs and PTTLs written at once, then the replies read in order. An error reply
    (WRONGTYPE for a key that is not a string) is kept in place of its value."""
    from redis.exceptions import ResponseError

    pool = client.connection_pool
    connection = pool.get_connection()
    replies: list[Any] = []
    try:
        connection.send_packed_command([_pack(keys)], check_health=False)
        for _ in range(2 * len(keys)):
            try:
                replies.append(connection.read_response(disable_decoding=True))
            except ResponseError as exc:  # the reply was consumed; the next one follows
                replies.append(exc)
    except Exception as exc:
        connection.disconnect()  # replies may be left unread: never reuse this connection
        raise describe_error(exc) from None
    finally:
        pool.release(connection)
    return Batch(keys, replies[0::2], replies[1::2])
