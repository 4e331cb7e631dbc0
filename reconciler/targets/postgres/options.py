"""The registry target's options (no client library imported: the CLI builds them before any target
is loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RegistryOptions:
    """How the registry target plans and applies; the command line and the daemon fill it in."""

    # None: the repository's settings file (`prune.registry`)
    prune: bool | None = None
    allow_empty: bool = False
    database_url: str | None = None
    password_file: str | None = None
    state_dir: Path | None = None
    # use the embedded PostgreSQL even when the environment or settings file names a database
    embedded: bool = False
    # Seconds to wait for the advisory lock (another apply), and then for any row or table lock.
    lock_timeout: float = 30.0
    # Seconds any one statement may run once the lock is held; a stuck statement ends the apply.
    statement_timeout: float = 300.0
    # False: `plan` only prepares the desired state and leaves reading the live state to `apply`, which
    # compares again once it holds its lock anyway (what the `apply` command and the daemon do: one read,
    # not two; the result then says what differed).
    read_live: bool = True
    # The remote URL the repository was fetched from (the daemon's Git source), for the default
    # ownership identity; None: the repository folder's own Git remote.
    fetched_from: str | None = None
