"""Harness plugin: a real PostgreSQL for tests, one fresh database per test.

The server is located by $MCP_GITOPS_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test);
it must allow CREATE DATABASE. Each test that asks for `pg_url` gets its own database, created empty and
dropped afterwards, so tests may run in parallel (pytest-xdist) without seeing each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.harness.services import unavailable

URL_ENV = "MCP_GITOPS_TEST_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get(URL_ENV) or DEFAULT_URL


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the test server, once checked reachable."""
    import psycopg

    url = server_url()
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        unavailable("PostgreSQL", f"{url.split('@')[-1]} ({URL_ENV}): {str(exc).strip().splitlines()[0]}")
    return url


def _with_dbname(url: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in params.items()})


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A conninfo for a brand-new empty database, dropped (with its sessions) after the test."""
    with scratch_database(pg_server) as url:
        yield url


@contextmanager
def scratch_database(pg_server: str) -> Iterator[str]:
    """A brand-new empty database on `pg_server`, dropped (with its sessions) on leaving; for a test
    that needs more than the one `pg_url` gives."""
    import psycopg
    from psycopg import sql

    name = f"mcpgitops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_conn(pg_url: str) -> Iterator[object]:
    """An autocommit connection to the test's own database, for setting up and reading back."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn
