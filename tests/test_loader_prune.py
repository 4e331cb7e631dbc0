"""A file the loader cannot read must never look like a file that left the repository: `apply --prune`
(registry target, real PostgreSQL) refuses to run on the validation errors and deletes nothing.
Before issue 14, a NUL at the start of an entry made it an empty file and prune deleted the entry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.test_hostile_inputs import NOBODY, POLICIES_BESIDE, ROOT, TIMEOUT, public_repo  # noqa: F401 (a fixture)
from tests.test_postgres_apply import LIST_QUERY, snapshot

pytestmark = pytest.mark.postgres

ENTRY = Path("entries") / "io.github.acme" / "fetch-1.0.0.yaml"


def apply(repo: Path, pg_url: str, *extra: str) -> Any:
    args = ["apply", str(repo), "--target", "registry", "--database-url", pg_url, *extra]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def nul_at_start(path: Path) -> None:
    path.write_bytes(b"\x00" + path.read_bytes())


def fifo_instead(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize(
    ("spoil", "rule"), [(nul_at_start, "yaml-syntax"), (fifo_instead, "file-unreadable")]
)
def test_apply_prune_deletes_nothing_when_a_file_cannot_be_loaded(
    repo_copy: Path, pg_url: str, pg_conn: Any, spoil: Callable[[Path], None], rule: str
) -> None:
    assert apply(repo_copy, pg_url).exit_code == 0
    before = snapshot(pg_conn)
    assert ("io.github.acme/fetch", "1.0.0") in {
        (r[0], r[1]) for r in pg_conn.execute(LIST_QUERY, ["default"])
    }
    spoil(repo_copy / ENTRY)
    result = apply(repo_copy, pg_url, "--prune")
    assert result.exit_code == 2, result.output
    assert "validation has errors" in result.output and rule in result.output
    assert snapshot(pg_conn) == before


def test_apply_prune_as_nobody_deletes_nothing_when_a_file_is_unreadable(
    public_repo: Path,  # noqa: F811
    pg_url: str,
    pg_conn: Any,
) -> None:
    """A real permission error: the command runs as `nobody`, for whom the entry has mode 000."""
    assert apply(public_repo, pg_url).exit_code == 0
    before = snapshot(pg_conn)
    (public_repo / ENTRY).chmod(0o000)
    script = (
        "import os, reconciler.cli, reconciler.commands.plan_apply, reconciler.pipeline\n"
        "import reconciler.targets.postgres, psycopg, ruamel.yaml, json\n"
        # imported on first use (policies, CRD files): `nobody` may not be able to enter the checkout
        "import reconciler.loading.safe_yaml\n"
        + POLICIES_BESIDE
        + f"os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        "reconciler.cli.main()\n"
    )
    args = ["apply", str(public_repo), "--target", "registry", "--database-url", pg_url, "--prune"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "file-unreadable" in result.stdout + result.stderr
    assert snapshot(pg_conn) == before
