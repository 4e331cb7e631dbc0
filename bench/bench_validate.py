"""Benchmark `mcp-gitops validate` on a generated repository (issues 2 and 3).

    .venv/bin/python bench/bench_validate.py [--entries 10000] [--manifests 1000] [--runs 3] [--crds DIR]

Targets: the whole command <= 2 s wall and <= 300 MB peak RSS on 10,000 entries + 1,000 manifests; all
policies together add <= 1 s. Reports the median of --runs runs of the real command (a fresh process:
start-up and imports included), with and without the operator's CRDs (--crds, default the upstream
v0.44.0 files beside the checkout), and an in-process breakdown by stage with them.
"""

from __future__ import annotations

import argparse
import os
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


UPSTREAM_CRDS = ROOT.parent / "shared" / "upstream" / "toolhive-v0.44.0" / "crds"


def command_runs(repo: Path, runs: int, crds: str) -> tuple[list[float], float, int]:
    """Wall times, the peak RSS of these runs (each child's own, from wait4), and the last exit code."""
    exe = Path(sys.executable).parent / "mcp-gitops"
    env = {**os.environ, "MCP_GITOPS_CRDS": crds}
    walls: list[float] = []
    peak_kb, code = 0, 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "validate", str(repo), "--format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        code = os.waitstatus_to_exitcode(status)
        peak_kb = max(peak_kb, usage.ru_maxrss)
    return walls, peak_kb / 1024, code


def stages(repo: Path, crds: str) -> dict[str, float]:
    import gc

    gc.disable()  # as pipeline.validate does
    from reconciler.crds.sources import CrdOptions
    from reconciler.policy.engine import evaluate
    from reconciler.policy.loader import load_policies
    from reconciler.policy.waivers import apply_waivers
    from reconciler.repository import load_repository
    from reconciler.source import FolderSource

    source = FolderSource(repo)
    t0 = time.perf_counter()
    loaded = load_repository(source, crds=CrdOptions(locations=(crds,) if crds else ()))
    t1 = time.perf_counter()
    policies = load_policies(source, loaded.settings.policies)
    t2 = time.perf_counter()
    findings = evaluate(loaded, policies)
    t3 = time.perf_counter()
    apply_waivers(loaded, loaded.findings + findings)
    t4 = time.perf_counter()
    return {
        "read + parse + schema + CRDs": t1 - t0,
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
    parser.add_argument("--crds", default=str(UPSTREAM_CRDS), help="CRD folder for the run with CRDs")
    args = parser.parse_args()
    repo = generated_repo(args.entries, args.manifests)
    print(f"repository: {args.entries} entries + {args.manifests} manifests ({repo})")
    for label, crds in (("without CRDs", ""), ("with CRDs", args.crds)):
        walls, peak_mb, code = command_runs(repo, args.runs, crds)
        print(
            f"mcp-gitops validate, {label}: median {statistics.median(walls):.2f} s, max {max(walls):.2f} s "
            f"over {args.runs} runs; peak RSS {peak_mb:.0f} MB; exit {code}"
        )
    for name, value in stages(repo, args.crds).items():
        unit = "" if name in ("documents", "findings") else " s"
        print(f"  {name:<24} {value:.3f}{unit}" if unit else f"  {name:<24} {int(value)}")


if __name__ == "__main__":
    main()
