"""Benchmark of the registry target: apply 10,000 entries into PostgreSQL and change them.

    .venv/bin/python bench/bench_registry.py [--entries 10000] [--database-url URL] [--repeat 3]
                                    [--registry-server-version vX.Y.Z]... (default: v1.2.0 and v1.5.1)

Needs a PostgreSQL that allows CREATE DATABASE (default postgresql://postgres@127.0.0.1:5432/test, or
$MCP_GITOPS_BENCH_DATABASE_URL); a scratch database is created and dropped. Entries come from
bench/generate.py (in memory, the same content it writes to disk). Times are for the registry target's
plan + apply, from parsed entries to committed transaction; reading and validating the files is the
pipeline's and not included. The floor is a bare COPY of the same rows into the same tables.

Targets: first apply <= 5 s, one-entry change <= 300 ms, no-op re-apply <= 100 ms, at each targeted
release (default: v1.2.0, schema 21 with argument names, and v1.5.1, schema 23 with JSONB arguments).
"""

from __future__ import annotations

import argparse
import copy
import gc
import hashlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from generate import REGISTRY_CONFIG, build_entries, file_text
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.registry_server import ServerCapabilities
from reconciler.settings import Settings
from reconciler.targets.postgres import RegistryInput, RegistryOptions, RegistryTarget
from reconciler.targets.postgres.desired import build_desired, canonical_json
from reconciler.targets.postgres.schema import MIGRATIONS, _migration
from reconciler.targets.postgres.writer import (
    ICON_COLUMNS,
    PACKAGE_COLUMNS,
    REMOTE_COLUMNS,
    Writer,
    child_rows,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGETS_MS = {
    "first apply": 5000,
    "one-entry change": 300,
    "no-op re-apply (same revision)": 100,
    "no-op re-apply (folder, file digests)": 100,
}
Items = list[tuple[str, dict[str, Any], str | None]]
FLOOR = "COPY floor (same rows)"


def with_file_digests(items: list[tuple[str, dict[str, Any]]]) -> Items:
    """What the pipeline hands over: each document with the sha256 of its file (computed while reading)."""
    return [(p, d, hashlib.sha256(file_text(p, d).encode()).hexdigest() + "#0") for p, d in items]


def scratch_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    name = f"mcpgitops_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return make_conninfo(**{k: str(v) for k, v in params.items()}), drop


def plan_apply(url: str, data: RegistryInput) -> tuple[float, Any]:
    """What `mcp-gitops apply` does after validation: prepare, then compare and write under the lock."""
    target = RegistryTarget()
    options = RegistryOptions(database_url=url, read_live=False)
    t0 = time.perf_counter()
    result = target.apply(target.plan(data, options), options)
    return (time.perf_counter() - t0) * 1000, result


def copy_floor(url: str, items: list[tuple[str, dict[str, Any]]], release: ServerCapabilities) -> float:
    """The same rows, pre-built, COPYed into the same (freshly created) tables: the lower bound."""
    desired = build_desired(REGISTRY_CONFIG, items, release)
    source_id = uuid.uuid4()
    entries: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    servers: list[tuple[Any, ...]] = []
    packages: list[tuple[Any, ...]] = []
    remotes: list[tuple[Any, ...]] = []
    icons: list[tuple[Any, ...]] = []
    latest: list[tuple[Any, ...]] = []
    for entry in desired.entries.values():
        eid = uuid.uuid4()
        entries.append((eid, source_id, "MCP", entry.name, canonical_json(entry.claims)))
        for spec in entry.versions.values():
            vid, r = uuid.uuid4(), spec.rows
            versions.append((vid, eid, spec.name, spec.version, r.title, r.description))
            servers.append((vid, *Writer.server_values(spec)[1:]))
            package_rows, remote_rows, icon_rows = child_rows(vid, spec)
            packages += package_rows
            remotes += remote_rows
            icons += icon_rows
        latest.append((source_id, entry.name, max(entry.versions), versions[-1][0]))
    tables: list[tuple[str, str, list[tuple[Any, ...]]]] = [
        ("registry_entry", "id, source_id, entry_type, name, claims", entries),
        ("entry_version", "id, entry_id, name, version, title, description", versions),
        (
            "mcp_server",
            "version_id, website, server_meta, repository_url, repository_id, repository_subfolder,"
            " repository_type",
            servers,
        ),
        ("mcp_server_package", ", ".join(PACKAGE_COLUMNS), packages),
        ("mcp_server_remote", ", ".join(REMOTE_COLUMNS), remotes),
        ("mcp_server_icon", ", ".join(ICON_COLUMNS), icons),
        ("latest_entry_version", "source_id, name, version, latest_version_id", latest),
    ]
    with psycopg.connect(url) as conn:
        for migration in MIGRATIONS[release.schema_version]:
            conn.execute(_migration(migration))
        conn.execute(
            "INSERT INTO source (id, name, source_type) VALUES (%s, 'gitops', 'managed')", [source_id]
        )
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for table, columns, rows in tables:
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy_:
                    for row in rows:
                        copy_.write_row(row)
        conn.commit()
        return (time.perf_counter() - t0) * 1000


def cli_figures(admin_url: str, entries: int, seed: int) -> dict[str, float]:
    """Whole processes, as a user runs them: interpreter start, validation of every file, apply."""
    import subprocess
    import tempfile

    from generate import write_repo

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mcpgitops-bench-") as tmp:
        repo = write_repo(Path(tmp) / "repo", entries, 0, seed)
        git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", "bench"], check=True)
        url, drop = scratch_database(admin_url)
        command = [
            sys.executable,
            "-c",
            "from reconciler.cli import main; main()",
            "apply",
            str(repo),
            "--rev",
            "HEAD",
            "--target",
            "registry",
            "--database-url",
            url,
        ]
        root = str(Path(__file__).resolve().parent.parent)

        def timed(label: str) -> None:
            t0 = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=root)
            out[label] = (time.perf_counter() - t0) * 1000

        try:
            timed("cli: first apply")
            timed("cli: no-op re-apply")
            entry = next((repo / "entries").rglob("*.json"))
            entry.write_text(entry.read_text().replace('"description": "', '"description": "Edited. ', 1))
            subprocess.run([*git, "commit", "-qam", "edit"], check=True)
            timed("cli: one-entry change")
        finally:
            drop()
    return out


def edit_one(items: Items, index: int, text: str) -> Items:
    changed = list(items)
    path, body, _ = changed[index]
    body = copy.deepcopy(body)
    body["server"]["description"] = text
    changed[index] = with_file_digests([(path, body)])[0]
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("MCP_GITOPS_BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each incremental measurement (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--registry-server-version",
        dest="versions",
        action="append",
        help="the release to target (repeatable; default v1.2.0 and v1.5.1: both schema versions)",
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="also time whole `mcp-gitops apply` processes (validation included) on the written repository",
    )
    args = parser.parse_args(argv)

    raw = build_entries(args.entries, args.seed)
    items = with_file_digests(raw)
    gc.freeze()  # as the command does once the repository is loaded
    verdict = True
    for version in args.versions or ["v1.2.0", "v1.5.1"]:
        verdict = run_release(args, version, raw, items) and verdict
    return 0 if verdict else 1


def run_release(
    args: argparse.Namespace, version: str, raw: list[tuple[str, dict[str, Any]]], items: Items
) -> bool:
    names = len({b["server"]["name"] for _, b in raw})
    # Each release starts from the same heap, as a process of its own would: what an earlier release's
    # runs left must not make this one's garbage collections longer.
    gc.collect()
    gc.freeze()
    load_before = os.getloadavg()[0]
    figures: dict[str, list[float]] = {}
    extra: dict[str, str] = {}
    settings = Settings.model_validate({"registryServer": {"version": version}})
    release = settings.registryServer.capabilities()

    def registry_input(entries: Any, revision: str | None = None) -> RegistryInput:
        return RegistryInput(REGISTRY_CONFIG, entries, settings=settings, revision=revision)

    def measure(label: str, make: Callable[[int], RegistryInput], expect_updates: int = 0) -> None:
        for run in range(args.repeat):
            ms, result = plan_apply(url, make(run))
            assert result.counts.updated == expect_updates, result.to_json()["counts"]
            assert result.counts.created == result.counts.deleted == 0
            figures.setdefault(label, []).append(ms)

    for first in range(args.repeat):
        # the floor beside each first apply, so that both see the same load
        floor_url, drop_floor = scratch_database(args.database_url)
        try:
            figures.setdefault(FLOOR, []).append(copy_floor(floor_url, raw, release))
        finally:
            drop_floor()
        url, drop = scratch_database(args.database_url)
        try:
            ms, result = plan_apply(url, registry_input(items, "0" * 40))
            figures.setdefault("first apply", []).append(ms)
            extra["first apply"] = f"{result.counts.created} created (entries, versions, latest, config)"
            if first < args.repeat - 1:
                continue
            measure(
                "no-op re-apply (same revision)",
                lambda run: registry_input(items, "0" * 40),
            )
            # A folder (no revision): every entry is compared by its file digest. The first run only
            # records that the origin changed.
            plan_apply(url, registry_input(items))
            measure("no-op re-apply (folder, file digests)", lambda run: registry_input(items))

            edits: list[Items] = [items]
            for run in range(args.repeat):
                edits.append(edit_one(edits[-1], (run * 997) % len(items), f"edited description {run}"))

            def edited(run: int, edits: list[Items] = edits) -> RegistryInput:
                return registry_input(edits[run + 1], f"{run + 1:040d}")

            measure("one-entry change", edited, expect_updates=1)
            # Last, as switching digest kinds makes the next run compare every version once:
            # without file digests (plain data from elsewhere) each server.json is digested here.
            plan_apply(url, registry_input(raw))
            measure("no-op re-apply (no file digests)", lambda run: registry_input(raw))
            extra["no-op re-apply (no file digests)"] = "informational: the pipeline always has them"
        finally:
            drop()

    extra["first apply"] += (
        f"; {statistics.median(figures['first apply']) / statistics.median(figures[FLOOR]):.1f}x the floor"
        " (whose tables are made untimed)"
    )
    if args.cli:
        for label, ms in cli_figures(args.database_url, args.entries, args.seed).items():
            figures[label] = [ms]

    print(
        f"registry target for ToolHive Registry Server {version} (schema {release.schema_version}), "
        f"{len(items)} entries ({names} server names), PostgreSQL at "
        f"{conninfo_to_dict(args.database_url).get('host', 'local socket')}, {args.repeat} runs each, "
        f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'measurement':<40}{'median ms':>10}{'min ms':>10}{'target':>8}  note")
    verdict = True
    for label, times in figures.items():
        median, best = statistics.median(times), min(times)
        goal = TARGETS_MS.get(label)
        mark = "" if goal is None else ("ok" if median <= goal else "OVER")
        verdict = verdict and (goal is None or median <= goal)
        print(
            f"{label:<40}{median:>10.1f}{best:>10.1f}{goal or '':>8}  {mark} {extra.get(label, '')}".rstrip()
        )
    return verdict


if __name__ == "__main__":
    sys.exit(main())
