"""Which database `plan`/`apply` talk to, and with which password, without ever showing the password.

Target, first match wins: `--database-url`, $MCP_GITOPS_DATABASE_URL, `database.url` of the operator
config (reconciler/trust.py), the repository's settings file (`database.url`, or
`database.fromRegistryConfig: true` for the registry config's `database` block), and with none of these
the embedded PostgreSQL. Password, first match wins: $THV_REGISTRY_DATABASE_PASSWORD (the registry
server's own variable), $MCP_GITOPS_DATABASE_PASSWORD, a password file (`--password-file` or the operator
config's `database.passwordFile`; never one the repository names), then libpq's pgpass ($PGPASSFILE or
~/.pgpass). A URL that embeds a password is refused: it would end up in shell history, process lists and
Git.

The repository is untrusted: a destination it names (host and port, from the settings or the registry
config) is used only when it matches the operator's allow-list; otherwise the target is refused before
any connection, so no password (given, from pgpass, or $PGPASSWORD) can reach a host a pull request chose.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import secrets
from reconciler.operator_env import ALLOW_DATABASE_ENV
from reconciler.targets.postgres.errors import ConnectionConfigError
from reconciler.trust import OperatorTrust, installed, load

URL_ENV = "MCP_GITOPS_DATABASE_URL"
PASSWORD_ENVS = ("THV_REGISTRY_DATABASE_PASSWORD", "MCP_GITOPS_DATABASE_PASSWORD")
PASSWORD_HINT = (
    "put the password in $THV_REGISTRY_DATABASE_PASSWORD or $MCP_GITOPS_DATABASE_PASSWORD, in a password "
    "file (--password-file, or database.passwordFile in the operator config), or in ~/.pgpass"
)
# Logical places of a repository-chosen destination, for `Locator`.
SETTINGS_URL = "settings:database.url"
CONFIG_HOST = "config:database.host"
# "file:line" of a logical place, when the caller has the repository's documents at hand.
Locator = Callable[[str], str | None]


class Secret:
    """A password that never prints itself (repr, str, logs, tracebacks with locals)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        secrets.register(value)  # kept out of every output and log line, whichever path prints it

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved target. `conninfo` never holds a password."""

    conninfo: str | None  # None: the embedded server, started on connect
    origin: str
    password: Secret | None = None
    state_dir: Path | None = None
    # the repository's settings or registry config chose it (among the destinations the operator allows)
    named_by_repository: bool = False

    @property
    def embedded(self) -> bool:
        return self.conninfo is None

    def describe(self) -> str:
        """host/port/database for messages; no password can be in it."""
        if self.conninfo is None:
            return f"embedded PostgreSQL in {self.state_dir}"
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self.conninfo)
        host = parts.get("host") or "localhost"
        port = parts.get("port") or "5432"
        return f"{parts.get('dbname') or parts.get('user') or ''} on {host}:{port} (from {self.origin})"

    def scrub(self, text: str) -> str:
        return self.password.scrub(text) if self.password else text


def _check_no_password(conninfo: str, origin: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:
        # The parser's message may quote the string, password and all: say only where it came from.
        raise ConnectionConfigError(
            f"the database URL from {origin} is not a valid connection string"
        ) from None
    if parts.get("password"):
        raise ConnectionConfigError(
            f"the database URL from {origin} embeds a password, which mcp-gitops refuses; remove it from "
            f"the URL and {PASSWORD_HINT}"
        )
    return conninfo


def _from_registry_config(config: Mapping[str, Any] | None) -> str:
    from psycopg.conninfo import make_conninfo

    block = (config or {}).get("database")
    if not isinstance(block, Mapping):
        raise ConnectionConfigError(
            "mcp-gitops.yaml says database.fromRegistryConfig, but the registry config has no database block"
        )
    missing = [k for k in ("host", "port", "user", "database") if block.get(k) in (None, "")]
    if missing:
        raise ConnectionConfigError(f"the registry config's database block lacks {', '.join(missing)}")
    if "password" in block or "migrationPassword" in block:
        raise ConnectionConfigError(f"the registry config's database block holds a password; {PASSWORD_HINT}")
    return make_conninfo(
        host=str(block["host"]),
        port=str(block["port"]),
        user=str(block["user"]),
        dbname=str(block["database"]),
        # the registry server's default
        sslmode=str(block.get("sslMode") or "require"),
    )


def _read_password_file(path_text: str, repo_root: Path | None) -> Secret:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        raise ConnectionConfigError(f"the password file {path_text} must be an absolute path")
    if repo_root is not None:
        resolved = path.resolve()
        if resolved.is_relative_to(repo_root.resolve()):
            raise ConnectionConfigError(
                f"the password file {path_text} is inside the config repository; "
                "passwords never come from Git"
            )
    try:
        value = path.read_text().strip("\r\n")
    except OSError as exc:
        raise ConnectionConfigError(f"cannot read the password file {path_text}: {exc.strerror}") from None
    return Secret(value)


def resolve_password(
    password_file: str | None, env: Mapping[str, str], repo_root: Path | None
) -> Secret | None:
    for name in PASSWORD_ENVS:
        if env.get(name):
            return Secret(env[name])
    if password_file:
        return _read_password_file(password_file, repo_root)
    return None  # libpq falls back to pgpass on its own


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the embedded PostgreSQL lives: $MCP_GITOPS_STATE_DIR, else $XDG_STATE_HOME/mcp-gitops/postgres,
    else ~/.local/state/mcp-gitops/postgres."""
    env = os.environ if env is None else env
    if env.get("MCP_GITOPS_STATE_DIR"):
        return Path(env["MCP_GITOPS_STATE_DIR"]).expanduser()
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return base / "mcp-gitops" / "postgres"


# What a repository-chosen connection string may set. Anything else (passfile, service, sslkey,
# sslrootcert, options, ...) would let the repository make libpq read the operator's files or change
# how the operator's credentials are used: refused.
_REPOSITORY_KEYS = frozenset(
    {"host", "hostaddr", "port", "dbname", "user", "sslmode", "connect_timeout", "application_name"}
)


# libpq modes that may send the password without TLS (prefer falls back to plain text, and is the default).
_PLAINTEXT_SSLMODES = frozenset({"disable", "allow", "prefer"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _destinations(parts: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every (host, port) libpq could dial: each `host` and each `hostaddr` (which, when given, is what
    is dialled); no host means the local socket, no port 5432."""
    ports = str(parts.get("port") or "").split(",")
    found: list[tuple[str, int]] = []
    for key in ("host", "hostaddr"):
        if key == "host" or parts.get(key):
            for index, host in enumerate(str(parts.get(key) or "localhost").split(",")):
                port_text = (ports[index] if index < len(ports) else ports[-1]).strip()
                found.append((host.strip(), int(port_text) if port_text.isdigit() else 5432))
    return found


def _check_repository_destination(conninfo: str, origin: str, trust: OperatorTrust) -> None:
    """Refuse a destination the repository chose unless the operator allowed it."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(conninfo)
    extra = sorted(set(parts) - _REPOSITORY_KEYS)
    if extra:
        raise ConnectionConfigError(
            f"{origin} sets {', '.join(extra)}, which the repository may not choose (only "
            f"{', '.join(sorted(_REPOSITORY_KEYS))}); refusing before connecting"
        )
    destinations = _destinations(parts)
    for host, port in destinations:
        if not trust.allows_database(host, port):
            raise ConnectionConfigError(
                f"{origin} sends the database connection to {host}:{port}, which the operator has not "
                f"allowed; refusing before connecting (a pull request must not choose where the "
                f"operator's password goes). Name the database yourself (--database-url, "
                f"${URL_ENV}, or --operator-config) or allow it (--allow-database-host {host}, "
                f"${ALLOW_DATABASE_ENV})"
            )
    sslmode = str(parts.get("sslmode") or "prefer")
    remote = [host for host, _ in destinations if not (host.startswith("/") or host in _LOCAL_HOSTS)]
    if sslmode in _PLAINTEXT_SSLMODES and remote:
        raise ConnectionConfigError(
            f"{origin} uses sslmode={sslmode} towards {remote[0]}, which may send the password without "
            "TLS; a destination the repository chooses needs sslmode=require, verify-ca or verify-full "
            "(or name the database yourself: --database-url, --operator-config)"
        )


def resolve_target(
    *,
    database_url: str | None = None,
    password_file: str | None = None,
    state_dir: Path | None = None,
    settings: Any = None,
    registry_config: Mapping[str, Any] | None = None,
    repo_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    embedded: bool = False,
    trust: OperatorTrust | None = None,
    locate: Locator | None = None,
) -> DatabaseTarget:
    """The database to use, by the precedence in this module's docstring (`embedded` forces the embedded
    server over the environment and the settings file). `trust` defaults to the installed operator
    trust (or, given `env`, to what `env` says); `locate` turns a repository place into file:line."""
    if trust is None:
        trust = installed() if env is None else load(env=env)
    env = os.environ if env is None else env
    if embedded:
        if database_url:
            raise ConnectionConfigError(
                "--embedded and --database-url name two different databases; pick one"
            )
        return DatabaseTarget(None, "embedded", None, state_dir or default_state_dir(env))
    db_settings = getattr(settings, "database", None)
    password_file = password_file or trust.password_file

    def where(place: str, fallback: str) -> str:
        found = locate(place) if locate else None
        return f"{found}: {fallback}" if found else fallback

    conninfo: str | None
    named_by_repository = False
    if database_url:
        origin = "--database-url"
        conninfo = _check_no_password(database_url, origin)
    elif env.get(URL_ENV):
        origin = f"${URL_ENV}"
        conninfo = _check_no_password(env[URL_ENV], origin)
    elif trust.database_url:
        origin = trust.database_url_origin
        conninfo = _check_no_password(trust.database_url, origin)
    elif settings_url := getattr(db_settings, "url", None):
        origin = where(SETTINGS_URL, "database.url in mcp-gitops.yaml")
        conninfo = _check_no_password(settings_url, origin)
        _check_repository_destination(conninfo, origin, trust)
        named_by_repository = True
    elif getattr(db_settings, "fromRegistryConfig", False):
        origin = where(CONFIG_HOST, "the registry config's database block")
        conninfo = _from_registry_config(registry_config)
        _check_repository_destination(conninfo, origin, trust)
        named_by_repository = True
    else:
        return DatabaseTarget(None, "embedded", None, state_dir or default_state_dir(env))
    password = resolve_password(password_file, env, repo_root)
    return DatabaseTarget(conninfo, origin, password, named_by_repository=named_by_repository)


def locator(settings_document: Any, config_document: Any) -> Locator:
    """file:line of a repository-chosen destination, from the loaded documents (either may be None)."""

    def locate(place: str) -> str | None:
        document = settings_document if place == SETTINGS_URL else config_document
        if document is None:
            return None
        field = ("database", "url") if place == SETTINGS_URL else ("database", "host")
        line, _column = document.locate(field)
        return f"{document.path}:{line}"

    return locate


def connect(target: DatabaseTarget, *, autocommit: bool = False) -> Any:
    """A psycopg connection to the target; errors carry no password."""
    import psycopg

    from reconciler.targets.postgres import embedded

    conninfo = target.conninfo
    if conninfo is None:
        assert target.state_dir is not None
        conninfo = embedded.ensure_running(target.state_dir)
    kwargs: dict[str, Any] = {"application_name": "mcp-gitops", "connect_timeout": 10}
    if target.password is not None:
        kwargs["password"] = target.password.reveal()
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        message = target.scrub(str(exc).strip())
        raise ConnectionConfigError(
            f"cannot connect to {target.describe()}: {message}", retryable=True, reason="Unreachable"
        ) from None
