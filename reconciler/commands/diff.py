"""`mcp-gitops diff`: what merging would change, from Git alone."""

from __future__ import annotations

import gc
import time

import click

from reconciler.commands.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    repo_argument,
    tool_errors,
    verbosity_options,
)
from reconciler.diff.render import FORMATS


@click.command()
@repo_argument
@click.option(
    "--base",
    default=None,
    metavar="REV",
    help="The revision merged into (default: the merge base of HEAD and the default branch).",
)
@click.option("--rev", default=None, metavar="REV", help="The revision to merge (default: the work tree).")
@click.option(
    "-o",
    "--output",
    "fmt",
    default="text",
    type=click.Choice(FORMATS),
    help="Output format (markdown: a PR comment).",
)
@verbosity_options
def diff(repo: str, base: str | None, rev: str | None, fmt: str, quiet: bool, verbose: bool) -> None:
    """Show what merging REV into BASE would change in the registry and the cluster, with old and new
    values, and the findings the change introduces or fixes. Reads no database and no cluster.

    Exit 0 when nothing would change, 1 when something would, 2 on an error (as `argocd app diff`),
    including a revision whose registry state cannot be built (the output says why).
    """
    from reconciler.diff.compute import compute_diff
    from reconciler.diff.render import RENDERERS
    from reconciler.diff.revisions import default_base
    from reconciler.report.locations import checkout_root, root_prefix
    from reconciler.source import open_source

    # A one-shot process, as `validate`: the collector stays off to the end (back on, its next young
    # collection would walk every object both revisions' documents are made of).
    gc.disable()
    started = time.perf_counter()
    with tool_errors():
        base_rev = base or default_base(repo)
        result = compute_diff(open_source(repo, base_rev), open_source(repo, rev))
    if verbose:
        what = f"{base_rev[:12]}..{rev or 'the work tree'}"
        click.echo(f"compared {repo} {what} in {time.perf_counter() - started:.2f} s", err=True)
    if not quiet:
        click.echo(RENDERERS[fmt](result.under(root_prefix(checkout_root(repo)))), nl=False)
    exit_code = EXIT_ERROR if result.problems else EXIT_FINDINGS if result.changed else EXIT_OK
    click.get_current_context().exit(exit_code)
