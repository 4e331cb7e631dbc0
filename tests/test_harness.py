"""Smoke tests of the service harness: a real PostgreSQL and a real Redis answer (the kube-apiserver
has its own, tests/test_harness_kube.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.postgres
def test_postgres_creates_a_table(pg_conn: Any) -> None:
    pg_conn.execute("CREATE TABLE smoke (id int PRIMARY KEY, name text)")
    pg_conn.execute("INSERT INTO smoke VALUES (1, 'one')")
    assert pg_conn.execute("SELECT name FROM smoke WHERE id = 1").fetchone() == ("one",)


@pytest.mark.redis
def test_redis_sets_a_key(redis_server: Any, redis_prefix: str) -> None:
    client = redis_server.client()
    client.set(f"{redis_prefix}smoke", "value", ex=60)
    assert client.get(f"{redis_prefix}smoke") == b"value"
    assert 0 < client.ttl(f"{redis_prefix}smoke") <= 60
