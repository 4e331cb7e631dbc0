"""`mcp-gitops policies`: list every rule the validator applies."""

from __future__ import annotations

import json

import click

from reconciler.commands.common import repo_argument, tool_errors


@click.command()
@repo_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def policies(repo: str, fmt: str) -> None:
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
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "severity": r.severity.value,
                        "description": r.description,
                        "source": r.source,
                    }
                    for r in rules.values()
                ],
                indent=2,
            )
        )
        return
    width = max(len(r) for r in rules)
    for rule in rules.values():
        click.echo(f"{rule.id:<{width}}  {rule.severity.value:<7}  {rule.description}")
