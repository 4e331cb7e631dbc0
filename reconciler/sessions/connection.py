"""Dialling one Redis the way ToolHive's client does (dial 5 s, read/write 3 s, no retries), and turning
every way that fails into one sentence instead of a traceback."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler.sessions.report import Latency

# toolhive-core/redis defaults.
DIAL_TIMEOUT_S = 5.0
READ_WRITE_TIMEOUT_S = 3.0
DEFAULT_PORT = 6379


class RedisProblem(Exception):
    """Redis could not be used; `kind` is "unreachable", "auth" or "error"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Endpoint:
    """Where to dial: a spec address (`host:port`) or an override URL."""

    address: str  # the spec's address, the identity in reports
    url: str | None = None  # redis://, rediss:// or unix:// override for local use

    @property
    def display(self) -> str:
        return mask_url(self.url) if self.url else self.address

    @property
    def url_password(self) -> str | None:
        return urlsplit(self.url).password if self.url else None


def mask_url(url: str) -> str:
    """The URL with its password replaced, safe to print (also when it does not parse)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        scheme, sep, rest = url.partition("://")
        userinfo, at, host = rest.rpartition("@")
        return f"{scheme}{sep}***@{host}" if at and ":" in userinfo else url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def url_problem(url: str) -> str | None:
    """Why redis-py could not use `url`, or None; checked up front so a typo is a usage error."""
    import redis

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number
        if parts.scheme not in ("redis", "rediss", "unix"):
            return f"the scheme {parts.scheme!r} is not redis, rediss or unix"
        redis.connection.parse_url(url)
    except (ValueError, TypeError) as exc:
        return str(exc) or "not a valid URL"
    return None


def split_address(address: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or a bare host (the default port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    host, sep, port = address.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address
        return address, DEFAULT_PORT
    return host, int(port)


def describe_error(exc: Exception) -> RedisProblem:
    from redis import exceptions as rx

    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if isinstance(exc, rx.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text:
        if "HELLO must be called" in text or "NOAUTH" in text or "Authentication required" in text:
            return RedisProblem("auth", "the server requires a password and none was given")
        return RedisProblem("auth", f"the password was refused ({text})")
    if isinstance(exc, rx.TimeoutError):
        return RedisProblem("unreachable", f"timed out ({text})")
    if isinstance(exc, rx.ConnectionError):
        return RedisProblem("unreachable", text)
    if isinstance(exc, rx.InvalidResponse):
        return RedisProblem("unreachable", f"does not speak the Redis protocol ({text})")
    if "NOPERM" in text:
        return RedisProblem("error", f"permission denied ({text})")
    return RedisProblem("error", text)


def open_client(endpoint: Endpoint, db: int, password: str | None) -> Any:
    """A client that has not dialled yet (redis-py connects on the first command). Raises RedisProblem
    for an address or URL that does not parse."""
    try:
        return _client(endpoint, db, password)
    except ValueError as exc:
        raise RedisProblem("error", f"cannot use {endpoint.display}: {exc}") from None


def _client(endpoint: Endpoint, db: int, password: str | None) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {
        "db": db,
        "socket_connect_timeout": DIAL_TIMEOUT_S,
        "socket_timeout": READ_WRITE_TIMEOUT_S,
        # A measurement reports what it sees: no silent retries that would hide a flaky Redis.
        "retry": Retry(NoBackoff(), 0),
        # RESP2: every Redis speaks it (HELLO needs 6.0), and it needs no command beyond AUTH and SELECT.
        "protocol": 2,
    }
    if endpoint.url:
        if password is not None and endpoint.url_password is None:
            options["password"] = password
        return redis.Redis.from_url(endpoint.url, **options)
    host, port = split_address(endpoint.address)
    return redis.Redis(host=host, port=port, password=password, **options)


def call(client: Any, *command: Any) -> Any:
    try:
        return client.execute_command(*command)
    except Exception as exc:  # redis-py's errors, and socket errors it lets through
        raise describe_error(exc) from None


@dataclass
class Handshake:
    connect_ms: float
    ping: Latency
    server_version: str | None
    maxmemory_policy: str | None
    no_touch: bool


def handshake(client: Any, pings: int) -> Handshake:
    """Dial, time a few PINGs on the open connection, and read what the report shows about the server.
    Raises RedisProblem."""
    start = time.perf_counter()
    call(client, "PING")  # the first one dials (and authenticates)
    connect_ms = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(max(pings, 1)):
        start = time.perf_counter()
        call(client, "PING")
        samples.append((time.perf_counter() - start) * 1000)
    ping = Latency(round(statistics.median(samples), 3), round(max(samples), 3), len(samples))
    version = policy = None
    try:
        info = client.info()
        version, policy = info.get("redis_version"), info.get("maxmemory_policy")
    except Exception:
        pass  # INFO may be denied by an ACL; it is only shown, never relied on
    try:
        # Reads on this connection then leave the keys' LRU/LFU clock alone (Redis >= 7.2).
        client.execute_command("CLIENT", "NO-TOUCH", "ON")
        no_touch = True
    except Exception:
        no_touch = False
    return Handshake(round(connect_ms, 3), ping, version, policy, no_touch)
