"""Benchmark `mcp-gitops diff` against `mcp-gitops validate --rev` (issue 15).

    .venv/bin/python bench/bench_diff.py [--entries 10000] [--manifests 1000] [--runs 3]

A generated repository is committed twice, the second commit changing one entry's description. Target:
`diff --base FIRST --rev SECOND` within 1.5x of `validate --rev SECOND` on the same repository (it
must not re-plan 10,000 unchanged entries). Reports the medians of --runs runs of each real command
(fresh processes, start-up included) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_validate import as_installed, generated_repo  # noqa: E402

LIMIT = 1.5


def _git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def history(entries: int, manifests: int) -> tuple[Path, str, str]:
    """A Git repository of the generated tree, then one commit changing one entry."""
    out = ROOT / "bench" / "out" / f"history-{entries}-{manifests}"
    if not (out / ".git").exists():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(generated_repo(entries, manifests), out)
        _git(out, "init", "-q", "-b", "main")
        _git(out, "add", "-A")
        _git(out, "commit", "-qm", "generated")
        changed = sorted((out / "entries").rglob("*.json"))[0]
        body = json.loads(changed.read_text())
        body["server"]["description"] = "A changed description"
        changed.write_text(json.dumps(body, indent=2))
        _git(out, "commit", "-qam", "change one entry")
    return out, _git(out, "rev-parse", "HEAD~1"), _git(out, "rev-parse", "HEAD")


def timed(args: list[str], runs: int) -> tuple[float, int, str]:
    walls, code, out = [], 0, ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        code, out = proc.returncode, proc.stdout
    return statistics.median(walls), code, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--manifests", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    as_installed()
    repo, base, head = history(args.entries, args.manifests)
    exe = str(Path(sys.executable).parent / "mcp-gitops")
    validate, validate_code, _ = timed(
        [exe, "validate", str(repo), "--rev", head, "--format", "json"], args.runs
    )
    diff, diff_code, out = timed(
        [exe, "diff", str(repo), "--base", base, "--rev", head, "-o", "json"], args.runs
    )
    changes = json.loads(out)["changes"] if out else []
    ratio = diff / validate
    print(f"repository: {args.entries} entries + {args.manifests} manifests, two commits ({repo})")
    print(f"validate --rev: median {validate:.2f} s over {args.runs} runs (exit {validate_code})")
    print(
        f"diff:           median {diff:.2f} s over {args.runs} runs (exit {diff_code}, {len(changes)} change)"
    )
    print(f"ratio {ratio:.2f} (target <= {LIMIT}): {'ok' if ratio <= LIMIT else 'OVER'}")


if __name__ == "__main__":
    main()
