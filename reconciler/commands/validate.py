"""`mcp-gitops validate`: check a configuration repository as policy."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from reconciler.commands.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    crd_choice,
    crd_options,
    fail,
    find_root,
    rev_options,
    server_version_option,
    tool_errors,
    verbosity_options,
)
from reconciler.findings import Report, Severity
from reconciler.report import FORMATS, SUFFIXES, ReportContext, renderer
from reconciler.report.locations import checkout_root


def _parse_report(value: str) -> tuple[str, str]:
    """`FORMAT:FILE`, or `FILE` with the format taken from its suffix."""
    head, sep, tail = value.partition(":")
    if sep and head in FORMATS:
        return head, tail
    for suffix, name in SUFFIXES.items():
        if value.endswith(suffix):
            return name, value
    fail(f"--report {value}: cannot tell the format; write FORMAT:FILE ({', '.join(FORMATS)})")


def _repository_and_files(paths: tuple[str, ...]) -> tuple[str, set[str] | None]:
    """No argument: the repository holding the current folder. One folder: that repository. Files
    (as pre-commit passes them): the repository holding them, and the files relative to its root."""
    if not paths:
        return find_root("."), None
    if len(paths) == 1 and os.path.isdir(paths[0]):
        return paths[0], None
    folders = [p for p in paths if os.path.isdir(p)]
    if folders:
        fail(f"{folders[0]}: give one repository folder, or files; not both")
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        fail(f"{missing[0]}: no such file")
    root = find_root(os.path.dirname(os.path.abspath(paths[0])) or ".")
    files = set()
    for path in paths:
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        if relative.startswith(".."):
            fail(f"{path}: not inside the repository {root}")
        files.add(Path(relative).as_posix())
    return root, files


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
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
    "-o",
    "--output",
    "--format",
    "fmt",
    default="text",
    type=click.Choice(sorted(FORMATS)),
    help="Format printed on stdout (--format is the older name).",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FORMAT:FILE",
    help="Also write a format to a file (repeatable); without FORMAT: the format comes from the "
    "suffix (.sarif, .json, .xml, .md, .txt).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="The lowest severity that makes the exit code 1.",
)
@verbosity_options
@crd_options
@server_version_option
def validate(
    paths: tuple[str, ...],
    rev: str | None,
    base: str | None,
    token: str | None,
    key_file: str | None,
    fmt: str,
    reports: tuple[str, ...],
    fail_on: str,
    quiet: bool,
    verbose: bool,
    crds: tuple[str, ...],
    crds_from_cluster: bool,
    server_version: str | None,
) -> None:
    """Validate a configuration repository: the one holding the current folder, the folder given, or
    the one holding the FILES given (then only their findings are reported, but the whole repository
    is evaluated, so cross-file rules still hold: what pre-commit needs).

    Exit 0 when nothing fails at --fail-on, 1 when something does, 2 on a usage error or an
    unreadable repository, policy or token.
    """
    import gc

    from reconciler.source import open_source

    # A one-shot process: the parsed repository is acyclic and dies with the process, so the cyclic
    # collector would only rescan it (pipeline.validate pauses it too; here it stays off to the end).
    gc.disable()
    started = time.perf_counter()
    repo, files = _repository_and_files(paths)
    targets = [_parse_report(r) for r in reports]
    # Opened first: git reads the revision's blobs in the background while the pipeline is imported.
    # (The base is read only where it differs from it.)
    with tool_errors():
        source = open_source(repo, rev, read_ahead=True)
        base_source = open_source(repo, base) if base else None
    from reconciler import pipeline
    from reconciler.policy.token import read_token

    with tool_errors():
        result = pipeline.validate(
            source,
            base=base_source,
            token=read_token(token) if token else None,
            key_file=key_file,
            crds=crd_choice(crds, crds_from_cluster),
            server_version=server_version,
        )
    report = result.report
    if files is not None:
        report = Report(
            [f for f in report.findings if f.path in files], files=len(files), unjudged=report.unjudged
        )
    context = ReportContext(rules=result.rules, root=checkout_root(repo), revision=source.revision)
    # Each report file is written on its own: one that fails (a full disk, a renderer's bug) does not
    # keep the others from being written; the first failure is raised once all were tried.
    failures: list[Exception] = []
    for name, path in targets:
        try:
            Path(path).write_text(renderer(name)(report, context))
        except OSError as exc:
            failures.append(OSError(f"cannot write {path}: {exc.strerror}"))
        except Exception as exc:
            failures.append(exc)
    if failures:
        first = failures[0]
        if isinstance(first, OSError):
            fail(str(first))
        raise first
    if verbose:
        where = f"{repo} at {source.revision}" if source.revision else repo
        click.echo(f"validated {where} in {time.perf_counter() - started:.2f} s", err=True)
    if not quiet:
        click.echo(renderer(fmt)(report, context), nl=False)
    exit_code = EXIT_FINDINGS if report.fails(Severity(fail_on)) else EXIT_OK
    click.get_current_context().exit(exit_code)
