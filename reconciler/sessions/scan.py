"""Reading the keys under a prefix without changing them.

Keys are found with SCAN (KEYS blocks the server for the whole keyspace) and read with pipelined
STRLEN and PTTL, then GETRANGE (up to the bound) for the values no larger than the bound: a value above
it is reported by its size and never fetched, so a few huge values cannot exhaust memory. Never GETEX,
which ToolHive itself uses to read: it would restart each session's sliding TTL and keep dead sessions alive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.sessions.connection import describe_error

SCAN_COUNT = 1000
# A ToolHive session is a few KB; a value past this is not fetched.
MAX_VALUE_BYTES = 256 * 1024
# Values fetched in one round trip add up to at most this (one value may exceed it alone), so a batch
# of large-but-allowed values cannot hold SCAN_COUNT * MAX_VALUE_BYTES in memory at once.
MAX_BATCH_BYTES = 8 * 1024 * 1024
_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")


def match_pattern(prefix: bytes) -> bytes:
    """SCAN MATCH pattern for the keys starting with `prefix` (glob characters escaped)."""
    return _GLOB_SPECIAL.sub(rb"\\\1", prefix) + b"*"


@dataclass(frozen=True)
class Oversized:
    """A value larger than the bound, not fetched."""

    size: int


@dataclass(frozen=True)
class Batch:
    """Keys of one SCAN step, with their values (None: gone; an Exception: not a string; Oversized:
    too large to fetch) and PTTLs."""

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
    max_value_bytes: int = MAX_VALUE_BYTES,
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
            yield from _read(client, keys, max_value_bytes)
        if cursor == 0 or (max_keys is not None and taken >= max_keys):
            return


def _bulk(item: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(item), item)


def _pack(keys: list[bytes], *commands: tuple[bytes, ...]) -> bytes:
    """Every command of `commands` for every key, as one RESP buffer (redis-py's per-command packing
    costs more than everything else the measurement does). A command is its words before the key, then
    its words after it: `(b"GETRANGE", b"0", b"9")` sends GETRANGE key 0 9."""
    parts: list[bytes] = []
    for key in keys:
        for name, *after in commands:
            parts += (b"*%d\r\n" % (2 + len(after)), _bulk(name), _bulk(key), *map(_bulk, after))
    return b"".join(parts)


def _round_trip(client: Any, packed: bytes, replies: int) -> list[Any]:
    """Send `packed`, read `replies` replies in order. An error reply (WRONGTYPE for a key that is not a
    string) is kept in place of its value."""
    from redis.exceptions import ResponseError

    pool = client.connection_pool
    connection = pool.get_connection()
    found: list[Any] = []
    try:
        connection.send_packed_command([packed], check_health=False)
        for _ in range(replies):
            try:
                found.append(connection.read_response(disable_decoding=True))
            except ResponseError as exc:  # the reply was consumed; the next one follows
                found.append(exc)
    except Exception as exc:
        connection.disconnect()  # replies may be left unread: never reuse this connection
        raise describe_error(exc) from None
    finally:
        pool.release(connection)
    return found


def _read(client: Any, keys: list[bytes], max_value_bytes: int) -> Iterator[Batch]:
    """STRLEN and PTTL of every key in one round trip; then GETRANGE of the values small enough to fetch, in
    groups of at most MAX_BATCH_BYTES, each yielded (and so classified and dropped) before the next is
    read. The keys not fetched (gone, not a string, too large) come first, in a batch of their own."""
    sized = _round_trip(client, _pack(keys, (b"STRLEN",), (b"PTTL",)), 2 * len(keys))
    lengths, pttls = sized[0::2], sized[1::2]
    unread = Batch([], [], [])
    groups: list[list[int]] = [[]]
    group_bytes = 0
    for index, (length, pttl) in enumerate(zip(lengths, pttls, strict=True)):
        if isinstance(length, Exception) or pttl == -2 or length > max_value_bytes:
            unread.keys.append(keys[index])
            unread.pttls.append(pttl)
            if isinstance(length, Exception):
                unread.values.append(length)  # WRONGTYPE: not a string key
            elif pttl == -2:
                unread.values.append(None)  # gone (STRLEN says 0 for a missing key)
            else:
                unread.values.append(Oversized(int(length)))
            continue
        if groups[-1] and group_bytes + length > MAX_BATCH_BYTES:
            groups.append([])
            group_bytes = 0
        groups[-1].append(index)
        group_bytes += length
    if unread.keys:
        yield unread
    for wanted in filter(None, groups):
        chosen = [keys[i] for i in wanted]
        # GETRANGE, not GET: a value that grew since STRLEN still arrives cut at the bound.
        getrange = (b"GETRANGE", b"0", b"%d" % (max_value_bytes - 1))
        fetched = _round_trip(client, _pack(chosen, getrange), len(chosen))
        yield Batch(chosen, fetched, [pttls[i] for i in wanted])
