"""Harness plugin: a real Redis for tests.

Where it comes from:

- `MCP_GITOPS_TEST_REDIS_URL` (e.g. redis://127.0.0.1:6379/0): an existing Redis the tests may write to;
  `MCP_GITOPS_TEST_REDIS_AUTH_URL`: one that requires a password, with the password in the URL.
- otherwise a private `redis-server` (from PATH, or `MCP_GITOPS_TEST_REDIS_SERVER`) started on a free port
  for the test session, one without and one with `--requirepass`, so tests never meet other users of
  127.0.0.1:6379. Each answers PING about 20 ms after start.

Tests keep their keys under a prefix of their own (`redis_prefix`), removed afterwards, so a shared Redis
stays clean and tests never see each other's keys. When no Redis can be had, tests that need one are
skipped locally and fail under `CI=true` (`tests.harness.services.unavailable`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.harness.services import unavailable

URL_ENV = "MCP_GITOPS_TEST_REDIS_URL"
AUTH_URL_ENV = "MCP_GITOPS_TEST_REDIS_AUTH_URL"
SERVER_ENV = "MCP_GITOPS_TEST_REDIS_SERVER"
TEST_PASSWORD = "harness-secret"  # only ever set on the private server this harness starts
STARTUP_TIMEOUT_S = 10.0


@dataclass
class RedisServer:
    """How tests reach one Redis."""

    host: str
    port: int
    password: str | None = None
    db: int = 0
    private: bool = False  # True when this harness started it
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """`host:port`, the form `spec.sessionStorage.address` takes."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"

    def client(self, db: int | None = None, password: str | None = None) -> Any:
        import redis

        return redis.Redis(
            host=self.host,
            port=self.port,
            db=self.db if db is None else db,
            password=self.password if password is None else password,
            socket_connect_timeout=3,
            socket_timeout=5,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _from_url(url: str) -> RedisServer:
    parts = urlsplit(url)
    db = parts.path.strip("/")
    return RedisServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        password=parts.password,
        db=int(db) if db else 0,
    )


def _check(server: RedisServer) -> None:
    client = server.client()
    try:
        client.ping()
    finally:
        client.close()


def start_private(workdir: Path, password: str | None = None) -> RedisServer:
    """A redis-server of our own on a free port, kept in memory only; raises RuntimeError."""
    binary = os.environ.get(SERVER_ENV) or shutil.which("redis-server")
    if not binary:
        raise RuntimeError(f"no redis-server on PATH (or ${SERVER_ENV})")
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(workdir), "--logfile", str(workdir / f"redis-{port}.log")]
        if password:
            argv += ["--requirepass", password]
        # A session of its own: Ctrl-C on pytest must not kill the server before the fixture stops it.
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        server = RedisServer("127.0.0.1", port, password, private=True, process=process)
        atexit.register(server.stop)  # backstop if the session dies without running finalizers
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            try:
                _check(server)
                return server
            except Exception as exc:  # not listening yet
                last_error = str(exc)
                time.sleep(0.02)
        server.stop()
        log = workdir / f"redis-{port}.log"
        last_error = log.read_text(errors="replace")[-500:] if log.exists() else last_error
    raise RuntimeError(f"redis-server did not start: {last_error}")


def _server_or_reason(env: str, workdir: Path, password: str | None) -> RedisServer | str:
    url = os.environ.get(env)
    try:
        if url:
            server = _from_url(url)
            _check(server)
            return server
        return start_private(workdir, password)
    except Exception as exc:  # any failure here means "no Redis", reported per test
        where = f"{env}={url.split('@')[-1]}" if url else "a private redis-server"
        return f"{where}: {type(exc).__name__}: {exc}"


def _require(server: RedisServer | str) -> RedisServer:
    if isinstance(server, str):
        unavailable("Redis", server)
    assert isinstance(server, RedisServer)
    return server


@pytest.fixture(scope="session")
def _redis_server_or_reason(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | str]:
    server = _server_or_reason(URL_ENV, tmp_path_factory.mktemp("redis"), None)
    yield server
    if isinstance(server, RedisServer):
        server.stop()


@pytest.fixture(scope="session")
def _redis_auth_server_or_reason(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | str]:
    server = _server_or_reason(AUTH_URL_ENV, tmp_path_factory.mktemp("redis-auth"), TEST_PASSWORD)
    if isinstance(server, RedisServer) and not server.password:
        server = f"{AUTH_URL_ENV} must carry the password (redis://:PASSWORD@host:port)"
    yield server
    if isinstance(server, RedisServer):
        server.stop()


@pytest.fixture
def redis_server(_redis_server_or_reason: RedisServer | str) -> RedisServer:
    """A Redis without a password (see the module docstring)."""
    return _require(_redis_server_or_reason)


@pytest.fixture
def redis_auth_server(_redis_auth_server_or_reason: RedisServer | str) -> RedisServer:
    """A Redis that requires a password (`.password`)."""
    return _require(_redis_auth_server_or_reason)


@pytest.fixture
def redis_prefix(redis_server: RedisServer) -> Iterator[str]:
    """A key prefix no other test uses; every key under it (in db 0-3) is deleted afterwards."""
    prefix = f"t-{uuid.uuid4().hex[:12]}:"
    yield prefix
    for db in range(4):
        client = redis_server.client(db=db)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        finally:
            client.close()


@pytest.fixture
def closed_redis_address() -> str:
    """`127.0.0.1:<port>` where nothing listens: a Redis that is down."""
    return f"127.0.0.1:{free_port()}"
