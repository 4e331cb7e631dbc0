"""The `registry` target: the rows ToolHive Registry Server (v1.2.0-v1.5.1) serves, in PostgreSQL."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from reconciler.findings import Finding, Severity
from reconciler.registry_server import NEWEST_VERSION, ServerCapabilities
from reconciler.settings import SETTINGS_FILE
from reconciler.targets import DRIFT_RULE, REGISTRY_OWNER_CONFLICT_RULE, Hook, TargetError, TargetPlan
from reconciler.targets.postgres import live as live_state
from reconciler.targets.postgres import planner, schema
from reconciler.targets.postgres.changes import Counts, Diff, OwnerConflict, render_change
from reconciler.targets.postgres.connection import (
    DatabaseTarget,
    Locator,
    connect,
    locator,
    resolve_target,
)
from reconciler.targets.postgres.desired import DesiredState, EntryItem, build_desired
from reconciler.targets.postgres.errors import (
    ApplyError,
    DesiredStateError,
    LiveStateError,
    OwnerConflictError,
)
from reconciler.targets.postgres.options import RegistryOptions
from reconciler.targets.postgres.writer import Writer

if TYPE_CHECKING:
    from reconciler.repository import Repository
    from reconciler.settings import Settings

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key shared by every mcp-gitops apply to one database ("mcpgitop" in ASCII).
LOCK_KEY = 0x6D63706769746F70
RUNS_KEPT = 100
# Seconds an apply written beside validation waits for a row or table lock before it gives up holding.
HELD_LOCK_TIMEOUT = 0.2
APPLY_LINES_SHOWN = 50


@dataclass(frozen=True)
class RegistryInput:
    """What the registry target reads from a repository, as plain data."""

    config: Mapping[str, Any] | None
    entries: Sequence[EntryItem]
    settings: Settings | None = None
    revision: str | None = None
    root: Path | None = None
    # the repository's ownership identity (reconciler/targets/ownership.py); None: not checked
    owner: str | None = None
    config_path: str | None = None
    # file:line of a repository-chosen database destination, for refusals (connection.locator)
    locate: Locator | None = None

    @classmethod
    def from_repository(
        cls, repo: Repository | RegistryInput, fetched_from: str | None = None
    ) -> RegistryInput:
        """From a loaded `Repository`; the folder on disk (when there is one) is kept to refuse a
        password file inside the repository."""
        if isinstance(repo, RegistryInput):
            return repo
        from reconciler.targets.ownership import repository_identity

        root = getattr(repo.source, "root", None)
        return cls(
            config=repo.config.data if repo.config is not None else None,
            entries=[
                (doc.path, doc.data, f"{doc.digest}#{doc.index}" if doc.digest else None)
                for doc in repo.entries
            ],
            settings=repo.settings,
            revision=repo.revision,
            root=Path(root) if root else None,
            owner=repository_identity(repo, fetched_from),
            config_path=repo.config.path if repo.config is not None else None,
            locate=locator(repo.settings_document, repo.config),
        )

    def server(self) -> ServerCapabilities:
        """The targeted registry server release (`registryServer.version`)."""
        if self.settings is None:
            return ServerCapabilities.of(NEWEST_VERSION)
        return self.settings.registryServer.capabilities()

    def prune_setting(self) -> bool:
        return self.settings is not None and self.settings.prune.registry


@dataclass
class RegistryPlan:
    target: str
    database: str
    revision: str | None
    desired: DesiredState
    diff: Diff | None  # None: not compared yet (RegistryOptions.read_live=False)
    options: planner.PlanOptions
    db_target: DatabaseTarget = field(repr=False)
    owner: str | None = None
    config_path: str | None = None

    @property
    def has_changes(self) -> bool:
        return self.diff is None or bool(self.diff.registry_changes)

    @property
    def compared(self) -> bool:
        return self.diff is not None

    @property
    def destination(self) -> str:
        return self.database

    @property
    def managed(self) -> int:
        return int(self.desired.version_count())

    def findings(self) -> list[Finding]:
        # What refuses a registry apply as a whole (a second managed source, a foreign schema) is raised
        # as a TargetError while planning; rows another repository owns are findings at their file.
        conflicts: list[OwnerConflict] = self.diff.conflicts if self.diff is not None else []
        return [
            self._finding(REGISTRY_OWNER_CONFLICT_RULE, Severity.ERROR, c.path, c.message) for c in conflicts
        ]

    def differences(self) -> list[Finding]:
        if self.diff is None:
            return []
        return [
            self._finding(DRIFT_RULE, Severity.WARNING, change.path, render_change(change).strip())
            for change in self.diff.registry_changes
        ]

    def _finding(self, rule: str, severity: Severity, path: str | None, message: str) -> Finding:
        """A finding at the file a row comes from, else the registry config, else the settings file."""
        where = path or self.config_path
        message = f"registry ({self.database}): {message}"
        return Finding(rule, severity, where or SETTINGS_FILE, 1 if where else 0, 0, message)

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
            "conflicts": [
                {"path": c.path or self.config_path, "message": c.message}
                for c in (self.diff.conflicts if self.diff is not None else [])
            ],
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
        lines += [f"  ! {c.path or self.config_path}: {c.message}" for c in self.diff.conflicts]
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
    # rows declared but owned by another repository (or the API), found under the lock: not written
    conflicts: list[OwnerConflict] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.counts.created or self.counts.updated or self.counts.deleted)

    @property
    def drift(self) -> int:
        return len(self.changes)  # the rows that differed (kept ones are not among them)

    def summary(self) -> dict[str, Any]:
        return {"outcome": "applied" if self.changed else "unchanged", **self.counts.to_json()}

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
        self._last_desired: DesiredState | None = None

    @staticmethod
    def resolve(inp: RegistryInput, options: RegistryOptions) -> DatabaseTarget:
        return resolve_target(
            database_url=options.database_url,
            password_file=options.password_file,
            state_dir=options.state_dir,
            settings=inp.settings,
            registry_config=inp.config,
            repo_root=inp.root,
            embedded=options.embedded,
            locate=inp.locate,
        )

    @staticmethod
    def plan_options(inp: RegistryInput, options: RegistryOptions) -> planner.PlanOptions:
        prune = inp.prune_setting() if options.prune is None else options.prune
        return planner.PlanOptions(prune=prune, allow_empty=options.allow_empty, revision=inp.revision)

    # -- Target interface --

    def plan(self, repo: Repository | RegistryInput, options: RegistryOptions) -> RegistryPlan:
        inp = RegistryInput.from_repository(repo, options.fetched_from)
        with _located(inp.config_path):
            return self._plan(inp, options)

    def _plan(self, inp: RegistryInput, options: RegistryOptions) -> RegistryPlan:
        if inp.config is None:
            raise TargetError(
                "the repository has no registry config, which the registry target needs; a repository "
                "of manifests only selects the cluster alone (`targets: [cluster]` or --target cluster)",
                reason="NoRegistryConfig",
            )
        # The daemon plans every cycle with the same target: files unchanged since the last plan give
        # the same versions, taken from it.
        desired = build_desired(inp.config, inp.entries, inp.server(), self._last_desired)
        self._last_desired = desired
        db_target = self.resolve(inp, options)
        popts = self.plan_options(inp, options)
        if not options.read_live:
            return RegistryPlan(
                self.name,
                db_target.describe(),
                inp.revision,
                desired,
                None,
                popts,
                db_target,
                inp.owner,
                inp.config_path,
            )
        with connect(db_target) as conn:
            try:
                # One consistent snapshot, and no way to write by accident.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                set_timeouts(conn, options.lock_timeout, options.statement_timeout)
                info = schema.inspect(conn, desired.server)
                live = live_state.load(
                    conn,
                    info,
                    desired.managed_source,
                    popts.revision,
                    desired.version_count(),
                    desired.digest,
                    inp.owner,
                )
                diff = planner.compute(conn, desired, live, popts)
            except psycopg.Error as exc:
                raise database_error(f"reading {db_target.describe()}", db_target, exc, conn) from None
            finally:
                conn.rollback()
        return RegistryPlan(
            self.name,
            db_target.describe(),
            inp.revision,
            desired,
            diff,
            popts,
            db_target,
            inp.owner,
            inp.config_path,
        )

    def apply(self, plan: TargetPlan, options: RegistryOptions, hook: Hook | None = None) -> RegistryResult:
        """Write and commit (`write_desired`); rows another repository owns are left out and raised,
        after the commit, as OwnerConflictError carrying the result."""
        held = self._write(plan, options, hook, wait=True)
        assert held is not None  # it waits for the lock
        return held.commit()

    def hold(self, plan: TargetPlan, options: RegistryOptions) -> HeldRegistryApply | None:
        """The apply written beside validation, uncommitted; None (apply after validation) when the
        database is the embedded one (not started for a repository that may not validate), or one the
        repository names (contacted only for a repository that validated), when another session holds
        a lock it needs (waited for only once the write is known to be wanted), or after a connection
        or database error (met again, reported and recorded by the apply after validation)."""
        assert isinstance(plan, RegistryPlan)
        if plan.db_target.embedded or plan.db_target.named_by_repository:
            return None
        return self._write(plan, options, None, wait=False)

    def _write(
        self, plan: TargetPlan, options: RegistryOptions, hook: Hook | None, *, wait: bool
    ) -> HeldRegistryApply | None:
        assert isinstance(plan, RegistryPlan)
        with _located(plan.config_path):
            return write_desired(
                plan.db_target,
                plan.desired,
                plan.options,
                options.lock_timeout,
                hook,
                options.statement_timeout,
                plan.owner,
                wait=wait,
            )

    def probe(self, options: RegistryOptions) -> str | None:
        """Connects to the database the options name (the repository's settings may name another one:
        the cycle's own result then tells)."""
        from reconciler.targets.postgres.connection import URL_ENV

        if not (options.database_url or os.environ.get(URL_ENV)):
            return None
        try:
            db_target = resolve_target(database_url=options.database_url, password_file=options.password_file)
            with connect(db_target, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except TargetError as exc:
            return str(exc)
        except psycopg.Error as exc:
            return str(exc).strip()
        return None

    def close(self) -> None:
        self._last_desired = None


@contextmanager
def _located(config_path: str | None) -> Iterator[None]:
    """What the repository's content or the database's live state refuses is placed at the registry
    config when nothing more precise (an entry file) is known."""
    try:
        yield
    except (DesiredStateError, LiveStateError) as exc:
        if not exc.locations and config_path:
            exc.locations = [(config_path, 1)]
        raise


def set_timeouts(conn: Any, lock_timeout: float, statement_timeout: float) -> None:
    """Bound every wait of this transaction: a row or table lock another session holds, and a
    statement that runs away (SET LOCAL: they end with the transaction)."""
    conn.execute(f"SET LOCAL lock_timeout = '{max(int(lock_timeout * 1000), 1)}ms'")
    conn.execute(f"SET LOCAL statement_timeout = '{max(int(statement_timeout * 1000), 1)}ms'")


def database_error(doing: str, db_target: DatabaseTarget, exc: psycopg.Error, conn: Any) -> TargetError:
    """A psycopg error as a TargetError that says whether a retry may help: lost connections (whatever
    error the server sent as it closed `conn`: a shutdown, an idle-transaction timeout), lock and
    statement timeouts, and a server starting up or shutting down are retryable; the rest is not."""
    message = db_target.scrub(str(exc).strip()) or type(exc).__name__
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return TargetError(
            f"{doing}: gave up waiting for a lock another session holds ({message})",
            retryable=True,
            reason="LockTimeout",
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return TargetError(f"{doing}: statement timed out ({message})", retryable=True, reason="Timeout")
    if isinstance(exc, psycopg.OperationalError) or conn.closed:
        return TargetError(f"{doing} failed: {message}", retryable=True, reason="Unreachable")
    return TargetError(f"{doing} failed: {message}")


def write_desired(
    db_target: DatabaseTarget,
    desired: DesiredState,
    popts: planner.PlanOptions,
    lock_timeout: float = 30.0,
    hook: Hook | None = None,
    statement_timeout: float = 300.0,
    owner: str | None = None,
    wait: bool = True,
) -> HeldRegistryApply | None:
    """The apply, in one transaction under the advisory lock, short of its commit: the transaction
    stays open, holding the lock, until the result's `commit` or `discard`. The diff is computed again
    once the lock is held, so a plan made before another apply finished is never applied stale. Every
    wait is bounded: the advisory lock and then any row or table lock by `lock_timeout`, each statement
    by `statement_timeout`; giving up rolls back, which releases the advisory lock too. `wait=False`
    (beside validation): None at once when the server cannot be reached, when another apply holds the
    advisory lock or another session a row or table lock for `HELD_LOCK_TIMEOUT`, and after any
    database error (the apply after validation meets it again, and reports it)."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    where = db_target.describe()
    try:
        conn = connect(db_target)
    except TargetError:
        if wait:
            raise
        return None  # the apply after validation connects again, and says why it cannot
    transaction = _Transaction(conn, db_target, popts.revision, started, t0, lock_timeout, holding=not wait)
    try:
        with transaction.failures():
            if not wait:
                # Beside validation, nothing is waited for: a lock another session holds ends the
                # holding at once (the apply after validation waits for it, as always), and the
                # server must not end this transaction while it sits idle until validation is done.
                set_timeouts(conn, min(lock_timeout, HELD_LOCK_TIMEOUT), statement_timeout)
                conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY]).fetchone()[0]:
                    transaction.discard()
                    return None
            else:
                set_timeouts(conn, lock_timeout, statement_timeout)
                try:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                except psycopg.errors.LockNotAvailable:
                    raise ApplyError(
                        f"another mcp-gitops apply holds the lock on {where}; gave up after "
                        f"{lock_timeout:g} s (nothing was written; retry, or raise --lock-timeout)",
                        retryable=True,
                        reason="LockTimeout",
                    ) from None
            info = schema.inspect(conn, desired.server)
            live = live_state.load(
                conn,
                info,
                desired.managed_source,
                popts.revision,
                desired.version_count(),
                desired.digest,
                owner,
            )
            diff = planner.compute(conn, desired, live, popts)
            counts = Counts.of(diff.changes)
            has_changes = bool(diff.registry_changes)
            if not has_changes and not diff.bookkeeping.pending:
                # Same revision, nothing to do: write nothing at all.
                transaction.discard()
                unchanged = RegistryResult(
                    "registry", where, popts.revision, counts, _ms(t0), [], diff.conflicts
                )
                return HeldRegistryApply(unchanged, None)
            if info.kind is schema.SchemaKind.EMPTY:
                schema.create_registry_schema(conn, info.version)
            else:
                schema.ensure_bookkeeping(conn)
            if hook:
                hook("schema")
            with schema.foreign_keys_checked_at_end(conn, info.kind is schema.SchemaKind.EMPTY):
                Writer(conn, diff, popts.revision, hook, live_state.owner_key(owner)).write()
            schema.refresh_statistics(conn, counts.created + counts.deleted)
            _record_state(conn, desired, popts.revision, info.version, owner)
            _record_run(
                conn,
                popts.revision,
                started,
                _ms(t0),
                "applied" if has_changes else "unchanged",
                counts,
                None,
            )
    except _NotHeld:
        transaction.discard()
        return None
    except BaseException:
        transaction.discard()
        raise
    result = RegistryResult(
        "registry", where, popts.revision, counts, _ms(t0), diff.registry_changes, diff.conflicts
    )
    return HeldRegistryApply(result, transaction)


class _NotHeld(Exception):
    """A database error while an apply was written beside validation (`write_desired(wait=False)`)."""


class _Transaction:
    """The open transaction of one apply, and what a database error in it becomes."""

    def __init__(
        self,
        conn: Any,
        db_target: DatabaseTarget,
        revision: str | None,
        started: datetime,
        t0: float,
        lock_timeout: float,
        holding: bool,
    ) -> None:
        self.conn, self.db_target, self.revision = conn, db_target, revision
        self.started, self.t0, self.lock_timeout = started, t0, lock_timeout
        # written beside validation: nothing may be written to the database (not even a failed run)
        # before the repository is known to validate
        self.holding = holding

    @contextmanager
    def failures(self) -> Iterator[None]:
        """A psycopg error as an ApplyError saying the transaction was rolled back (and recorded as a
        failed run, on a connection of its own). While holding, `_NotHeld` instead: the apply after
        validation meets the error again, and reports and records it, for a repository that validates."""
        try:
            yield
        except psycopg.Error as exc:
            _rollback_quietly(self.conn)
            if self.holding:
                raise _NotHeld from None
            where = self.db_target.describe()
            failure = database_error(f"apply to {where}", self.db_target, exc, self.conn)
            if isinstance(exc, psycopg.errors.LockNotAvailable):
                detail = (
                    f"apply to {where}: a row or table lock another session holds was not released "
                    f"within {self.lock_timeout:g} s; the transaction was rolled back and the advisory lock "
                    "released"
                )
            elif isinstance(exc, psycopg.OperationalError) or self.conn.closed:
                detail = (
                    f"the connection to {where} was lost during apply ({failure}); "
                    "the transaction was rolled back"
                )
            else:
                detail = f"{failure}; the transaction was rolled back"
            _record_failure(self.db_target, self.revision, self.started, _ms(self.t0), detail)
            raise ApplyError(
                detail + ", nothing was written", retryable=failure.retryable, reason=failure.reason
            ) from None

    def commit(self) -> None:
        self.holding = False  # the apply is wanted now: a failure to commit is reported
        try:
            with self.failures():
                self.conn.commit()
        finally:
            self.conn.close()

    def discard(self) -> None:
        _rollback_quietly(self.conn)
        self.conn.close()


@dataclass
class HeldRegistryApply:
    """A registry apply written and not committed (`write_desired`); `transaction` None: nothing to
    commit (no changes)."""

    result: RegistryResult
    transaction: _Transaction | None

    def commit(self) -> RegistryResult:
        """Commit; rows this repository declares and another one owns were left out, and are raised
        now as OwnerConflictError carrying the result."""
        if self.transaction is not None:
            transaction, self.transaction = self.transaction, None
            transaction.commit()
        result = self.result
        if result.conflicts:
            # what this repository owns was applied; what it declares and does not own is reported
            # where it declares it
            raise OwnerConflictError(
                "; ".join(c.message for c in result.conflicts),
                reason="OwnerConflict",
                partial=result,
                locations=sorted({(c.path, 1) for c in result.conflicts if c.path}),
                rule=REGISTRY_OWNER_CONFLICT_RULE,
            )
        return result

    def discard(self) -> None:
        if self.transaction is not None:
            transaction, self.transaction = self.transaction, None
            transaction.discard()


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


def _rollback_quietly(conn: Any) -> None:
    try:
        if not conn.closed:
            conn.rollback()
    except psycopg.Error:
        pass


def _record_state(
    conn: Any, desired: DesiredState, revision: str | None, schema_version: int, owner: str | None
) -> None:
    """The owner's last successful apply: what lets its next plan skip the per-row reads."""
    conn.execute(
        "INSERT INTO mcp_gitops.state (owner, revision, digest, row_format, applied_at)"
        " VALUES (%s, %s, %s, %s, now()) ON CONFLICT (owner) DO UPDATE SET"
        " revision = EXCLUDED.revision, digest = EXCLUDED.digest, row_format = EXCLUDED.row_format,"
        " applied_at = EXCLUDED.applied_at",
        [live_state.owner_key(owner), revision, desired.digest(), live_state.row_format(schema_version)],
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
