"""Options and error handling the commands share."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


# Passwords the commands may hold in their environment; `scrub` keeps them off the terminal.
SECRET_ENVS = (
    "THV_REGISTRY_DATABASE_PASSWORD",
    "MCP_GITOPS_DATABASE_PASSWORD",
    "MCP_GITOPS_REDIS_PASSWORD",
    "THV_SESSION_REDIS_PASSWORD",
)


def scrub(text: str) -> str:
    """Last line of defence: no password from the environment reaches the terminal."""
    for name in SECRET_ENVS:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, "***")
    return text


def fail(message: str) -> NoReturn:
    """A usage or tool error: one line on stderr, exit 2 (file names and values from the repository in
    the message are escaped: it stays one line, with no terminal escape)."""
    from reconciler.findings import printable

    click.echo(f"mcp-gitops: error: {printable(scrub(message))}", err=True)
    sys.exit(EXIT_ERROR)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn the pipeline's known failures into exit 2 with their message, never a traceback."""
    from reconciler.policy.loader import PolicyError
    from reconciler.policy.token import TokenError
    from reconciler.source import SourceError

    try:
        yield
    except (SourceError, PolicyError) as exc:
        fail(str(exc))
    except TokenError as exc:
        fail(f"token: {exc}")


def repo_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("repo", default=".", type=click.Path(file_okay=False))(func)


def rev_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--rev", default=None, metavar="REV", help="Validate this Git revision instead of the working tree."
    )(func)
    return func
