"""The flags through which the operator (never the repository) says where secrets may go
(reconciler/trust.py), shared by `plan`, `apply`, `sessions` and `run`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler.commands.common import fail
from reconciler.operator_env import ALLOW_DATABASE_ENV, ALLOW_REDIS_ENV, OPERATOR_CONFIG_ENV


def operator_options(*, database: bool, redis: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    options = [
        click.option(
            "--operator-config",
            default=None,
            type=click.Path(dir_okay=False),
            help=f"The operator's own settings file, outside the repository (else ${OPERATOR_CONFIG_ENV}): "
            "database.url, database.passwordFile, database.allowHosts, redis.allowHosts.",
        )
    ]
    if database:
        options.append(
            click.option(
                "--allow-database-host",
                "allow_database_hosts",
                multiple=True,
                metavar="HOST[:PORT]",
                help="A database host the repository may choose (settings or registry config); "
                f"repeatable, also ${ALLOW_DATABASE_ENV} (comma-separated). Others are refused.",
            )
        )
    if redis:
        options.append(
            click.option(
                "--allow-redis-host",
                "allow_redis_hosts",
                multiple=True,
                metavar="HOST[:PORT]",
                help="A Redis address from the manifests that may receive the operator's Redis password; "
                f"repeatable, also ${ALLOW_REDIS_ENV} (comma-separated). Others are refused.",
            )
        )

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def install_trust(opts: dict[str, Any], repo_root: str | Path | None) -> None:
    """Build the operator trust from the flags and the environment, pop those flags from `opts`, and
    install it for this process; a bad operator config is exit 2."""
    from reconciler import trust

    try:
        trust.install(
            trust.load(
                opts.pop("operator_config", None),
                opts.pop("allow_database_hosts", ()),
                opts.pop("allow_redis_hosts", ()),
                repo_root=Path(repo_root) if repo_root else None,
            )
        )
    except trust.TrustError as exc:
        fail(str(exc))
