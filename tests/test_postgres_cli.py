"""`mcp-gitops plan` / `apply` for the registry target: exit codes, formats, and secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.test_postgres_data import entries, registry_config

pytestmark = pytest.mark.postgres

PASSWORD = "S3cr3t-Pa55-xyzzy"
ITEMS = entries(("io.github.acme/alpha", "1.0.0"), ("io.github.acme/alpha", "1.1.0"))


def write_registry_repo(root: Path, items: list[tuple[str, dict[str, Any]]] = ITEMS) -> Path:
    """A repository the real pipeline validates clean: a registry config and entry files (JSON is YAML)."""
    (root / "entries").mkdir(parents=True, exist_ok=True)
    config = registry_config(auth={"mode": "anonymous"})
    config["sources"][0]["claims"] = {"org": "acme"}  # the entries' claims, which a restart keeps
    (root / "registry.yaml").write_text(json.dumps(config))
    for path, data in items:
        (root / path).write_text(json.dumps(data))
    return root


@pytest.fixture
def repo_input(tmp_path: Path) -> Path:
    return write_registry_repo(tmp_path)


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_plan_and_apply_exit_codes_and_formats(pg_url: str, repo_input: Path, tmp_path: Path) -> None:
    first = run("plan", str(tmp_path), "--target", "registry", "--database-url", pg_url)
    assert first.exit_code == 1, first.output
    assert "+ version  io.github.acme/alpha@1.1.0" in first.output

    as_json = run("plan", str(tmp_path), "--database-url", pg_url, "--format", "json")
    assert as_json.exit_code == 1
    plans = json.loads(as_json.stdout)["plans"]
    assert plans[0]["target"] == "registry" and plans[0]["summary"]["created"] > 0

    applied = run("apply", str(tmp_path), "--database-url", pg_url, "--format", "json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout)["results"][0]["outcome"] == "applied"

    again = run("plan", str(tmp_path), "--database-url", pg_url)
    assert again.exit_code == 0 and "no changes" in again.output
    assert run("apply", str(tmp_path), "--database-url", pg_url).exit_code == 0


def test_errors_exit_2_with_a_message(pg_url: str, pg_conn: Any, repo_input: Path, tmp_path: Path) -> None:
    pg_conn.execute(
        "CREATE TABLE schema_migrations (version bigint, dirty boolean);"
        " INSERT INTO schema_migrations VALUES (19, false)"
    )
    result = run("apply", str(tmp_path), "--database-url", pg_url)
    assert result.exit_code == 2
    assert "version 19" in result.output and "Traceback" not in result.output


def test_the_password_is_never_printed(
    pg_url: str, repo_input: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"THV_REGISTRY_DATABASE_PASSWORD": PASSWORD, "MCP_GITOPS_DATABASE_PASSWORD": PASSWORD}
    outputs = [
        run("plan", str(tmp_path), "--database-url", pg_url, env=env),
        run("plan", str(tmp_path), "--database-url", pg_url, "--format", "json", env=env),
        run("apply", str(tmp_path), "--database-url", pg_url, env=env),
        run("apply", str(tmp_path), "--database-url", pg_url, "--format", "json", env=env),
        # unreachable server, and a URL that carries the password itself
        run("plan", str(tmp_path), "--database-url", "host=127.0.0.1 port=1 dbname=x user=postgres", env=env),
        run(
            "apply", str(tmp_path), "--database-url", f"postgresql://postgres:{PASSWORD}@127.0.0.1/x", env=env
        ),
    ]
    assert [o.exit_code for o in outputs] == [1, 1, 0, 0, 2, 2]
    assert "remove it from the URL" in outputs[-1].output
    for result in outputs:
        assert PASSWORD not in result.output
    assert PASSWORD not in caplog.text


def test_apply_refuses_when_validation_has_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from reconciler import pipeline
    from reconciler.findings import Finding, Report, Severity

    report = Report([Finding("schema", Severity("error"), "entries/a.yaml", 1, 1, "broken")], files=1)
    monkeypatch.setattr(
        pipeline, "validate", lambda source, **_: SimpleNamespace(report=report, rules={}, repo=None)
    )
    monkeypatch.setattr(
        "reconciler.source.open_source",
        lambda path, rev=None, read_ahead=False: SimpleNamespace(revision=None),
    )
    result = run("apply", str(tmp_path), "--database-url", "host=127.0.0.1 port=1")
    assert result.exit_code == 2  # a refusal, not "changes pending"
    assert "validation has errors" in result.output and "broken" in result.output


def test_a_lock_held_by_another_session_is_given_up_after_the_bound(pg_url: str, tmp_path: Path) -> None:
    import time

    import psycopg

    from reconciler.targets.postgres.target import LOCK_KEY

    repo = write_registry_repo(tmp_path / "repo")
    assert run("apply", str(repo), "--database-url", pg_url).exit_code == 0
    write_registry_repo(repo, entries(("io.github.acme/alpha", "1.2.0")))
    with psycopg.connect(pg_url) as holder:
        holder.execute("LOCK TABLE registry_entry IN ACCESS EXCLUSIVE MODE")  # held until rollback
        started = time.monotonic()
        result = run("apply", str(repo), "--database-url", pg_url, "--lock-timeout", "1")
        elapsed = time.monotonic() - started
        assert result.exit_code == 2, result.output
        assert elapsed < 15
        assert "lock another session holds" in result.output and "advisory lock released" in result.output
        # The advisory lock went with the rolled-back transaction: another apply may take it at once.
        with psycopg.connect(pg_url, autocommit=True) as other:
            assert other.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]
        holder.rollback()
    assert run("apply", str(repo), "--database-url", pg_url).exit_code == 0


def test_drift_finds_a_row_changed_behind_our_back(pg_url: str, pg_conn: Any, tmp_path: Path) -> None:
    repo = write_registry_repo(tmp_path / "repo")
    assert run("drift", str(repo), "--database-url", pg_url).exit_code == 1  # nothing applied yet
    assert run("apply", str(repo), "--database-url", pg_url).exit_code == 0
    clean = run("drift", str(repo), "--database-url", pg_url)
    assert clean.exit_code == 0, clean.output
    # someone edits claims through the registry server's API (here: straight in its table)
    pg_conn.execute(
        "UPDATE registry_entry SET claims = '{\"org\": \"evil\"}' WHERE name = 'io.github.acme/alpha'"
    )
    drifted = run("drift", str(repo), "--database-url", pg_url, "--format", "json")
    assert drifted.exit_code == 1, drifted.output
    document = json.loads(drifted.stdout)
    assert document["drift"] == {"registry": 1}
    assert [f["rule"] for f in document["findings"]] == ["drift"]
    # `apply` compares once, under its lock: the drift it reports is what it found there
    applied = run("apply", str(repo), "--database-url", pg_url, "--format", "json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout)["drift"] == {"registry": 1}
    assert run("drift", str(repo), "--database-url", pg_url).exit_code == 0
    again = run("apply", str(repo), "--database-url", pg_url, "--format", "json")
    assert json.loads(again.stdout)["drift"] == {"registry": 0}


class HoldSpy:
    """Records each registry apply held beside validation, and what another session sees of the
    database while it is held (nothing, and the advisory lock taken); the write itself is real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
        from reconciler.targets.postgres.target import RegistryTarget

        self.held: list[object] = []
        self.seen_meanwhile: list[tuple[Any, bool]] = []
        # what another session does while the apply is held (sleeps, say), after looking
        self.meanwhile: Any = None
        hold = RegistryTarget.hold
        # The write is held only while forked workers check the policies: these repositories are
        # small, so let two processes share even them.
        monkeypatch.setattr("reconciler.policy.engine.PARALLEL_DOCUMENTS", 1)
        monkeypatch.setenv("MCP_GITOPS_JOBS", "2")

        def spied(target: RegistryTarget, plan: Any, options: Any) -> Any:
            import psycopg

            from reconciler.targets.postgres.target import LOCK_KEY

            held = hold(target, plan, options)
            self.held.append(held)
            with psycopg.connect(pg_url, autocommit=True) as other:
                tables = other.execute("SELECT to_regclass('public.registry_entry')").fetchone()[0]
                free = other.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]
                self.seen_meanwhile.append((tables, free))
            if self.meanwhile is not None:
                self.meanwhile()
            return held

        monkeypatch.setattr(RegistryTarget, "hold", spied)


def test_apply_writes_beside_validation_and_commits_once_it_passed(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    spy = HoldSpy(monkeypatch, pg_url)
    applied = run("apply", str(tmp_path), "--database-url", pg_url)
    assert applied.exit_code == 0, applied.output
    assert len(spy.held) == 1 and spy.held[0] is not None
    # written, not visible, the lock taken, while the policies were still being checked
    assert spy.seen_meanwhile == [(None, False)]
    assert "registry: writing to" in applied.stderr and "7 created" in applied.stdout
    assert pg_conn.execute("SELECT count(*) FROM entry_version").fetchone()[0] == 2
    # and the result is the one an apply after validation gives: nothing left to change
    plan = run("plan", str(tmp_path), "--database-url", pg_url)
    assert plan.exit_code == 0 and "no changes" in plan.output


def test_a_held_apply_is_rolled_back_when_validation_then_fails(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    leaked = "s3cr3t-hunter2"
    items = entries(("io.github.acme/alpha", "1.0.0"))
    items[0][1]["server"]["packages"][0]["environmentVariables"] = [
        {"name": "SERVICE_PASSWORD", "value": leaked}
    ]
    repo = write_registry_repo(tmp_path / "repo", items)
    spy = HoldSpy(monkeypatch, pg_url)
    result = run("apply", str(repo), "--database-url", pg_url)
    assert result.exit_code == 2
    assert "secret-in-repo" in result.output and "nothing was planned or applied" in result.output
    assert "writing to" not in result.output and leaked not in result.output
    assert len(spy.held) == 1 and spy.held[0] is not None  # it had been written
    # rolled back: no table, no bookkeeping, no recorded run; the lock is free again
    assert pg_conn.execute(
        "SELECT to_regclass('public.registry_entry'), to_regclass('mcp_gitops.run')"
    ).fetchone() == (None, None)
    from reconciler.targets.postgres.target import LOCK_KEY

    assert pg_conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]


def test_a_failure_while_held_is_reported_only_for_a_repository_that_validates(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A database the registry target refuses (another release's schema): the held write fails at once.
    pg_conn.execute(
        "CREATE TABLE schema_migrations (version bigint, dirty boolean);"
        " INSERT INTO schema_migrations VALUES (19, false)"
    )
    spy = HoldSpy(monkeypatch, pg_url)
    good = write_registry_repo(tmp_path / "good")
    refused = run("apply", str(good), "--database-url", pg_url)
    assert refused.exit_code == 2 and "version 19" in refused.output
    assert "registry: writing to" in refused.stderr  # announced as any apply's, then refused
    items = entries(("io.github.acme/alpha", "1.0.0"))
    items[0][1]["server"]["packages"][0]["environmentVariables"] = [
        {"name": "SERVICE_PASSWORD", "value": "s3cr3t-hunter2"}
    ]
    bad = write_registry_repo(tmp_path / "bad", items)
    invalid = run("apply", str(bad), "--database-url", pg_url)
    assert invalid.exit_code == 2 and "secret-in-repo" in invalid.output
    assert "version 19" not in invalid.output  # validation's verdict comes first, and alone
    assert len(spy.held) == 0  # the refusal came from the write: nothing was held either time


def test_apply_waits_for_another_apply_only_after_validation(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    import psycopg

    from reconciler.targets.postgres.target import LOCK_KEY

    spy = HoldSpy(monkeypatch, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        result = run("apply", str(tmp_path), "--database-url", pg_url, "--lock-timeout", "0.5")
    assert result.exit_code == 2 and "another mcp-gitops apply holds the lock" in result.output
    assert spy.held == [None]  # not held: the apply after validation waited, and gave up
    assert run("apply", str(tmp_path), "--database-url", pg_url).exit_code == 0


def test_a_database_the_repository_names_is_written_only_after_validation(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    spy = HoldSpy(monkeypatch, pg_url)
    (tmp_path / "mcp-gitops.yaml").write_text(json.dumps({"database": {"url": pg_url}}))
    result = run("apply", str(tmp_path), "--allow-database-host", "127.0.0.1")
    assert result.exit_code == 0, result.output
    assert "database.url in mcp-gitops.yaml" in result.stderr
    assert spy.held == [None]  # planned beside validation, but neither contacted nor written there


def test_a_database_error_while_held_is_recorded_only_for_a_repository_that_validates(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import psycopg

    repo = write_registry_repo(tmp_path / "repo")
    assert run("apply", str(repo), "--database-url", pg_url).exit_code == 0
    runs = "SELECT outcome FROM mcp_gitops.run ORDER BY id"
    assert [r[0] for r in pg_conn.execute(runs).fetchall()] == ["applied"]
    spy = HoldSpy(monkeypatch, pg_url)
    items = entries(("io.github.acme/alpha", "1.2.0"))
    items[0][1]["server"]["packages"][0]["environmentVariables"] = [
        {"name": "SERVICE_PASSWORD", "value": "s3cr3t-hunter2"}
    ]
    write_registry_repo(repo, items)
    with psycopg.connect(pg_url) as holder:
        holder.execute("LOCK TABLE registry_entry IN ACCESS EXCLUSIVE MODE")  # the held write times out
        invalid = run("apply", str(repo), "--database-url", pg_url, "--lock-timeout", "0.5")
        holder.rollback()
    assert invalid.exit_code == 2 and "secret-in-repo" in invalid.output
    assert "lock" not in invalid.output
    assert spy.held == [None]
    assert [r[0] for r in pg_conn.execute(runs).fetchall()] == ["applied"]  # no failed run recorded


def test_without_workers_or_with_validate_first_nothing_is_held(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    spy = HoldSpy(monkeypatch, pg_url)
    first = run("apply", str(tmp_path), "--database-url", pg_url, "--validate-first")
    assert first.exit_code == 0 and "7 created" in first.output
    monkeypatch.setenv("MCP_GITOPS_JOBS", "1")  # nothing for the write to overlap: written after
    write_registry_repo(tmp_path, entries(("io.github.acme/alpha", "1.2.0")))
    second = run("apply", str(tmp_path), "--database-url", pg_url)
    assert second.exit_code == 0 and "created" in second.output
    assert spy.held == []


def test_a_repository_that_cannot_validate_is_not_planned_beside_validation(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = write_registry_repo(tmp_path / "repo")
    (repo / "registry.yaml").write_text(json.dumps({"sources": 5}))  # the planner could not read it
    spy = HoldSpy(monkeypatch, pg_url)
    result = run("apply", str(repo), "--database-url", pg_url)
    assert result.exit_code == 2, result.output
    assert "sources" in result.output and "internal error" not in result.output
    assert spy.held == []
    assert pg_conn.execute("SELECT to_regclass('public.registry_entry')").fetchone()[0] is None


def test_a_plan_that_fails_beside_validation_is_made_again_after_it(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    from reconciler.targets.postgres.target import RegistryTarget

    spy = HoldSpy(monkeypatch, pg_url)
    plan = RegistryTarget.plan
    calls: list[int] = []

    def once_broken(target: RegistryTarget, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise TypeError("a shape validation would have refused")
        return plan(target, *args)

    monkeypatch.setattr(RegistryTarget, "plan", once_broken)
    result = run("apply", str(tmp_path), "--database-url", pg_url)
    assert result.exit_code == 0, result.output
    assert len(calls) == 2 and spy.held == []


def test_a_held_apply_outlasts_the_servers_idle_transaction_timeout(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    import time

    from psycopg import sql

    database = pg_conn.info.dbname
    pg_conn.execute(
        sql.SQL("ALTER DATABASE {} SET idle_in_transaction_session_timeout = '100ms'").format(
            sql.Identifier(database)
        )
    )
    spy = HoldSpy(monkeypatch, pg_url)
    spy.meanwhile = lambda: time.sleep(0.5)  # validation goes on well past the server's timeout
    result = run("apply", str(tmp_path), "--database-url", pg_url)
    assert result.exit_code == 0, result.output
    assert spy.held and spy.held[0] is not None
    runs = pg_conn.execute("SELECT outcome FROM mcp_gitops.run ORDER BY id").fetchall()
    assert [r[0] for r in runs] == ["applied"]  # committed as held: no failure, no second apply


def test_a_held_apply_whose_connection_was_lost_is_applied_again(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch, repo_input: Path, tmp_path: Path
) -> None:
    spy = HoldSpy(monkeypatch, pg_url)

    def terminate() -> None:  # the server goes away under the held transaction (a restart, a proxy)
        pg_conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND state = 'idle in transaction'"
        )

    spy.meanwhile = terminate
    result = run("apply", str(tmp_path), "--database-url", pg_url)
    assert result.exit_code == 0, result.output
    assert spy.held and spy.held[0] is not None
    runs = pg_conn.execute("SELECT outcome FROM mcp_gitops.run ORDER BY id").fetchall()
    assert [r[0] for r in runs] == ["applied"]  # the held one was lost whole; the second one applied
    assert pg_conn.execute("SELECT count(*) FROM entry_version").fetchone()[0] == 2
