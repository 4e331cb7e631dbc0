"""`mcp-gitops sessions`: Redis session health of the repository's scaled servers (issue 7).

Reads Redis (SCAN, GET, PTTL) and, when one is configured, the cluster; never writes to either.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.commands.common import EXIT_FINDINGS, EXIT_OK, fail, repo_argument, rev_options, tool_errors
from reconciler.commands.operator import install_trust, operator_options

if TYPE_CHECKING:
    from reconciler.sessions import GivenPassword, ServerSpec, Threshold

PASSWORD_ENV_VARS = (
    "MCP_GITOPS_REDIS_PASSWORD",
    # What ToolHive's own pods get from passwordRef: the command runs next to them unchanged.
    "THV_SESSION_REDIS_PASSWORD",
)


def _redis_urls(values: tuple[str, ...]) -> dict[str, str]:
    from reconciler.sessions import ANY_ADDRESS
    from reconciler.sessions.connection import mask_url, url_problem

    urls: dict[str, str] = {}
    for value in values:
        head, sep, rest = value.partition("=")
        address, url = (head, rest) if sep and "://" not in head else (ANY_ADDRESS, value)
        if "://" not in url or not address:
            fail(
                f"--redis-url {mask_url(value)}: expected [ADDRESS=]URL with a redis://, rediss:// or "
                "unix:// URL"
            )
        problem = url_problem(url)
        if problem:
            fail(f"--redis-url {mask_url(value)}: {problem}")
        urls[address] = url
    return urls


def _given_password(password_file: str | None) -> GivenPassword | None:
    from reconciler.sessions import GivenPassword

    if password_file:
        try:
            text = Path(password_file).read_text()
        except OSError as exc:
            fail(f"--redis-password-file {password_file}: {exc.strerror}")
        return GivenPassword(text.rstrip("\r\n"), f"file {password_file}")
    for name in PASSWORD_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return GivenPassword(value, f"env {name}")
    return None


def _threshold(text: str) -> Threshold:
    from reconciler.sessions import Threshold

    try:
        return Threshold.parse(text)
    except ValueError as exc:
        fail(f"--stale-threshold {text}: expected a percentage (10%) or a count (25): {exc}")


def _selected(servers: list[ServerSpec], wanted: tuple[str, ...]) -> list[ServerSpec]:
    if not wanted:
        return servers
    names = set(wanted)
    chosen = [s for s in servers if names & {s.name, s.ref, f"{s.namespace}/{s.name}"}]
    if not chosen:
        fail(f"--server {', '.join(wanted)}: no server with Redis session storage is called that")
    return chosen


@click.command()
@repo_argument
@rev_options
@click.option(
    "--redis-url",
    "redis_urls",
    multiple=True,
    metavar="[ADDRESS=]URL",
    help="Dial URL instead of a spec's address (all addresses, or only ADDRESS), e.g. a port-forward: "
    "redis://localhost:16379. The db comes from the spec unless the URL names one. Repeatable.",
)
@click.option(
    "--redis-password-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read the Redis password from this file. Otherwise from $MCP_GITOPS_REDIS_PASSWORD or "
    "$THV_SESSION_REDIS_PASSWORD, else from the Secret a spec's passwordRef names (needs a cluster).",
)
@click.option("--kubeconfig", default=None, type=click.Path(dir_okay=False), help="Cluster to cross-check.")
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option(
    "--no-cluster", is_flag=True, help="Do not contact a cluster (no stale check, no Secret lookup)."
)
@click.option(
    "--stale-threshold",
    default="10%",
    show_default=True,
    metavar="PCT%|COUNT",
    help="Stale sessions (or vMCP sessions naming unknown backends) above this, per prefix, fail the run.",
)
@click.option(
    "--server",
    "servers",
    multiple=True,
    metavar="NAME",
    help="Only this server (name, namespace/name or Kind/namespace/name). Repeatable.",
)
@click.option(
    "--max-keys", type=click.IntRange(min=1), default=None, help="Stop reading a prefix after N keys."
)
@click.option("--pings", type=click.IntRange(1, 100), default=5, show_default=True, help="PINGs to time.")
@click.option(
    "--max-value-bytes",
    type=click.IntRange(min=1024),
    default=256 * 1024,
    show_default=True,
    help="Values larger than this are reported by size (STRLEN) and never fetched.",
)
@operator_options(database=False, redis=True)
@click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def sessions(
    repo: str,
    rev: str | None,
    redis_urls: tuple[str, ...],
    redis_password_file: str | None,
    kubeconfig: str | None,
    context: str | None,
    no_cluster: bool,
    stale_threshold: str,
    servers: tuple[str, ...],
    max_keys: int | None,
    pings: int,
    max_value_bytes: int,
    fmt: str,
    **operator: str | tuple[str, ...] | None,
) -> None:
    """Report the Redis sessions of every MCPServer and VirtualMCPServer in REPO whose
    sessionStorage.provider is redis: reachability and latency, sessions by kind and state, stale
    sessions (with a cluster), TTLs. Session contents are never printed.

    Exit 0 when healthy, 1 on findings (an unreachable Redis, stale sessions above the threshold), 2 on
    a usage error.
    """
    from reconciler.extras import require_extra

    require_extra("sessions", "mcp-gitops sessions")
    from reconciler.repository import load_repository
    from reconciler.sessions import (
        MeasureOptions,
        measure_sessions,
        open_cluster,
        render,
        servers_from_manifests,
    )
    from reconciler.sessions.measure import DestinationRefused
    from reconciler.source import open_source

    install_trust(operator, repo)
    options = MeasureOptions(
        redis_urls=_redis_urls(redis_urls),
        password=_given_password(redis_password_file),
        stale_threshold=_threshold(stale_threshold),
        max_keys=max_keys,
        pings=pings,
        max_value_bytes=max_value_bytes,
    )
    with tool_errors():
        repository = load_repository(open_source(repo, rev))
    specs = _selected(servers_from_manifests(repository.manifests, repository.settings.namespace), servers)
    cluster = None
    if no_cluster:
        options.cluster_note = "--no-cluster"
    elif specs:
        cluster, options.cluster_note = open_cluster(kubeconfig, context)
        if cluster is None and (kubeconfig or context):
            fail(options.cluster_note)  # asked for by name: not having it is a usage error
        options.cluster = cluster
    try:
        report = measure_sessions(specs, options)
    except DestinationRefused as exc:
        fail(str(exc))
    finally:
        if cluster is not None:
            cluster.close()
    click.echo(render(report, fmt), nl=False)
    click.get_current_context().exit(EXIT_FINDINGS if report.fails() else EXIT_OK)
