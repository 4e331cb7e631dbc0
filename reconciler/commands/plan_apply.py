"""`mcp-gitops plan` and `mcp-gitops apply` (and the helpers `drift` shares): validate, then one call into the
reconcile stage (reconciler/reconcile/), then print in the chosen format and exit.

Exit codes: plan 0 no changes, 1 changes; apply 0 applied (or nothing to do); drift 0 none, 1 drift;
all 2 when validation has errors (nothing is written to a target then), or when a target failed or its
plan was refused (the other targets still ran).

`apply` writes the registry's transaction while the policies are still being checked, when it can
without waiting (ReconcileStage.hold): a database the operator named, not the embedded one nor one the
repository names, and no other session holding a lock it needs. It commits only once validation has no
errors, and rolls back otherwise (`--validate-first`: it writes only after validation); every other
target is contacted only after validation.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from reconciler.commands.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    crd_choice,
    crd_options,
    repo_argument,
    rev_options,
    scrub,
    server_version_option,
    tool_errors,
)
from reconciler.commands.operator import install_trust, operator_options
from reconciler.findings import printable
from reconciler.report import FORMATS
from reconciler.targets import target_names

if TYPE_CHECKING:
    from reconciler.findings import Report
    from reconciler.pipeline import Validation
    from reconciler.reconcile import ReconcileStage, Reconciliation, TargetRun
    from reconciler.repository import Repository
    from reconciler.rules import RuleInfo
    from reconciler.source import Source
    from reconciler.targets import TargetPlan, TargetResult


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--target",
            "targets",
            type=click.Choice(target_names()),
            multiple=True,
            help="A target to reconcile (repeatable). Default: `targets:` in mcp-gitops.yaml, else registry.",
        ),
        click.option(
            "-o",
            "--output",
            "--format",
            "fmt",
            type=click.Choice(sorted(FORMATS)),
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
            default=False,
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
            help="Delete what this repository created that left it (default: prune.<target> in "
            "mcp-gitops.yaml).",
        ),
        click.option(
            "--allow-empty",
            is_flag=True,
            help="Allow pruning everything when the repository has no entries (registry) or no "
            "manifests (cluster).",
        ),
        click.option(
            "--lock-timeout",
            type=float,
            default=30.0,
            show_default=True,
            help="Seconds to wait for another apply's lock, then for any row or table lock.",
        ),
        click.option(
            "--statement-timeout",
            type=float,
            default=300.0,
            show_default=True,
            help="Seconds one database statement may run.",
        ),
        click.option(
            "--kubeconfig",
            default=None,
            type=click.Path(dir_okay=False),
            help="Cluster credentials (else $KUBECONFIG, the in-cluster service account, ~/.kube/config); "
            "used only when the cluster target is selected.",
        ),
        click.option("--context", default=None, help="kubeconfig context to use."),
        click.option(
            "--conflicts",
            type=click.Choice(["force", "skip"]),
            default=None,
            help="A field another field manager owns: take it over, or report it and skip that object "
            "(default: cluster.conflicts in mcp-gitops.yaml, else force).",
        ),
        click.option(
            "--request-timeout",
            type=float,
            default=30.0,
            show_default=True,
            help="Seconds one Kubernetes API request may take.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return operator_options(database=True, redis=False)(func)


def opened(repo: str, rev: str | None) -> Source:
    """The repository (at `rev`), opened before anything else is loaded: git then reads the revision's
    blobs in the background while the operator's trust, the targets and the pipeline are imported."""
    from reconciler.source import open_source

    with tool_errors():
        return open_source(repo, rev, read_ahead=True)


def validated(
    source: Source,
    repo: str,
    fmt: str,
    opts: dict[str, Any],
    beside: Callable[[Repository], None] | None = None,
) -> Validation:
    """Validation of `source` (`repo` as given) as `validate` does it, with the CRDs `--crds`/
    `--crds-from-cluster` name (their options are taken out of `opts`); `beside` as `pipeline.validate`
    runs it."""
    from reconciler import pipeline
    from reconciler.findings import Severity

    # The collector stays off until the parsed repository is frozen below: back on first, its next young
    # collection would walk every object the validation made (0.3 s at 10,000 entries).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with tool_errors():
            crds = crd_choice(
                opts.pop("crds"), opts.pop("crds_from_cluster"), opts.get("kubeconfig"), opts.get("context")
            )
            result = pipeline.validate(
                source, crds=crds, server_version=opts.pop("server_version"), beside=beside
            )
        if result.report.fails(Severity("error")):
            shown = "text" if fmt == "json" else fmt
            _render_findings(result.report, result.rules, shown, repo, err=fmt == "text")
            # 2, not 1: for `plan`, 1 means "changes pending", and a refusal must not read as that.
            finish(EXIT_ERROR, "validation has errors; nothing was planned or applied")
        # The parsed repository lives until exit: keep the collector from re-scanning it on every
        # allocation burst while planning (10,000 entries: tens of milliseconds per full collection).
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    return result


def make_stage(opts: dict[str, Any], *, read_live: bool) -> ReconcileStage:
    from reconciler.reconcile import ReconcileStage, TargetOptions
    from reconciler.targets.cluster.options import ClusterOptions
    from reconciler.targets.postgres.options import RegistryOptions

    options = TargetOptions(
        registry=RegistryOptions(
            prune=opts["prune"],
            allow_empty=opts["allow_empty"],
            database_url=opts["database_url"],
            password_file=opts["password_file"],
            state_dir=opts["state_dir"],
            embedded=opts["embedded"],
            lock_timeout=opts["lock_timeout"],
            statement_timeout=opts["statement_timeout"],
            read_live=read_live,
        ),
        cluster=ClusterOptions(
            kubeconfig=opts["kubeconfig"],
            context=opts["context"],
            conflicts=opts["conflicts"],
            prune=opts["prune"],
            allow_empty=opts["allow_empty"],
            wait=opts.get("wait", False),
            timeout=opts.get("timeout", 300.0),
            request_timeout=opts["request_timeout"],
        ),
    )
    return ReconcileStage(opts["targets"], options)


def _render_findings(
    report: Report, rules: dict[str, RuleInfo], fmt: str, repo: str, *, err: bool = False
) -> None:
    from reconciler.reconcile import RECONCILE_RULES
    from reconciler.report import ReportContext, renderer
    from reconciler.report.locations import checkout_root

    context = ReportContext(rules={**rules, **RECONCILE_RULES}, root=checkout_root(repo))
    click.echo(scrub(renderer(fmt)(report, context)), nl=False, err=err)


def emit(
    reconciliation: Reconciliation, validation: Validation, fmt: str, repo: str, key: str, *, applied: bool
) -> None:
    """Plans (or results) in text or JSON; every other format renders the findings, as `validate` does."""
    runs = reconciliation.runs
    report = reconciliation.report()
    report.files = validation.report.files
    if fmt == "json":
        items = [shown.to_json() for run in runs if (shown := _shown(run, applied)) is not None]
        document = {
            key: items,
            "targets": {run.name: run.status_json() for run in runs},
            "drift": reconciliation.drift(),
            **report.to_json(),
        }
        click.echo(scrub(json.dumps(document, indent=2, default=str)))
    elif fmt == "text":
        texts = [shown.render_text() for run in runs if (shown := _shown(run, applied)) is not None]
        if texts:
            # Plans quote file names and keys from the repository: no terminal escape gets through.
            lines = "\n".join(texts).split("\n")
            click.echo(scrub("\n".join(printable(line) for line in lines)))
    else:
        _render_findings(report, validation.rules, fmt, repo)
    for run in runs:
        if run.outcome in ("failed", "blocked") and (fmt != "text" or run.error is not None):
            click.echo(printable(scrub(f"mcp-gitops: error: {run.name}: {run.message}")), err=True)


def _shown(run: TargetRun, applied: bool) -> TargetPlan | TargetResult | None:
    if applied and run.result is not None:
        return run.result
    return run.plan


def planned_against_live(
    repo: str, rev: str | None, fmt: str, opts: dict[str, Any]
) -> tuple[Validation, Reconciliation]:
    """Validate, then plan every selected target against its live state (what `plan` and `drift` show)."""
    source = opened(repo, rev)
    install_trust(opts, repo)
    validation = validated(source, repo, fmt, opts)
    stage = make_stage(opts, read_live=True)
    try:
        return validation, stage.plan(validation.repo)
    finally:
        stage.close()


def finish(code: int, message: str | None = None) -> NoReturn:
    """The one way these commands end: an optional message on stderr, then the exit code."""
    if message:
        click.echo(scrub(f"mcp-gitops: error: {message}"), err=True)
    # What `validated` froze may be collected again (matters only where the command runs in-process).
    gc.unfreeze()
    click.get_current_context().exit(code)
    raise AssertionError("unreachable")  # pragma: no cover - click's exit raises


@click.command()
@repo_argument
@rev_options
@target_options
@crd_options
@server_version_option
def plan(repo: str, rev: str | None, fmt: str, **opts: Any) -> None:
    """Show what `apply` would change in each selected target (claims called out, conflicts and other
    problems as findings with file and line).

    Exit 0 no changes, 1 changes, 2 error.
    """
    validation, reconciliation = planned_against_live(repo, rev, fmt, opts)
    emit(reconciliation, validation, fmt, repo, "plans", applied=False)
    if reconciliation.failed:
        finish(EXIT_ERROR)
    finish(EXIT_FINDINGS if reconciliation.has_changes else EXIT_OK)


@click.command()
@repo_argument
@rev_options
@target_options
@crd_options
@click.option(
    "--stop-embedded", is_flag=True, help="Stop the embedded PostgreSQL (see --state-dir) and exit."
)
@click.option(
    "--validate-first",
    is_flag=True,
    help="Write to the registry only once validation passed, not beside it: then nothing of a repository "
    "with errors reaches the database, not even as a rolled-back transaction in its write-ahead log.",
)
@click.option("--wait", is_flag=True, help="Wait for applied cluster objects to become Ready.")
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="Seconds --wait waits for Ready."
)
@server_version_option
def apply(
    repo: str, rev: str | None, fmt: str, stop_embedded: bool, validate_first: bool, **opts: Any
) -> None:
    """Bring each selected target in line with the repository (the registry in one transaction under a
    lock; the cluster by server-side apply). A target that fails does not stop the others.

    Refuses when validation has errors (exit 2). Exit 0 applied or nothing to do, 2 error.
    """
    if stop_embedded:
        from reconciler.targets.postgres import embedded
        from reconciler.targets.postgres.connection import default_state_dir

        install_trust(opts, repo)
        state_dir = opts["state_dir"] or default_state_dir()
        stopped = embedded.stop(state_dir)
        click.echo(f"embedded PostgreSQL in {state_dir}: {'stopped' if stopped else 'not running'}")
        finish(EXIT_OK)
    source = opened(repo, rev)
    install_trust(opts, repo)
    # The registry compares again under its lock anyway: one read of the live state, not two.
    stage = make_stage(opts, read_live=False)

    def announce(run: TargetRun) -> None:
        assert run.plan is not None
        click.echo(scrub(f"{run.name}: writing to {run.plan.destination}"), err=True)

    try:
        # The registry's transaction is written while the policies are checked, and committed only
        # once the report has no errors (otherwise `close` rolls it back): its write overlaps
        # validation instead of following it.
        validation = validated(source, repo, fmt, opts, beside=None if validate_first else stage.hold)
        reconciliation = stage.apply(stage.plan(validation.repo), before=announce)
    finally:
        stage.close()
    emit(reconciliation, validation, fmt, repo, "results", applied=True)
    finish(EXIT_ERROR if reconciliation.failed else EXIT_OK)
