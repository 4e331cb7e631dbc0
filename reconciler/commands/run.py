"""`mcp-gitops run`: the reconcile daemon (reconciler/daemon/).

Keeps the registry database and the cluster equal to a Git branch (or a local folder), with health,
readiness, metrics and status endpoints, GitHub push webhooks and leader election. `--once` runs a
single cycle and exits with its outcome: 0 applied or nothing to do, 1 not applied (validation errors,
or interrupted), 2 error.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from reconciler.commands.common import EXIT_ERROR, fail
from reconciler.commands.operator import install_trust, operator_options

WEBHOOK_SECRET_ENV = "MCP_GITOPS_WEBHOOK_SECRET"
RECONCILE_SECRET_ENV = "MCP_GITOPS_RECONCILE_SECRET"  # reconcile_request.SECRET_ENV, without its import
GIT_TOKEN_ENV = "MCP_GITOPS_GIT_TOKEN"
REDIS_URL_ENV = "MCP_GITOPS_REDIS_URL"
REDIS_PASSWORD_ENV = "MCP_GITOPS_REDIS_PASSWORD"


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from reconciler.daemon.config import parse_duration

        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


def _read_secret_file(path: str | None, env_name: str) -> str | None:
    from reconciler.daemon.logs import add_secret

    value: str | None = None
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None
    elif os.environ.get(env_name):
        value = os.environ[env_name].strip()
    add_secret(value)
    return value or None


def _listen(value: str, flag: str = "--listen") -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host or "0.0.0.0", int(port)
    except ValueError:
        raise click.UsageError(f"{flag} {value!r}: expected HOST:PORT or :PORT") from None


def _commit_status(token_file: str | None, repository: str | None) -> Any:
    """The after-cycle hook that sets GitHub commit statuses, when both options are given."""
    if not token_file and not repository:
        return None
    if not (token_file and repository):
        fail("--github-token-file and --github-repo go together")
    from reconciler.github.status import CommitStatusReporter, CommitStatusSettings

    try:
        return CommitStatusReporter.from_settings(CommitStatusSettings(repository, Path(token_file)))
    except OSError as exc:
        fail(f"--github-token-file {token_file}: cannot read: {exc.strerror}")


@click.command()
@click.argument("source", default=".")
@click.option("--branch", default="main", show_default=True, help="Branch to follow (remote repositories).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the Git mirror (and an embedded PostgreSQL, if used) live. Default $MCP_GITOPS_STATE_DIR "
    "or $XDG_STATE_HOME/mcp-gitops.",
)
@click.option("--interval", type=DURATION, default="60s", show_default=True, help="Poll interval.")
@click.option(
    "--jitter", type=float, default=0.1, show_default=True, help="Interval jitter, as a fraction (+/-)."
)
@click.option(
    "--resync-interval",
    type=DURATION,
    default="10m",
    show_default=True,
    help="Validate and apply an unchanged revision this often anyway (corrects drift in the targets).",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Watch a local folder or local bare repository for changes (inotify) besides polling.",
)
@click.option(
    "--once", is_flag=True, help="Run one cycle and exit with its outcome (0 ok, 1 not applied, 2 error)."
)
@click.option(
    "--listen",
    default=":8080",
    show_default=True,
    help="HOST:PORT for /healthz /readyz /metrics /status /reconcile (keep it inside the cluster).",
)
@click.option(
    "--webhook-listen",
    default=":8081",
    show_default=True,
    help="HOST:PORT for POST /webhook, the only endpoint to expose to GitHub (needs a webhook secret).",
)
@click.option(
    "--http-timeout",
    type=DURATION,
    default="10s",
    show_default=True,
    help="Close an HTTP connection that makes no progress for this long (slow or stalled clients).",
)
@click.option(
    "--webhook-max-bytes",
    type=click.IntRange(min=1024),
    default=1024 * 1024,
    show_default=True,
    help="Largest webhook body accepted; a larger Content-Length is refused unread (413).",
)
@click.option(
    "--webhook-secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"GitHub webhook secret (else ${WEBHOOK_SECRET_ENV}); without one the webhook is disabled.",
)
@click.option(
    "--reconcile-secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Secret that signs POST /reconcile (`mcp-gitops reconcile`; else $MCP_GITOPS_RECONCILE_SECRET); "
    "without one the endpoint is disabled.",
)
@click.option(
    "--github-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A GitHub token (statuses: write): set a commit status on each revision applied or refused.",
)
@click.option(
    "--github-repo",
    default=None,
    metavar="OWNER/NAME",
    help="The GitHub repository of the commits, for --github-token-file (GITHUB_API_URL is respected).",
)
@click.option(
    "--git-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"HTTPS token (else ${GIT_TOKEN_ENV}).",
)
@click.option("--git-username", default="git", show_default=True, help="User name sent with the token.")
@click.option(
    "--git-ssh-key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="SSH private key for ssh:// remotes.",
)
@click.option(
    "--git-known-hosts-file", type=click.Path(dir_okay=False), default=None, help="known_hosts for SSH."
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Choice(["registry", "cluster"]),
    help="Targets to reconcile (repeatable). Default: `targets:` in each revision's mcp-gitops.yaml, "
    "else registry.",
)
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Registry database (no password in it); else as `apply`.",
)
@click.option(
    "--password-file", type=click.Path(dir_okay=False), default=None, help="Database password file."
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Cluster credentials (else in-cluster).",
)
@click.option("--context", "kube_context", default=None, help="Kubeconfig context.")
@click.option(
    "--conflicts",
    type=click.Choice(["force", "skip"]),
    default=None,
    help="Fields another field manager owns: take over, or report and skip the object (default: "
    "cluster.conflicts in mcp-gitops.yaml, else force).",
)
@click.option(
    "--lock-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for the registry's apply lock, then for any row or table lock.",
)
@click.option(
    "--statement-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds one registry database statement may run.",
)
@click.option(
    "--request-timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds one Kubernetes API request may take.",
)
@click.option(
    "--prune/--no-prune", default=None, help="Prune what left the repository (default: settings file)."
)
@click.option(
    "--session-health",
    is_flag=True,
    help="Measure Redis session health of the servers the manifests declare (implied by --redis-url).",
)
@click.option(
    "--redis-url",
    default=None,
    help=f"Dial this Redis instead of the manifests' addresses (else ${REDIS_URL_ENV}).",
)
@click.option(
    "--redis-password-file",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Redis password (else ${REDIS_PASSWORD_ENV}, else the passwordRef Secret).",
)
@click.option(
    "--leader-election",
    type=click.Choice(["auto", "lease", "postgres", "none"]),
    default="auto",
    show_default=True,
    help="auto: a Lease when running in a cluster, else a PostgreSQL advisory lock given --database-url.",
)
@click.option("--lease-name", default="mcp-gitops-leader", show_default=True)
@click.option("--lease-namespace", default=None, help="Default: the pod's namespace.")
@click.option(
    "--identity", default=None, help="This replica's name in the election (default: hostname + random)."
)
@click.option("--lease-duration", type=DURATION, default="35s", show_default=True)
@click.option("--renew-deadline", type=DURATION, default="30s", show_default=True)
@click.option("--retry-period", type=DURATION, default="5s", show_default=True)
@click.option(
    "--shutdown-grace",
    type=DURATION,
    default="25s",
    show_default=True,
    help="Time to finish a cycle on SIGTERM.",
)
@click.option(
    "--retry-base", type=DURATION, default="5s", show_default=True, help="First backoff after a failed cycle."
)
@click.option("--retry-max", type=DURATION, default="3m", show_default=True, help="Backoff cap.")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@operator_options(database=True, redis=True)
@click.option(
    "--debug-pause-at", default=None, hidden=True, help="PHASE=SECONDS: sleep in the registry apply (tests)."
)
def run(**opts: Any) -> None:
    """Keep the registry and the cluster equal to SOURCE: a Git URL (https, ssh, file://), a local bare
    repository, or a local folder (watched for changes)."""
    from reconciler.extras import require_extra

    require_extra("daemon", "mcp-gitops run")
    from reconciler.daemon import logs

    logs.configure(opts["log_level"])
    local = Path(opts["source"])
    install_trust(opts, local if local.is_dir() else None)
    try:
        daemon = build_daemon(opts)
    except click.UsageError:
        raise
    except Exception as exc:
        click.echo(f"mcp-gitops: error: {logs.scrub(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    _install_signal_handlers(daemon)
    if opts["once"]:
        from reconciler.daemon.status import EXIT_CODES

        record = daemon.run_once()
        daemon.stage.close()
        sys.exit(EXIT_CODES[record.outcome])
    sys.exit(daemon.serve())


def _install_signal_handlers(daemon: Any) -> None:
    import logging

    grace = daemon.config.shutdown_grace

    def watchdog() -> None:
        if not daemon.wait_stopped(grace):
            # Past the grace period the kubelet sends SIGKILL anyway; exiting now closes the database
            # connection, and PostgreSQL rolls the open apply transaction back.
            logging.getLogger("reconciler.daemon").error("shutdown grace period exceeded; exiting now")
            os._exit(EXIT_ERROR)

    def on_signal(signum: int, _frame: Any) -> None:
        daemon.stop(f"signal {signal.Signals(signum).name}")
        threading.Thread(target=watchdog, name="shutdown-watchdog", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def build_daemon(opts: dict[str, Any]) -> Any:
    from reconciler.daemon.backoff import Backoff
    from reconciler.daemon.config import (
        DaemonConfig,
        ElectionSettings,
        HttpLimits,
        default_identity,
        default_state_dir,
    )
    from reconciler.daemon.gitsync import GitCredentials, GitMirror, LocalFolder, is_remote
    from reconciler.daemon.runner import Daemon, ensure_state_dir
    from reconciler.daemon.steps import SessionsStep
    from reconciler.reconcile import ReconcileStage, TargetOptions
    from reconciler.targets.cluster.options import ClusterOptions
    from reconciler.targets.postgres.options import RegistryOptions

    state_dir = ensure_state_dir(opts["state_dir"] or default_state_dir())
    secret = _read_secret_file(opts["webhook_secret_file"], WEBHOOK_SECRET_ENV)
    reconcile_secret = _read_secret_file(opts["reconcile_secret_file"], RECONCILE_SECRET_ENV)
    host, port = _listen(opts["listen"])
    pause_at = None
    if opts["debug_pause_at"]:
        phase, _, seconds = opts["debug_pause_at"].partition("=")
        pause_at = (phase, float(seconds or 1))
    election = ElectionSettings(
        mode="none" if opts["once"] else opts["leader_election"],
        identity=opts["identity"] or default_identity(),
        lease_name=opts["lease_name"],
        lease_namespace=opts["lease_namespace"],
        lease_duration=opts["lease_duration"],
        renew_deadline=opts["renew_deadline"],
        retry_period=opts["retry_period"],
    )
    config = DaemonConfig(
        source=opts["source"],
        branch=opts["branch"],
        state_dir=state_dir,
        interval=opts["interval"],
        jitter=opts["jitter"],
        resync_interval=opts["resync_interval"],
        listen_host=host,
        listen_port=port,
        webhook_listen=_listen(opts["webhook_listen"], "--webhook-listen") if secret else None,
        http_limits=HttpLimits(
            channel_timeout=opts["http_timeout"], max_body_bytes=opts["webhook_max_bytes"]
        ),
        webhook_secret=secret.encode() if secret else None,
        reconcile_secret=reconcile_secret.encode() if reconcile_secret else None,
        shutdown_grace=opts["shutdown_grace"],
        failure_backoff=Backoff(base=opts["retry_base"], factor=2.0, cap=opts["retry_max"]),
        election=election,
        targets=tuple(opts["targets"]),
        redis_url=opts["redis_url"] or os.environ.get(REDIS_URL_ENV),
        pause_at=pause_at,
        watch=opts["watch"],
        after_cycle=_commit_status(opts["github_token_file"], opts["github_repo"]),
    )
    source: GitMirror | LocalFolder
    if is_remote(config.source):
        credentials = GitCredentials(
            username=opts["git_username"],
            token_file=opts["git_token_file"],
            token_env=GIT_TOKEN_ENV,
            ssh_key_file=opts["git_ssh_key_file"],
            known_hosts_file=opts["git_known_hosts_file"],
        )
        credentials.token()  # registers the token with the log scrubber before anything is logged
        source = GitMirror(config.source, config.branch, state_dir, credentials)
    else:
        source = LocalFolder(Path(config.source))
    stage = ReconcileStage(
        config.targets,
        TargetOptions(
            registry=RegistryOptions(
                prune=opts["prune"],
                database_url=opts["database_url"],
                password_file=opts["password_file"],
                state_dir=state_dir / "postgres",
                lock_timeout=opts["lock_timeout"],
                statement_timeout=opts["statement_timeout"],
                fetched_from=source.url if isinstance(source, GitMirror) else None,
                # every cycle applies, and the apply reads the live rows under its lock: reading them
                # in the plan too would double the registry's cost of a cycle
                read_live=False,
            ),
            cluster=ClusterOptions(
                kubeconfig=opts["kubeconfig"],
                context=opts["kube_context"],
                conflicts=opts["conflicts"],
                prune=opts["prune"],
                request_timeout=opts["request_timeout"],
                fetched_from=source.url if isinstance(source, GitMirror) else None,
            ),
        ),
    )
    sessions = None
    if config.redis_url:
        from reconciler.sessions.connection import mask_url, url_problem

        problem = url_problem(config.redis_url)
        if problem:
            raise click.UsageError(f"--redis-url {mask_url(config.redis_url)}: {problem}")
    if config.redis_url or opts["session_health"]:
        sessions = SessionsStep(
            redis_url=config.redis_url,
            password=_read_secret_file(opts["redis_password_file"], REDIS_PASSWORD_ENV),
            kubeconfig=opts["kubeconfig"],
            context=opts["kube_context"],
        )
    return Daemon(
        config,
        source,
        stage,
        sessions,
        elector_factory=_elector_factory(config, opts),
        serve_http=not opts["once"],
    )


def _elector_factory(config: Any, opts: dict[str, Any]) -> Any:
    from reconciler.daemon import leader
    from reconciler.daemon.config import in_cluster, pod_namespace

    election = config.election
    mode = election.mode
    database_url = opts["database_url"] or os.environ.get("MCP_GITOPS_DATABASE_URL")
    if mode == "auto":
        mode = "lease" if in_cluster() else ("postgres" if database_url else "none")
    if mode == "none":
        return None
    if mode == "postgres":
        if not database_url:
            raise click.UsageError(
                "--leader-election postgres needs --database-url (or $MCP_GITOPS_DATABASE_URL)"
            )
        from reconciler.targets.postgres.connection import connect, resolve_target

        db_target = resolve_target(database_url=database_url, password_file=opts["password_file"])

        def postgres(on_change: Any) -> Any:
            return leader.PostgresLockElector(
                lambda: connect(db_target, autocommit=True),
                election.identity,
                election.retry_period,
                on_change,
            )

        return postgres
    from reconciler.targets.cluster.credentials import connect as kube_connect
    from reconciler.targets.cluster.credentials import find_cluster, no_cluster_reason

    choice = find_cluster(opts["kubeconfig"], opts["kube_context"])
    if choice is None:
        raise click.UsageError(f"--leader-election lease: {no_cluster_reason()}")

    def lease(on_change: Any) -> Any:
        return leader.LeaseElector(
            kube_connect(choice, 2),
            election.lease_namespace or pod_namespace(),
            election.lease_name,
            election.identity,
            election.lease_duration,
            election.renew_deadline,
            election.retry_period,
            on_change,
        )

    return lease
