"""`mcp-gitops reconcile`: ask a running daemon for a cycle now."""

from __future__ import annotations

import click

from reconciler.commands.common import EXIT_OK, fail
from reconciler.commands.daemon_http import call, secret_from, url_option


@click.command()
@url_option
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The daemon's --reconcile-secret-file (else $MCP_GITOPS_RECONCILE_SECRET).",
)
def reconcile(url: str, secret_file: str | None) -> None:
    """Ask the daemon at --url to reconcile now (POST /reconcile, signed with the shared secret, valid
    for five minutes). The cycle runs in the daemon; `mcp-gitops status` shows its outcome.

    Exit 0 when the daemon accepted the request, 2 when it refused it or cannot be reached."""
    from reconciler.daemon.reconcile_request import SECRET_ENV, SIGNATURE_HEADER, signed_request

    body, signature = signed_request(secret_from(secret_file, SECRET_ENV))
    code, answer = call(
        url, "POST", "/reconcile", body, {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
    )
    message = answer.get("message") if isinstance(answer, dict) else None
    if code != 202:
        fail(f"the daemon refused the request ({code}): {message or 'no reason given'}")
    click.echo(f"mcp-gitops: {message or 'reconcile requested'} at {url}")
    click.get_current_context().exit(EXIT_OK)
