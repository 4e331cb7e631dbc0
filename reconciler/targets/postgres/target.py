"""The `registry` target: the rows ToolHive Registry Server (v1.2.0-v1.5.1) serves, in PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from reconciler.registry_server import NEWEST_VERSION, ServerCapabilities
from reconciler.targets import TargetError, TargetOptions, TargetPlan
from reconciler.targets.postgres import live as live_state
from reconciler.targets.postgres import planner, schema
from reconciler.targets.postgres.changes import Counts, Diff, render_change
from reconciler.targets.postgres.connection import DatabaseTarget, connect, resolve_target
from reconciler.targets.postgres.desired import DesiredState, EntryItem, build_desired
from reconciler.targets.postgres.errors import ApplyError
from reconciler.targets.postgres.writer import Hook, Writer

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key shared by every mcp-gitops apply to one database ("mcpgitop" in ASCII).
LOCK_KEY = 0x6D63706769746F70
RUNS_KEPT = 100
APPLY_LINES_SHOWN = 50


@dataclass(frozen=True)
class RegistryInput:
    """What the registry target reads from a repository, as plain data."""

    config: Mapping[str, Any] | None
    entries: Sequence[EntryItem]
    settings: Any = None
    revision: str | None = None
    root: Path | None = None

    @classmethod
    def from_repository(cls, repo: Any, root: Path | None = None) -> RegistryInput:
        """From a loaded `Repository` (reconciler.repository); `root` is the folder on disk, used to
        refuse a password file kept inside the repository."""
        if isinstance(repo, RegistryInput):
            return repo
        config_doc = getattr(repo, "config", None)
        root = root or getattr(getattr(repo, "source", None), "root", None)
        return cls(
            config=getattr(config_doc, "data", None) if config_doc is not None else None,
            entries=[
                (doc.path, doc.data, f"{doc.digest}#{doc.index}" if getattr(doc, "digest", "") else None)
                for doc in getattr(repo, "entries", [])
            ],
            settings=getattr(repo, "settings", None),
            revision=getattr(repo, "revision", None),
            root=Path(root) if root else None,
        )

    def server(self) -> ServerCapabilities:
        """The targeted registry server release (`registryServer.version`)."""
        settings = getattr(self.settings, "registryServer", None)
        return settings.capabilities() if settings is not None else ServerCapabilities.of(NEWEST_VERSION)

    def prune_setting(self) -> bool:
        return bool(getattr(getattr(self.settings, "prune", None), "registry", False))


@dataclass
class RegistryPlan:
    target: str
    database: str
    revision: str | None
    desired: DesiredState
    diff: Diff | None  # None: not compared yet (TargetOptions.read_live=False)
    options: planner.PlanOptions
    db_target: DatabaseTarget = field(repr=False)

    @property
    def has_changes(self) -> bool:
        return self.diff is None or bool(self.diff.registry_changes)

    def to_json(self) -> dict[str, Any]:
        changes = self.diff.changes if self.diff is not None else []
        return {
            "target": self.target,
            "database": self.database,
            "revision": self.revision,
            "registryServer": self.desired.server.version,
            "schemaVersion": self.desired.server.schema_version,
            "prune": self.options.prune,
            "compared": self.diff is not None,
            "changes": [c.to_json() for c in changes],
            "summary": Counts.of(changes).to_json(),
        }

    def render_text(self) -> str:
        server = self.desired.server
        lines = [
            f"registry: {self.database} (ToolHive Registry Server {server.version}, "
            f"schema version {server.schema_version})"
        ]
        if self.diff is None:
            return "\n".join([*lines, "  not compared yet (apply compares under its lock)"])
        lines += [render_change(c) for c in self.diff.changes]
        counts = Counts.of(self.diff.changes)
        if not self.has_changes:
            lines.append("  no changes")
        lines.append(
            f"  plan: {counts.created} to create, {counts.updated} to update, {counts.deleted} to delete"
            + (f", {counts.kept} kept (not pruned)" if counts.kept else "")
        )
        return "\n".join(lines)


@dataclass
class RegistryResult:
    target: str
    database: str
    revision: str | None
    counts: Counts
    duration_ms: int
    changes: list[Any]

    @property
    def changed(self) -> bool:
        return bool(self.counts.created or self.counts.updated or self.counts.deleted)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "database": self.database,
            "revision": self.revision,
            "outcome": "applied" if self.changed else "unchanged",
            "counts": self.counts.to_json(),
            "duration_ms": self.duration_ms,
            "changes": [c.to_json() for c in self.changes],
        }

    def render_text(self) -> str:
        lines = [f"registry: {self.database}"]
        shown = [c for c in self.changes if c.action != "keep"]
        # `plan` lists everything for review; after the fact a long list helps nobody (--format json has it).
        lines += [render_change(c) for c in shown[:APPLY_LINES_SHOWN]]
        if len(shown) > APPLY_LINES_SHOWN:
            lines.append(f"  ... and {len(shown) - APPLY_LINES_SHOWN} more (--format json lists them all)")
        if self.changed:
            c = self.counts
            lines.append(
                f"  applied: {c.created} created, {c.updated} updated, {c.deleted} deleted"
                f" in {self.duration_ms} ms"
            )
        else:
            lines.append(f"  no changes ({self.duration_ms} ms)")
        return "\n".join(lines)


class RegistryTarget:
    name = "registry"

    def __init__(self) -> None:
        self._desired: dict[int, DesiredState] = {}

    # -- building blocks, usable on their own --

    @staticmethod
    def resolve(inp: RegistryInput, options: TargetOptions) -> DatabaseTarget:
        return resolve_target(
            database_url=options.database_url,
            password_file=options.password_file,
            state_dir=options.state_dir,
            settings=inp.settings,
            registry_config=inp.config,
            repo_root=inp.root,
            embedded=options.embedded,
        )

    @staticmethod
    def plan_options(inp: RegistryInput, options: TargetOptions) -> planner.PlanOptions:
        prune = inp.prune_setting() if options.prune is None else options.prune
        return planner.PlanOptions(prune=prune, allow_empty=options.allow_empty, revision=inp.revision)

    # -- Target interface --

    def plan(self, repo: Any, options: TargetOptions) -> RegistryPlan:
        inp = RegistryInput.from_repository(repo)
        desired = build_desired(inp.config, inp.entries, inp.server())
        db_target = options.extra.get("db_target") or self.resolve(inp, options)
        popts = self.plan_options(inp, options)
        if not options.read_live:
            return RegistryPlan(
                self.name, db_target.describe(), inp.revision, desired, None, popts, db_target
            )
        with connect(db_target) as conn:
            try:
                # One consistent snapshot, and no way to write by accident.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                info = schema.inspect(conn, desired.server)
                live = live_state.load(
                    conn,
                    info,
                    desired.managed_source,
                    popts.revision,
                    desired.version_count(),
                    desired.digest,
                )
                diff = planner.compute(conn, desired, live, popts)
            except psycopg.Error as exc:
                raise TargetError(
                    f"reading {db_target.describe()} failed: {db_target.scrub(str(exc).strip())}"
                ) from None
            finally:
                conn.rollback()
        return RegistryPlan(self.name, db_target.describe(), inp.revision, desired, diff, popts, db_target)

    def apply(self, plan: TargetPlan, options: TargetOptions, hook: Hook | None = None) -> RegistryResult:
        assert isinstance(plan, RegistryPlan)
        return apply_desired(plan.db_target, plan.desired, plan.options, options.lock_timeout, hook)

    def close(self) -> None:
        pass


def apply_desired(
    db_target: DatabaseTarget,
    desired: DesiredState,
    popts: planner.PlanOptions,
    lock_timeout: float = 30.0,
    hook: Hook | None = None,
) -> RegistryResult:
    """Apply in one transaction under the advisory lock. The diff is computed again once the lock is
    held, so a plan made before another apply finished is never applied stale."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    where = db_target.describe()
    conn = connect(db_target)
    try:
        try:
            conn.execute(f"SET LOCAL lock_timeout = '{max(int(lock_timeout * 1000), 1)}ms'")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            except psycopg.errors.LockNotAvailable:
                raise ApplyError(
                    f"another mcp-gitops apply holds the lock on {where}; gave up after {lock_timeout:g} s "
                    f"(nothing was written; retry, or raise --lock-timeout)"
                ) from None
            conn.execute("SET LOCAL lock_timeout = 0")
            info = schema.inspect(conn, desired.server)
            live = live_state.load(
                conn, info, desired.managed_source, popts.revision, desired.version_count(), desired.digest
            )
            diff = planner.compute(conn, desired, live, popts)
            counts = Counts.of(diff.changes)
            has_changes = bool(diff.registry_changes)
            if not has_changes and not diff.bookkeeping.refresh and not diff.bookkeeping.revision_changed:
                # Same revision, nothing to do: write nothing at all.
                conn.rollback()
                return RegistryResult("registry", where, popts.revision, counts, _ms(t0), [])
            if info.kind is schema.SchemaKind.EMPTY:
                schema.create_registry_schema(conn, info.version)
            else:
                schema.ensure_bookkeeping(conn)
            if hook:
                hook("schema")
            Writer(conn, diff, popts.revision, hook).write()
            _record_state(conn, desired, popts.revision, info.version)
            _record_run(
                conn,
                popts.revision,
                started,
                _ms(t0),
                "applied" if has_changes else "unchanged",
                counts,
                None,
            )
            conn.commit()
        except ApplyError:
            conn.rollback()
            raise
        except TargetError:
            conn.rollback()
            raise
        except psycopg.Error as exc:
            _rollback_quietly(conn)
            message = db_target.scrub(str(exc).strip()) or type(exc).__name__
            if isinstance(exc, psycopg.OperationalError) or conn.closed:
                detail = (
                    f"the connection to {where} was lost during apply ({message}); "
                    "the transaction was rolled back"
                )
            else:
                detail = f"apply to {where} failed: {message}; the transaction was rolled back"
            _record_failure(db_target, popts.revision, started, _ms(t0), detail)
            raise ApplyError(detail + ", nothing was written") from None
        except BaseException:
            _rollback_quietly(conn)
            raise
    finally:
        conn.close()
    return RegistryResult("registry", where, popts.revision, counts, _ms(t0), diff.registry_changes)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


def _rollback_quietly(conn: Any) -> None:
    try:
        if not conn.closed:
            conn.rollback()
    except psycopg.Error:
        pass


def _record_state(conn: Any, desired: DesiredState, revision: str | None, schema_version: int) -> None:
    conn.execute(
        "INSERT INTO mcp_gitops.state (singleton, revision, digest, row_format, applied_at)"
        " VALUES (true, %s, %s, %s, now()) ON CONFLICT (singleton) DO UPDATE SET"
        " revision = EXCLUDED.revision, digest = EXCLUDED.digest, row_format = EXCLUDED.row_format,"
        " applied_at = EXCLUDED.applied_at",
        [revision, desired.digest(), live_state.row_format(schema_version)],
    )


def _record_run(
    conn: Any,
    revision: str | None,
    started: datetime,
    duration_ms: int,
    outcome: str,
    counts: Counts,
    error: str | None,
) -> None:
    conn.execute(
        "INSERT INTO mcp_gitops.run"
        " (revision, started_at, duration_ms, outcome, created, updated, deleted, error)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [revision, started, duration_ms, outcome, counts.created, counts.updated, counts.deleted, error],
    )
    conn.execute(
        "DELETE FROM mcp_gitops.run WHERE id <= (SELECT max(id) - %s FROM mcp_gitops.run)", [RUNS_KEPT]
    )


def _record_failure(
    db_target: DatabaseTarget, revision: str | None, started: datetime, ms: int, error: str
) -> None:
    """Best effort, on a fresh connection: the failed transaction itself left nothing behind."""
    try:
        with connect(db_target, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('mcp_gitops.run') IS NOT NULL").fetchone()[0]:
                _record_run(conn, revision, started, ms, "failed", Counts(), error)
    except Exception as exc:  # the database may be gone; the caller reports the original failure
        log.debug("could not record the failed run: %s", db_target.scrub(str(exc)))
