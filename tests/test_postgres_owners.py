"""Two repositories (different ownership.identity) share one database and one managed source: each one
plans, applies, prunes and checks drift of only the rows it owns (issue 13), through the real command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_postgres_cli import run, write_registry_repo
from tests.test_postgres_data import entries

ALPHA, BETA, GAMMA = "io.github.acme/alpha", "io.github.acme/beta", "io.github.acme/gamma"


def repository(root: Path, identity: str, *items: tuple[str, str]) -> Path:
    write_registry_repo(root, entries(*items))
    (root / "mcp-gitops.yaml").write_text(f"ownership:\n  identity: {identity}\nprune:\n  registry: true\n")
    return root


def plan_of(repo: Path, pg_url: str, command: str = "plan") -> tuple[int, dict[str, Any]]:
    result = run(command, str(repo), "--database-url", pg_url, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def rows(pg_conn: Any) -> list[tuple[str, str, Any]]:
    return pg_conn.execute(
        "SELECT e.name, v.version, e.claims FROM entry_version v JOIN registry_entry e ON e.id = v.entry_id"
        " ORDER BY e.name, v.version"
    ).fetchall()


def test_two_repositories_plan_prune_and_drift_only_their_own_rows(
    pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    first = repository(tmp_path / "first", "github.com/acme/first", (ALPHA, "1.0.0"), (GAMMA, "1.0.0"))
    second = repository(tmp_path / "second", "github.com/acme/second", (BETA, "1.0.0"))
    assert run("apply", str(first), "--database-url", pg_url).exit_code == 0
    # the second one's plan lists its own entry only, nothing of the first one's (not even as prunable)
    code, document = plan_of(second, pg_url)
    assert code == 1, document
    (plan,) = document["plans"]
    assert {c["name"] for c in plan["changes"]} == {BETA}
    assert plan["conflicts"] == []
    assert run("apply", str(second), "--database-url", pg_url).exit_code == 0
    assert [r[:2] for r in rows(pg_conn)] == [(ALPHA, "1.0.0"), (BETA, "1.0.0"), (GAMMA, "1.0.0")]
    for repo in (first, second):
        code, document = plan_of(repo, pg_url)
        assert code == 0 and document["plans"][0]["changes"] == [], document
        assert run("drift", str(repo), "--database-url", pg_url).exit_code == 0

    owners = pg_conn.execute("SELECT name, owner FROM mcp_gitops.owned_entry ORDER BY name").fetchall()
    assert owners == [
        (ALPHA, "github.com/acme/first"),
        (BETA, "github.com/acme/second"),
        (GAMMA, "github.com/acme/first"),
    ]

    # the first one drops gamma: its prune deletes gamma only, never the second one's beta
    (first / "entries" / "gamma-1.0.0.yaml").unlink()
    code, document = plan_of(first, pg_url)
    assert {(c["action"], c["name"]) for c in document["plans"][0]["changes"]} == {("delete", GAMMA)}, (
        document
    )
    assert run("apply", str(first), "--database-url", pg_url).exit_code == 0
    assert [r[:2] for r in rows(pg_conn)] == [(ALPHA, "1.0.0"), (BETA, "1.0.0")]

    # someone changes beta's claims: drift of its owner sees it, drift of the first one does not
    pg_conn.execute(f"UPDATE registry_entry SET claims = '{{\"org\": \"evil\"}}' WHERE name = '{BETA}'")
    assert run("drift", str(first), "--database-url", pg_url).exit_code == 0
    code, document = plan_of(second, pg_url, "drift")
    assert code == 1 and document["drift"] == {"registry": 1}, document


def test_declaring_an_entry_another_repository_owns_is_a_conflict_at_its_file(
    pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    first = repository(tmp_path / "first", "github.com/acme/first", (ALPHA, "1.0.0"))
    second = repository(tmp_path / "second", "github.com/acme/second", (BETA, "1.0.0"), (ALPHA, "2.0.0"))
    assert run("apply", str(first), "--database-url", pg_url).exit_code == 0
    before = rows(pg_conn)

    for command in ("plan", "apply", "drift"):
        code, document = plan_of(second, pg_url, command)
        assert code == 2, document
        (finding,) = document["findings"]
        assert (finding["rule"], finding["severity"], finding["path"], finding["line"]) == (
            "registry-owner-conflict",
            "error",
            "entries/alpha-2.0.0.yaml",
            1,
        )
        assert "owned by another repository (github.com/acme/first)" in finding["message"]
        # alpha is not in the second one's plan (or apply) at all; its own beta is
        (outcome,) = document.get("plans") or document["results"]
        assert {c["name"] for c in outcome["changes"]} <= {BETA}
    # alpha's rows are the first one's still; the rest of the second one's apply went ahead
    assert [r for r in rows(pg_conn) if r[0] == ALPHA] == before
    assert [r[:2] for r in rows(pg_conn) if r[0] == BETA] == [(BETA, "1.0.0")]
    code, document = plan_of(first, pg_url)
    assert code == 0 and document["plans"][0]["changes"] == [], document


def test_a_config_declared_otherwise_than_the_other_repositorys_writes_no_config_rows(
    pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    first = repository(tmp_path / "first", "github.com/acme/first", (ALPHA, "1.0.0"))
    second = repository(tmp_path / "second", "github.com/acme/second", (BETA, "1.0.0"))
    config = json.loads((second / "registry.yaml").read_text())
    config["sources"][1]["syncPolicy"] = {"interval": "1h"}
    (second / "registry.yaml").write_text(json.dumps(config))
    assert run("apply", str(first), "--database-url", pg_url).exit_code == 0
    sources_before = pg_conn.execute("SELECT * FROM source ORDER BY name").fetchall()

    code, document = plan_of(second, pg_url)
    assert code == 2, document
    (finding,) = document["findings"]
    assert (finding["rule"], finding["path"], finding["line"]) == (
        "registry-owner-conflict",
        "registry.yaml",
        1,
    )
    assert "written by another repository (github.com/acme/first)" in finding["message"]
    assert {c["kind"] for c in document["plans"][0]["changes"]} <= {"entry", "version", "latest"}
    assert run("apply", str(second), "--database-url", pg_url).exit_code == 2
    assert pg_conn.execute("SELECT * FROM source ORDER BY name").fetchall() == sources_before


# What the bookkeeping looked like at version 1: one owner per database, in meta; field digests, no
# entry digests.
TO_VERSION_1 = """
ALTER TABLE mcp_gitops.state DROP CONSTRAINT state_pkey;
ALTER TABLE mcp_gitops.state ADD COLUMN singleton boolean NOT NULL DEFAULT true CHECK (singleton);
ALTER TABLE mcp_gitops.state ADD PRIMARY KEY (singleton);
ALTER TABLE mcp_gitops.state DROP COLUMN owner;
ALTER TABLE mcp_gitops.owned_source DROP COLUMN owner;
ALTER TABLE mcp_gitops.owned_registry DROP COLUMN owner;
ALTER TABLE mcp_gitops.owned_entry DROP COLUMN owner;
ALTER TABLE mcp_gitops.owned_version DROP COLUMN owner;
ALTER TABLE mcp_gitops.owned_version ADD COLUMN field_digests jsonb NOT NULL DEFAULT '{}';
ALTER TABLE mcp_gitops.owned_entry DROP COLUMN digest;
INSERT INTO mcp_gitops.meta (key, value) VALUES ('owner', 'github.com/acme/first');
UPDATE mcp_gitops.meta SET value = '1' WHERE key = 'bookkeeping_version';
"""


def test_rows_recorded_before_owners_per_row_belong_to_the_database_owner(
    pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    first = repository(tmp_path / "first", "github.com/acme/first", (ALPHA, "1.0.0"))
    second = repository(tmp_path / "second", "github.com/acme/second", (BETA, "1.0.0"))
    assert run("apply", str(first), "--database-url", pg_url).exit_code == 0
    pg_conn.execute(TO_VERSION_1)

    # read-only plans read version 1 as it is: the recorded owner owns every row
    code, document = plan_of(first, pg_url)
    assert code == 0 and document["plans"][0]["changes"] == [], document
    code, document = plan_of(second, pg_url)
    assert code == 1 and {c["name"] for c in document["plans"][0]["changes"]} == {BETA}, document
    assert pg_conn.execute(
        "SELECT value FROM mcp_gitops.meta WHERE key = 'bookkeeping_version'"
    ).fetchone() == ("1",)

    # the next apply upgrades the bookkeeping, keeping the first one's rows the first one's
    assert run("apply", str(second), "--database-url", pg_url).exit_code == 0
    assert pg_conn.execute(
        "SELECT value FROM mcp_gitops.meta WHERE key = 'bookkeeping_version'"
    ).fetchone() == ("3",)
    owners = pg_conn.execute("SELECT name, owner FROM mcp_gitops.owned_entry ORDER BY name").fetchall()
    assert owners == [(ALPHA, "github.com/acme/first"), (BETA, "github.com/acme/second")]
    code, document = plan_of(first, pg_url)
    assert code == 0 and document["plans"][0]["changes"] == [], document


def test_a_conflict_planned_against_live_does_not_stop_the_rest_of_the_apply(
    pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    """The daemon's way: plan against the live state, then apply. The conflict is reported, not blocking."""
    from reconciler import pipeline
    from reconciler.reconcile import ReconcileStage, TargetOptions
    from reconciler.source import open_source
    from reconciler.targets.postgres import RegistryOptions

    first = repository(tmp_path / "first", "github.com/acme/first", (ALPHA, "1.0.0"))
    second = repository(tmp_path / "second", "github.com/acme/second", (BETA, "1.0.0"), (ALPHA, "2.0.0"))
    assert run("apply", str(first), "--database-url", pg_url).exit_code == 0
    before = rows(pg_conn)

    stage = ReconcileStage(["registry"], TargetOptions(registry=RegistryOptions(database_url=pg_url)))
    try:
        planned = stage.plan(pipeline.validate(open_source(str(second), None)).repo)
        (run_,) = planned.runs
        assert [f.rule for f in run_.findings] == ["registry-owner-conflict"] and not run_.blocked
        stage.apply(planned)
    finally:
        stage.close()
    assert run_.error is not None and run_.error.reason == "OwnerConflict"
    assert [(f.rule, f.path, f.line) for f in run_.findings] == [
        ("registry-owner-conflict", "entries/alpha-2.0.0.yaml", 1)
    ]
    assert run_.result is not None and run_.result.changed
    assert rows(pg_conn) == sorted([*before, (BETA, "1.0.0", {"org": "acme"})])
