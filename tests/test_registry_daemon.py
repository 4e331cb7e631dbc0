"""A registry server restart between two daemon cycles: the start-up claim reset is undone by the next
cycle (the server's own PropagateSourceClaimsToEntries stands in for the restart)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.test_daemon_e2e import GitRemote, _run_once, fetch_claims
from tests.upstream_registry import run_query

pytestmark = pytest.mark.postgres


def restart_registry_server(pg_url: str, source_claims: dict[str, str]) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM source WHERE name = 'acme-internal'").fetchone()
        assert row is not None
        run_query(
            conn, "v1.5.1", "PropagateSourceClaimsToEntries", source_id=row[0], claims=Jsonb(source_claims)
        )


def test_the_next_cycle_restores_claims_a_restart_reset(tmp_path: Path, pg_url: str) -> None:
    # the sample repository, with one entry (waived) whose claims differ from its managed source's
    remote = GitRemote(tmp_path)
    state = tmp_path / "state"
    assert _run_once(remote, state, pg_url).returncode == 0
    assert fetch_claims(pg_url) == {"org": "acme", "team": "platform"}
    restart_registry_server(pg_url, {"org": "acme"})  # sample-repo/registry.yaml: acme-internal's claims
    assert fetch_claims(pg_url) == {"org": "acme"}
    again = _run_once(remote, state, pg_url)  # the same Git revision
    assert again.returncode == 0, again.stderr
    assert '"outcome": "applied"' in again.stderr
    assert fetch_claims(pg_url) == {"org": "acme", "team": "platform"}
    assert '"outcome": "unchanged"' in _run_once(remote, state, pg_url).stderr
