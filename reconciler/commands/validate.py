"""`mcp-gitops validate`: check a configuration repository as policy."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands.common import EXIT_FINDINGS, EXIT_OK, fail, repo_argument, rev_options, tool_errors
from reconciler.findings import Severity
from reconciler.report import FORMATS, SUFFIXES, ReportContext, renderer


def _parse_output(value: str) -> tuple[str, str]:
    """`FORMAT:FILE`, or `FILE` with the format taken from its suffix."""
    head, sep, tail = value.partition(":")
    if sep and head in FORMATS:
        return head, tail
    for suffix, name in SUFFIXES.items():
        if value.endswith(suffix):
            return name, value
    fail(f"--output {value}: cannot tell the format; write FORMAT:FILE ({', '.join(FORMATS)})")


def _report_root(repo: str) -> str:
    """The repository folder relative to the enclosing Git work tree, so that annotations and SARIF
    locations resolve from the root of the checkout (what GitHub expects)."""
    here = Path(repo).resolve()
    for parent in (here, *here.parents):
        if (parent / ".git").exists():
            relative = here.relative_to(parent).as_posix()
            return "" if relative == "." else relative
    return ""


@click.command()
@repo_argument
@rev_options
@click.option(
    "--base",
    default=None,
    metavar="REV",
    help="Pull-request mode: compare with this base revision (read from Git objects).",
)
@click.option(
    "--token",
    envvar="MCP_GITOPS_TOKEN",
    default=None,
    metavar="JWT|@FILE",
    help="The publisher's JWT (or @file), verified; enables the claims coverage rules. "
    "Env: MCP_GITOPS_TOKEN.",
)
@click.option(
    "--jwks",
    "key_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="JWKS or PEM public key file to verify --token (default: the provider's jwksUrl).",
)
@click.option(
    "--format", "fmt", default="text", type=click.Choice(sorted(FORMATS)), help="Format printed on stdout."
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="[FORMAT:]FILE",
    help="Also write a format to a file (repeatable); the format comes from the prefix or "
    "the suffix (.sarif, .json, .xml, .md, .txt).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="The lowest severity that makes the exit code 1.",
)
def validate(
    repo: str,
    rev: str | None,
    base: str | None,
    token: str | None,
    key_file: str | None,
    fmt: str,
    outputs: tuple[str, ...],
    fail_on: str,
) -> None:
    """Validate the configuration repository REPO (default: the current folder).

    Exit 0 when nothing fails at --fail-on, 1 when something does, 2 on a usage error or an
    unreadable repository, policy or token.
    """
    import gc

    from reconciler import pipeline
    from reconciler.policy.token import read_token

    # A one-shot process: the parsed repository is acyclic and dies with the process, so the cyclic
    # collector would only rescan it (pipeline.validate pauses it too; here it stays off to the end).
    gc.disable()
    from reconciler.source import open_source

    targets = [_parse_output(o) for o in outputs]
    with tool_errors():
        source = open_source(repo, rev)
        base_source = open_source(repo, base) if base else None
        result = pipeline.validate(
            source, base=base_source, token=read_token(token) if token else None, key_file=key_file
        )
    context = ReportContext(rules=result.rules, root=_report_root(repo), revision=source.revision)
    for name, path in targets:
        try:
            Path(path).write_text(renderer(name)(result.report, context))
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror}")
    click.echo(renderer(fmt)(result.report, context), nl=False)
    exit_code = EXIT_FINDINGS if result.report.fails(Severity(fail_on)) else EXIT_OK
    click.get_current_context().exit(exit_code)
