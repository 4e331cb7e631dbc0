"""The `mcp-gitops` command: a thin shell around the pipeline.

Subcommands are imported only when invoked, so `validate` never pays for the Kubernetes, PostgreSQL or
Redis client libraries.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import traceback
from typing import Any, NoReturn

import click

from reconciler import version
from reconciler.extras import MissingExtraError

# pydantic looks for plugins (observability hooks on every validation) through the entry points of every
# installed distribution the first time a model is built: 20-90 ms of `validate`'s start-up, for
# plugins this command would not want run over ten thousand entries. Set the variable to "" to allow
# them.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "validate": "reconciler.commands.validate:validate",
    "diff": "reconciler.commands.diff:diff",
    "policies": "reconciler.commands.policies:policies",
    "convert": "reconciler.commands.convert:convert",
    "github": "reconciler.commands.github:github",
    "plan": "reconciler.commands.plan_apply:plan",
    "apply": "reconciler.commands.plan_apply:apply",
    "drift": "reconciler.commands.drift:drift",
    "sessions": "reconciler.commands.sessions:sessions",
    "run": "reconciler.commands.run:run",
    "status": "reconciler.commands.status:status",
    "reconcile": "reconciler.commands.reconcile:reconcile",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        # Importing a command builds tens of thousands of long-lived objects (pydantic's validators,
        # the models) and no garbage: the cyclic collector's passes over them were a fifth of
        # `validate`'s start-up.
        collecting = gc.isenabled()
        gc.disable()
        try:
            module = importlib.import_module(module_name)
        finally:
            if collecting:
                gc.enable()
        command: click.Command = getattr(module, attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # A feature whose pip extra is not installed: a usage error naming the extra, never a traceback.
        try:
            return super().invoke(ctx)
        except MissingExtraError as missing:
            click.echo(f"mcp-gitops: error: {missing}", err=True)
            ctx.exit(2)


DEBUG_ENV = "MCP_GITOPS_DEBUG"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # click's own version_option needs the version when the command is built, so every run would pay
    # for importlib.metadata; this looks it up only when asked.
    if value and not ctx.resilient_parsing:
        click.echo(f"mcp-gitops, version {version()}")
        ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--debug",
    is_flag=True,
    help=f"Print the traceback of an unexpected error (env: {DEBUG_ENV}=1).",
)
def cli(debug: bool) -> None:
    """Validate and reconcile a Git repository of MCP infrastructure run with ToolHive."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def unexpected(exc: BaseException) -> int:
    """A bug, not a finding: one line on stderr and exit 2; the traceback only when asked for."""
    from reconciler.commands.common import EXIT_ERROR, scrub
    from reconciler.findings import printable

    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    print(
        f"mcp-gitops: error: unexpected internal error ({printable(scrub(message))}); "
        f"rerun with --debug or {DEBUG_ENV}=1 for the traceback",
        file=sys.stderr,
    )
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> NoReturn:
    # click exits 2 on usage errors, which is our convention too.
    try:
        cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="mcp-gitops")
        code: Any = 0
    except SystemExit as exit:
        code = exit.code
    except Exception as exc:  # the last line of defence: never a traceback, never exit 1 (findings)
        code = unexpected(exc)
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    # Leave without the interpreter's teardown: after validating a large repository it would free a
    # million objects one by one (about 0.5 s) only for the process to end anyway. Everything the
    # commands write is flushed or closed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code is None else int(code))
