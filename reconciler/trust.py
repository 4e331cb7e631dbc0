"""The operator's side of the trust boundary (docs/threat-model.md).

The configuration repository arrives through pull requests and is untrusted. Secrets the operator holds
(a database password, a Redis password, cluster credentials) are sent only to a destination that also
comes from the operator: a flag, the environment, or the operator config file (`--operator-config` /
$MCP_GITOPS_OPERATOR_CONFIG, outside the repository), or that matches the allow-list the operator gives
(`--allow-database-host`, `--allow-redis-host`, or the same lists in the environment or operator config).
A destination the repository names that is not allowed is refused before any connection is made.

Commands build one `OperatorTrust` from their flags and `install()` it; the layers that connect read
it with `installed()`, which without an installed value takes the environment alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.operator_env import ALLOW_DATABASE_ENV, ALLOW_REDIS_ENV, OPERATOR_CONFIG_ENV

# An operator config is a few lines; anything bigger is not one.
MAX_OPERATOR_CONFIG_BYTES = 64 * 1024


class TrustError(Exception):
    """The operator's own settings are unusable, or the repository chose a destination the operator did
    not allow. The message says which, and where."""


@dataclass(frozen=True)
class HostRule:
    """`host` (any port) or `host:port`; `[v6]:port` for IPv6. Host names compare case-insensitively."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostRule:
        text = text.strip()
        if not text:
            raise TrustError("an allowed host is empty")
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        else:  # a bare host, an IPv6 address without brackets, or a Unix socket folder
            host, port_text = text, ""
        if not port_text:
            return cls(host.lower())
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise TrustError(f"allowed host {text!r}: the port must be a number from 1 to 65535")
        return cls(host.lower(), int(port_text))

    def matches(self, host: str, port: int | None) -> bool:
        return host.lower() == self.host and (self.port is None or self.port == port)

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _DatabaseSection(_Strict):
    url: str | None = None
    passwordFile: str | None = None
    allowHosts: list[str] = []


class _RedisSection(_Strict):
    allowHosts: list[str] = []


class _OperatorFile(_Strict):
    database: _DatabaseSection = _DatabaseSection()
    redis: _RedisSection = _RedisSection()


@dataclass(frozen=True)
class OperatorTrust:
    """What the operator says about destinations; never read from the repository."""

    database_url: str | None = None
    database_url_origin: str = ""
    password_file: str | None = None
    database_hosts: tuple[HostRule, ...] = ()
    redis_hosts: tuple[HostRule, ...] = ()

    def allows_database(self, host: str, port: int | None) -> bool:
        return any(rule.matches(host, port) for rule in self.database_hosts)

    def allows_redis(self, host: str, port: int | None) -> bool:
        return any(rule.matches(host, port) for rule in self.redis_hosts)


def _rules(values: Iterable[str]) -> tuple[HostRule, ...]:
    return tuple(HostRule.parse(v) for value in values for v in value.split(",") if v.strip())


def _read_operator_file(path_text: str, repo_root: Path | None) -> _OperatorFile:
    path = Path(path_text).expanduser()
    if repo_root is not None and path.resolve().is_relative_to(repo_root.resolve()):
        raise TrustError(
            f"the operator config {path_text} is inside the configuration repository; it must be the "
            "operator's own file, which a pull request cannot change"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_OPERATOR_CONFIG_BYTES + 1)
    except OSError as exc:
        raise TrustError(f"cannot read the operator config {path_text}: {exc.strerror}") from None
    if len(raw) > MAX_OPERATOR_CONFIG_BYTES:
        raise TrustError(f"the operator config {path_text} is larger than {MAX_OPERATOR_CONFIG_BYTES} bytes")
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(raw.decode("utf-8"))
    except (YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrustError(f"the operator config {path_text} does not parse: {reason}") from None
    try:
        return _OperatorFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TrustError(f"the operator config {path_text}: {where}: {first['msg']}") from None


def load(
    config_file: str | None = None,
    allow_database: Sequence[str] = (),
    allow_redis: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    repo_root: Path | None = None,
) -> OperatorTrust:
    """Flags first, then the environment; allow-lists from all three places add up."""
    env = os.environ if env is None else env
    config_file = config_file or env.get(OPERATOR_CONFIG_ENV) or None
    section = _OperatorFile()
    if config_file:
        section = _read_operator_file(config_file, repo_root)
    return OperatorTrust(
        database_url=section.database.url,
        database_url_origin=f"database.url in the operator config {config_file}",
        password_file=section.database.passwordFile,
        database_hosts=_rules(
            [*allow_database, env.get(ALLOW_DATABASE_ENV, ""), *section.database.allowHosts]
        ),
        redis_hosts=_rules([*allow_redis, env.get(ALLOW_REDIS_ENV, ""), *section.redis.allowHosts]),
    )


_installed: OperatorTrust | None = None


def install(trust: OperatorTrust) -> None:
    """Make `trust` what every connecting layer of this process consults."""
    global _installed
    _installed = trust


def installed() -> OperatorTrust:
    """The installed value; without one (a library caller), what the environment alone says."""
    return _installed if _installed is not None else load()
