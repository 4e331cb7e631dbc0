"""`mcp-gitops plan` and `mcp-gitops apply`: validate, then compare with (and bring in line) each target.

The commands only parse options, run the pipeline and print; the targets (reconciler/targets/) do the
work. Exit codes: plan 0 no changes, 1 changes; apply 0 applied (or nothing to do); both 2 when
validation has errors (nothing is read from or written to a target then) or on a tool error.
"""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler.commands.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    crd_choice,
    crd_options,
    fail,
    repo_argument,
    rev_options,
    scrub,
    server_version_option,
    tool_errors,
)
from reconciler.commands.operator import install_trust, operator_options
from reconciler.findings import printable
from reconciler.targets import ALL, TargetError, TargetOptions, TargetPlan, load_target, select, target_names


def _fail_with_details(fmt: str, exc: TargetError) -> NoReturn:
    """Exit 2; a target error that carries its plan or result (a failed dry run, a conflict, a wait
    that timed out) prints it first, so the reasons per object are not lost."""
    details = getattr(exc, "plan", None) or getattr(exc, "result", None)
    if details is not None:
        click.echo(
            scrub(
                json.dumps(details.to_json(), indent=2, default=str)
                if fmt == "json"
                else details.render_text()
            )
        )
    fail(str(exc))


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--target",
            "target_name",
            type=click.Choice([*target_names(), ALL]),
            default=ALL,
            show_default=True,
            help="Which target to plan/apply.",
        ),
        click.option(
            "-o",
            "--output",
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
        ),
        click.option(
            "--database-url",
            default=None,
            metavar="URL",
            help="Registry database (no password in it). Else $MCP_GITOPS_DATABASE_URL, the settings "
            "file, or the embedded PostgreSQL.",
        ),
        click.option(
            "--embedded",
            is_flag=True,
            default=None,
            help="Use the embedded PostgreSQL even if $MCP_GITOPS_DATABASE_URL or mcp-gitops.yaml names a "
            "database (quick start).",
        ),
        click.option(
            "--password-file",
            default=None,
            type=click.Path(dir_okay=False),
            help="File holding the database password (absolute path, outside the repository).",
        ),
        click.option(
            "--state-dir",
            default=None,
            type=click.Path(file_okay=False, path_type=Path),
            help="Embedded PostgreSQL state (default $MCP_GITOPS_STATE_DIR or "
            "$XDG_STATE_HOME/mcp-gitops/postgres).",
        ),
        click.option(
            "--prune/--no-prune",
            default=None,
            help="Delete what mcp-gitops created that left the repository (default: prune.<target> "
            "in mcp-gitops.yaml).",
        ),
        click.option(
            "--allow-empty",
            is_flag=True,
            help="Allow pruning everything when the repository has no entries (registry) or no "
            "manifests (cluster).",
        ),
        click.option(
            "--kubeconfig",
            default=None,
            type=click.Path(dir_okay=False),
            help="Cluster credentials (else $KUBECONFIG, the in-cluster service account, or with "
            "--target cluster ~/.kube/config). No cluster: the cluster target is skipped.",
        ),
        click.option("--context", default=None, help="kubeconfig context to use."),
        click.option(
            "--force-conflicts",
            is_flag=True,
            help="Take over fields another field manager owns (an HPA's replicas, a kubectl scale).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return operator_options(database=True, redis=False)(func)


def _validated_repo(repo: str, rev: str | None, crds: Any, server_version: str | None) -> Any:
    from reconciler import pipeline
    from reconciler.findings import Severity
    from reconciler.report import ReportContext, renderer
    from reconciler.source import open_source

    with tool_errors():
        source = open_source(repo, rev)
        result = pipeline.validate(source, crds=crds, server_version=server_version)
    if result.report.fails(Severity("error")):
        context = ReportContext(rules=result.rules, root="", revision=source.revision)
        click.echo(renderer("text")(result.report, context), nl=False, err=True)
        # 2, not 1: for `plan`, 1 means "changes pending", and a refusal must not read as that.
        click.echo("mcp-gitops: validation has errors; nothing was planned or applied", err=True)
        click.get_current_context().exit(EXIT_ERROR)
    return result.repo


def _options(**kwargs: Any) -> TargetOptions:
    return TargetOptions(**{k: v for k, v in kwargs.items() if v is not None or k == "prune"})


def _plans(
    repo_path: str,
    rev: str | None,
    target_name: str,
    options: TargetOptions,
    crds: Any,
    server_version: str | None,
) -> list[tuple[Any, TargetPlan]]:
    repo = _validated_repo(repo_path, rev, crds, server_version)
    # The parsed repository lives until exit: keep the collector from re-scanning it on every
    # allocation burst while planning (10,000 entries: tens of milliseconds per full collection).
    gc.freeze()
    # A target named on the command line must reach its system; through `all` it may be skipped.
    options = dataclasses.replace(options, explicit=target_name != ALL)
    # Loading a target first checks that its extra is installed.
    targets = [load_target(name) for name in select(target_name)]
    if any(target.name == "registry" for target in targets):
        _check_destination(repo, repo_path, options)
    return [(t, t.plan(_input_for(t.name, repo, repo_path), options)) for t in targets]


def _check_destination(repo: Any, repo_path: str, options: TargetOptions) -> None:
    """Before any target runs: a database the repository chose but the operator did not allow is
    refused here, naming the file and line that chose it."""
    from reconciler.repository import Repository
    from reconciler.targets.postgres import RegistryInput
    from reconciler.targets.postgres.connection import locator, resolve_target

    inp = RegistryInput.from_repository(repo, root=Path(repo_path))
    resolve_target(
        database_url=options.database_url,
        password_file=options.password_file,
        state_dir=options.state_dir,
        settings=inp.settings,
        registry_config=inp.config,
        repo_root=inp.root,
        embedded=options.embedded,
        locate=locator(repo.settings_document, repo.config) if isinstance(repo, Repository) else None,
    )


def _input_for(name: str, repo: Any, repo_path: str) -> Any:
    if name == "registry":
        from reconciler.targets.postgres import RegistryInput

        return RegistryInput.from_repository(repo, root=Path(repo_path))
    return repo


def _emit(fmt: str, items: list[dict[str, Any]], texts: list[str], key: str) -> None:
    if fmt == "json":
        click.echo(scrub(json.dumps({key: items}, indent=2, default=str)))
    else:
        # Plans quote file names and keys from the repository: no terminal escape gets through.
        lines = "\n".join(texts).split("\n")
        click.echo(scrub("\n".join(printable(line) for line in lines)))


@click.command()
@repo_argument
@rev_options
@target_options
@crd_options
@server_version_option
def plan(
    repo: str,
    rev: str | None,
    target_name: str,
    fmt: str,
    crds: tuple[str, ...],
    crds_from_cluster: bool,
    server_version: str | None,
    **kwargs: Any,
) -> None:
    """Show what `apply` would change in each target, per entry and version (claims called out).

    Exit 0 no changes, 1 changes, 2 error.
    """
    install_trust(kwargs, repo)
    try:
        choice = crd_choice(crds, crds_from_cluster, kwargs.get("kubeconfig"), kwargs.get("context"))
        plans = _plans(repo, rev, target_name, _options(**kwargs), choice, server_version)
    except TargetError as exc:
        _fail_with_details(fmt, exc)
    _emit(fmt, [p.to_json() for _, p in plans], [p.render_text() for _, p in plans], "plans")
    changed = any(p.has_changes for _, p in plans)
    click.get_current_context().exit(EXIT_FINDINGS if changed else EXIT_OK)


@click.command()
@repo_argument
@rev_options
@target_options
@click.option(
    "--lock-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for another apply to the same database to finish.",
)
@click.option(
    "--stop-embedded", is_flag=True, help="Stop the embedded PostgreSQL (see --state-dir) and exit."
)
@click.option("--wait", is_flag=True, help="Wait for applied cluster objects to become Ready.")
@crd_options
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="Seconds --wait waits for Ready."
)
@server_version_option
def apply(
    repo: str,
    rev: str | None,
    target_name: str,
    fmt: str,
    lock_timeout: float,
    stop_embedded: bool,
    wait: bool,
    timeout: float,
    crds: tuple[str, ...],
    crds_from_cluster: bool,
    server_version: str | None,
    **kwargs: Any,
) -> None:
    """Bring each target in line with the repository: one transaction per target, under a lock.

    Refuses when validation has errors (exit 2). Exit 0 applied or nothing to do, 2 error.
    """
    install_trust(kwargs, repo)
    options = _options(lock_timeout=lock_timeout, read_live=False, wait=wait, timeout=timeout, **kwargs)
    if stop_embedded:
        from reconciler.targets.postgres import embedded
        from reconciler.targets.postgres.connection import default_state_dir

        state_dir = options.state_dir or default_state_dir()
        stopped = embedded.stop(state_dir)
        click.echo(f"embedded PostgreSQL in {state_dir}: {'stopped' if stopped else 'not running'}")
        click.get_current_context().exit(EXIT_OK)
    try:
        choice = crd_choice(crds, crds_from_cluster, options.kubeconfig, options.context)
        plans = _plans(repo, rev, target_name, options, choice, server_version)
        results = [target.apply(p, options) for target, p in plans]
    except TargetError as exc:
        _fail_with_details(fmt, exc)
    _emit(fmt, [r.to_json() for r in results], [r.render_text() for r in results], "results")
    click.get_current_context().exit(EXIT_OK)
