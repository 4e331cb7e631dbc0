"""`mcp-gitops convert`: turn a legacy ToolHive registry file into entry files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reconciler.commands.common import EXIT_OK, fail


def _load(path: Path) -> Any:
    """The legacy file through the project's one loading path (limits, no alias bombs, plain data)."""
    from reconciler.documents import parse

    try:
        raw = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
    result = parse(path.name, raw)
    if result.findings:
        # the finding's place and reason only: the text itself may hold secrets
        finding = result.findings[0]
        fail(f"{path}:{finding.line}: {finding.message}")
    if len(result.documents) != 1:
        fail(f"{path}: expected one JSON or YAML document, found {len(result.documents)}")
    return result.documents[0].data


@click.command()
@click.argument("legacy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write entry files into (e.g. the repository's entries/).",
)
@click.option("--force", is_flag=True, help="Overwrite entry files that already exist.")
@click.option(
    "--claims",
    "claim_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A claim for every converted entry; repeat a key for an array value.",
)
def convert(legacy_file: Path, out_dir: Path, force: bool, claim_pairs: tuple[str, ...]) -> None:
    """Convert a legacy ToolHive registry file (servers / remote_servers / groups) into one entry file
    per server, OUT/<namespace>/<name>-1.0.0.yaml, in the upstream server.json format.

    Exit 0 when converted. What cannot be carried over is listed on stderr: groups (dropped),
    unknown fields (dropped), servers that cannot become a valid entry (not written), and descriptions
    over 100 characters (written shortened at a word boundary, the full text kept as `overview` in
    the publisher-provided metadata: review them). Every file written passes the entry schema.
    Existing files are never overwritten without --force (exit 2, nothing written)."""
    from reconciler.convert import ConvertError, convert_registry, parse_claims, write_entries

    try:
        claims = parse_claims(claim_pairs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--claims") from None
    try:
        data = _load(legacy_file)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{legacy_file}: cannot read: {exc.__class__.__name__}")
    try:
        conversion = convert_registry(data, claims)
        written = write_entries(conversion, out_dir, legacy_file.name, force=force)
    except ConvertError as exc:
        fail(str(exc))
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(written)} entries written to {out_dir}")
    if written and not claims:
        click.echo(
            "note: the entries have empty claims; with authentication enabled (auth.mode oauth, the "
            "default) the claims-required rule reports them: re-run with --claims KEY=VALUE or edit them",
            err=True,
        )
    for line in conversion.unmapped:
        click.echo(f"not mapped: {line}", err=True)
    raise SystemExit(EXIT_OK)
