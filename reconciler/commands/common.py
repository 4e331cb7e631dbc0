"""Options and error handling the commands share."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from reconciler import secrets

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


# Every output goes through the one scrubber (reconciler/secrets.py).
scrub = secrets.scrub


def fail(message: str) -> NoReturn:
    """A usage or tool error: one line on stderr, exit 2 (file names and values from the repository in
    the message are escaped: it stays one line, with no terminal escape)."""
    from reconciler.findings import printable

    click.echo(f"mcp-gitops: error: {printable(scrub(message))}", err=True)
    sys.exit(EXIT_ERROR)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn the pipeline's known failures into exit 2 with their message, never a traceback."""
    try:
        yield
    except Exception as exc:
        # Imported only here: entered before the pipeline is imported (the source's blobs are being
        # read meanwhile), it must not import it itself.
        from reconciler.policy.loader import PolicyError
        from reconciler.policy.token import TokenError
        from reconciler.source import SourceError

        if isinstance(exc, (SourceError, PolicyError)):
            fail(str(exc))
        if isinstance(exc, TokenError):
            fail(f"token: {exc}")
        raise


def find_root(start: str) -> str:
    """The configuration repository holding `start`: the nearest folder upwards with the settings
    file, else the Git work tree's top, else `start` itself (so a command run from a subfolder works
    on the whole repository, as git does)."""
    from reconciler.settings import SETTINGS_FILE

    here = os.path.abspath(start)
    for folder in (here, *_parents(here)):
        if os.path.isfile(os.path.join(folder, SETTINGS_FILE)) or os.path.exists(
            os.path.join(folder, ".git")
        ):
            return _display(folder)
    return _display(here)


def _parents(path: str) -> Iterator[str]:
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return
        yield parent
        path = parent


def _display(folder: str) -> str:
    """A folder as the user would type it: relative to the current folder when inside it."""
    relative = os.path.relpath(folder)
    return folder if relative.startswith("..") else relative


def _root_default(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    return value if value is not None else find_root(".")


def repo_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument(
        "repo", required=False, default=None, type=click.Path(file_okay=False), callback=_root_default
    )(func)


def verbosity_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`-q` (only the exit code and errors) and `-v` (more detail), as most CLIs have them."""
    func = click.option("-v", "--verbose", is_flag=True, help="Say more: every step and its timing.")(func)
    return click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors; the exit code tells.")(
        func
    )


def rev_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--rev", default=None, metavar="REV", help="Validate this Git revision instead of the working tree."
    )(func)
    return func


def crd_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--crds` and `--crds-from-cluster`: where the operator's CRDs come from (docs/crds.md)."""
    func = click.option(
        "--crds-from-cluster",
        is_flag=True,
        help="Read the CRDs from the cluster (--kubeconfig/--context, $KUBECONFIG, the service account "
        "or ~/.kube/config) when no --crds or crds: setting names them.",
    )(func)
    func = click.option(
        "--crds",
        multiple=True,
        metavar="PATH|URL",
        envvar="MCP_GITOPS_CRDS",
        help="CRD file, folder, or HTTPS URL ({version} = toolhive.operatorVersion) to check manifests "
        "against; repeatable. Env: MCP_GITOPS_CRDS (paths separated by ':'). Overrides crds: in the "
        "settings.",
    )(func)
    return func


def crd_choice(
    crds: tuple[str, ...], from_cluster: bool, kubeconfig: str | None = None, context: str | None = None
) -> Any:
    """The CrdOptions of the command line."""
    from reconciler.crds.sources import CrdOptions

    return CrdOptions(locations=crds, from_cluster=from_cluster, kubeconfig=kubeconfig, context=context)


def _check_server_version(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from reconciler.registry_server import UnknownServerVersion, parse_version

    if value is not None:
        try:
            parse_version(value)
        except UnknownServerVersion as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def server_version_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry-server-version",
        "server_version",
        default=None,
        metavar="vX.Y.Z",
        callback=_check_server_version,
        help="ToolHive Registry Server release to target (v1.2.0 to v1.5.1); overrides "
        "registryServer.version in mcp-gitops.yaml (default: the newest).",
    )(func)
