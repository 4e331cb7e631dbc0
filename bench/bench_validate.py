"""Benchmark `mcp-gitops validate` on a generated repository (issues 2 and 3).

    .venv/bin/python bench/bench_validate.py [--entries 10000] [--manifests 1000] [--runs 3]

Targets: the whole command <= 2 s wall and <= 300 MB peak RSS on 10,000 entries + 1,000 manifests; all
policies together add <= 1 s. Reports the median of --runs runs of the real command (a fresh process:
start-up and imports included), and an in-process breakdown by stage.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generated_repo(entries: int, manifests: int) -> Path:
    out = ROOT / "bench" / "out" / f"repo-{entries}-{manifests}"
    if not (out / "registry.yaml").exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "generate.py"),
                str(out),
                "--entries",
                str(entries),
                "--manifests",
                str(manifests),
            ],
            check=True,
        )
    return out


def command_runs(repo: Path, runs: int) -> tuple[list[float], float, int]:
    exe = Path(sys.executable).parent / "mcp-gitops"
    walls: list[float] = []
    code = 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([str(exe), "validate", str(repo), "--format", "json"], capture_output=True)
        walls.append(time.perf_counter() - start)
        code = proc.returncode
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return walls, peak_mb, code


def stages(repo: Path) -> dict[str, float]:
    import gc

    gc.disable()  # as pipeline.validate does
    from reconciler.policy.engine import evaluate
    from reconciler.policy.loader import load_policies
    from reconciler.policy.waivers import apply_waivers
    from reconciler.repository import load_repository
    from reconciler.source import FolderSource

    source = FolderSource(repo)
    t0 = time.perf_counter()
    loaded = load_repository(source)
    t1 = time.perf_counter()
    policies = load_policies(source, loaded.settings.policies)
    t2 = time.perf_counter()
    findings = evaluate(loaded, policies)
    t3 = time.perf_counter()
    apply_waivers(loaded, loaded.findings + findings)
    t4 = time.perf_counter()
    return {
        "read + parse + schema": t1 - t0,
        "compile policies": t2 - t1,
        "evaluate policies": t3 - t2,
        "waivers": t4 - t3,
        "documents": float(len(loaded.entries) + len(loaded.manifests)),
        "findings": float(len(loaded.findings) + len(findings)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--manifests", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    repo = generated_repo(args.entries, args.manifests)
    walls, peak_mb, code = command_runs(repo, args.runs)
    print(f"repository: {args.entries} entries + {args.manifests} manifests ({repo})")
    print(
        f"mcp-gitops validate: median {statistics.median(walls):.2f} s, max {max(walls):.2f} s over "
        f"{args.runs} runs; peak RSS {peak_mb:.0f} MB; exit {code}"
    )
    for name, value in stages(repo).items():
        unit = "" if name in ("documents", "findings") else " s"
        print(f"  {name:<24} {value:.3f}{unit}" if unit else f"  {name:<24} {int(value)}")


if __name__ == "__main__":
    main()
