"""`validate --format text` (the default, and the pre-commit hook) on a repository whose file names,
claim keys and waiver reasons carry terminal escapes and forged annotation lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.builders import entry, write_repo

CLI = [sys.executable, "-c", "import sys; from reconciler.cli import main; sys.exit(main())"]
FORGE = "\x1b[2J\x1b]0;owned\x07\r\n::error file=forged.yaml,line=1::forged"


def test_text_output_escapes_what_the_repository_wrote(tmp_path: Path) -> None:
    bad_claims = entry()
    bad_claims["claims"] = {f"team{FORGE}": {"nested": 1}}
    repo = write_repo(
        tmp_path / "repo",
        entries={f"evil{FORGE.replace('/', '_')}.yaml": bad_claims},
        settings={"waivers": [{"rule": "claims-values", "target": {"path": "x.yaml"}, "reason": FORGE}]},
    )
    done = subprocess.run([*CLI, "validate", str(repo)], capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out, out
    assert not [line for line in out.splitlines() if line.startswith("::error file=forged")], out
    assert "\\x1b[2J" in out  # shown, escaped: the reader still sees what is there
    as_json = subprocess.run(
        [*CLI, "validate", str(repo), "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert json.loads(as_json.stdout)["findings"]


def test_an_error_line_stays_one_escaped_line(tmp_path: Path) -> None:
    missing = tmp_path / "no\x1b[31msuch\nrepo"
    done = subprocess.run([*CLI, "validate", str(missing)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("mcp-gitops: error:") and "\\x1b[31m" in done.stderr
