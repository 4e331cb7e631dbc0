"""`mcp-gitops policies`: list every rule the validator applies; `policies test`: run a repository's
policy test cases."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.commands.common import EXIT_FINDINGS, EXIT_OK, fail, repo_argument, tool_errors

DEFAULT_TEST_FOLDER = "policy-tests"


class _PoliciesGroup(click.Group):
    """`policies [REPO]` lists the rules (as it always has); `policies test [DIR]` runs tests."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_PoliciesGroup)
def policies() -> None:
    """List the rules (`policies [REPO]`), or run policy test cases (`policies test [DIR]`)."""


@policies.command(name="list")
@repo_argument
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def list_rules(repo: str, fmt: str) -> None:
    """List rule IDs, severities and descriptions: the built-in rules, and REPO's own policies."""
    from reconciler.policy.loader import load_policies
    from reconciler.repository import load_settings
    from reconciler.rules import catalogue
    from reconciler.source import open_source

    with tool_errors():
        source = open_source(repo)
        settings = load_settings(source)
        rules = catalogue(load_policies(source, settings.policies).rules())
    if fmt == "json":
        listed = [
            {"id": r.id, "severity": r.severity.value, "description": r.description, "source": r.source}
            for r in rules.values()
        ]
        click.echo(json.dumps(listed, indent=2))
        return
    width = max(len(r) for r in rules)
    for rule in rules.values():
        click.echo(f"{rule.id:<{width}}  {rule.severity.value:<7}  {rule.description}")


@policies.command(name="test")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option(
    "--repo", default=None, type=click.Path(file_okay=False), help="The repository (default: found upwards)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the failing cases.")
def test_policies(folder: str | None, repo: str | None, quiet: bool) -> None:
    """Run the policy test cases in FOLDER (default: policy-tests/ of the repository): each case's
    documents validated with the repository's policies, its findings compared with those expected.

    Exit 0 when every case passes, 1 when one fails, 2 when a test file or a policy is broken."""
    from reconciler.commands.common import find_root
    from reconciler.policy.loader import load_policies
    from reconciler.policy.testcases import CaseFileError, load_case_files, run_case
    from reconciler.report.summary import plural
    from reconciler.repository import load_settings
    from reconciler.source import open_source

    root = repo or find_root(folder or ".")
    with tool_errors():
        source = open_source(root)
        settings = load_settings(source)
        policy_set = load_policies(source, settings.policies)
    own = {
        p.id
        for p in policy_set.policies
        if any(p.path.startswith(f.rstrip("/") + "/") for f in settings.policies)
    }
    config = Path(root) / settings.registryConfig
    try:
        files = load_case_files(Path(folder) if folder else Path(root) / DEFAULT_TEST_FOLDER)
        results = [
            run_case(name, case, policy_set, own, config if config.is_file() else None)
            for name, case_file in files
            for case in case_file.cases
        ]
    except CaseFileError as exc:
        fail(str(exc))
    for result in results:
        if result.passed:
            if not quiet:
                click.echo(f"PASS {result.file}: {result.name}")
            continue
        click.echo(f"FAIL {result.file}: {result.name}")
        for expected in result.missing:
            click.echo(f"  missing:    {expected.text()}")
        for finding in result.unexpected:
            click.echo(
                f"  unexpected: {finding.path}:{finding.line} {finding.rule} {finding.severity.value} "
                f"{finding.message!r}"
            )
    failed = sum(not r.passed for r in results)
    click.echo(f"{plural(len(results), 'case')}: {len(results) - failed} passed, {failed} failed")
    click.get_current_context().exit(EXIT_FINDINGS if failed else EXIT_OK)
