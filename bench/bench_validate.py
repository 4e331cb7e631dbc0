"""Benchmark `mcp-gitops validate` on a generated repository (issues 2 and 3).

    .venv/bin/python bench/bench_validate.py [--entries 10000] [--manifests 1000] [--runs 5] [--crds DIR]
        [--parsers]

Targets: the whole command <= 2 s wall and <= 300 MB on 10,000 entries + 1,000 manifests; all
policies together add <= 1 s. Reports the median of --runs runs of the real command (a fresh process:
start-up and imports included), with and without the operator's CRDs (--crds, default the upstream
v0.44.0 files beside the checkout), in one process (MCP_GITOPS_JOBS=1) and with the default workers
(one process per core), interleaved; first one run with an empty cache (the CRD files parsed). Memory
is the peak RSS of the largest process and the peak PSS of the whole process tree (a forked worker
shares the parent's pages). Then an in-process breakdown by stage with the CRDs. `--parsers` also
times each candidate YAML parser over the repository's files (docs/loading.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def as_installed() -> None:
    """Byte-compile the package, as `pip install` and the image do: the checkout is installed editable,
    and with PYTHONDONTWRITEBYTECODE set (as on these machines) every command started here would
    otherwise compile its modules from source, a cost no installed copy pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "reconciler")], check=True)


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


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and its children, in KB: pages the parent and a forked
    worker share are counted once, split between them (RSS would count them twice)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            with open(f"/proc/{current}/task/{current}/children") as children:
                pending += [int(child) for child in children.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def command_runs(repo: Path, runs: int, crds: str, jobs: str, cache: str | None = None) -> Runs:
    """Wall times of `runs` runs, the peak RSS of one process among them (each child's own, from
    wait4) and the peak PSS of the whole process tree (sampled every 50 ms), and the last exit code."""
    exe = Path(sys.executable).parent / "mcp-gitops"
    env = {**os.environ, "MCP_GITOPS_CRDS": crds, "MCP_GITOPS_JOBS": jobs}
    if cache is not None:
        env["MCP_GITOPS_CACHE_DIR"] = cache
    walls: list[float] = []
    peak_kb, tree_kb, code = 0, 0, 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "validate", str(repo), "--format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        while not _exited(proc.pid):  # not reaped: wait4 below reads its usage
            tree_kb = max(tree_kb, _tree_pss_kb(proc.pid))
            time.sleep(0.05)  # reading smaps costs CPU the measured processes share
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        code = os.waitstatus_to_exitcode(status)
        peak_kb = max(peak_kb, usage.ru_maxrss)
    return Runs(walls, peak_kb / 1024, tree_kb / 1024, code)


def _exited(pid: int) -> bool:
    """Whether `pid` has exited (a zombie), without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


@dataclass
class Runs:
    walls: list[float]
    peak_rss_mb: float
    tree_pss_mb: float
    code: int

    def line(self, label: str) -> str:
        return (
            f"{label}: median {statistics.median(self.walls):.2f} s, min {min(self.walls):.2f} s, "
            f"max {max(self.walls):.2f} s over {len(self.walls)} runs; peak RSS {self.peak_rss_mb:.0f} MB "
            f"(one process), peak PSS {self.tree_pss_mb:.0f} MB (process tree); exit {self.code}"
        )


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


def repository_files(repo: Path) -> list[tuple[str, bytes]]:
    return [
        (str(p), p.read_bytes())
        for p in sorted(repo.rglob("*"))
        if p.suffix in (".yaml", ".json") and p.is_file()
    ]


def parser_timings(repo: Path) -> dict[str, float]:
    """Seconds to turn every file of the repository into data, per parser (one pass each)."""
    import yaml
    import yaml_rs
    from ruamel.yaml import YAML

    from reconciler.loading import load_text
    from reconciler.loading.safe_yaml import load_yaml

    files = repository_files(repo)
    texts = [(name, raw, raw.decode()) for name, raw in files]

    def ryml_walk() -> None:
        import ryml  # rapidyaml: measured when installed, not a dependency

        for _name, raw, _text in texts:
            tree = ryml.parse_in_arena(raw)
            stack = [tree.root_id()]
            while stack:  # visit every node once, reading keys and values as Python strings
                node = stack.pop()
                if tree.has_key(node):
                    bytes(tree.key(node)).decode()
                if tree.is_val(node) or tree.is_keyval(node):
                    bytes(tree.val(node)).decode()
                child = tree.first_child(node)
                while child != ryml.NONE:
                    stack.append(child)
                    child = tree.next_sibling(child)

    candidates = {
        "mcp-gitops loader (fast path + safe path)": lambda: [load_text(n, t, r) for n, r, t in texts],
        "safe path alone (libyaml + core schema)": lambda: [load_yaml(t) for _n, _r, t in texts],
        "yaml_rs alone (no limits, stops at NUL)": lambda: [
            yaml_rs.loads(t, parse_datetime=False) for n, _r, t in texts if not n.endswith(".json")
        ],
        "PyYAML CSafeLoader (YAML 1.1 schema)": lambda: [
            yaml.load(r, Loader=yaml.CSafeLoader) for _n, r, _t in texts
        ],
        "ruamel.yaml safe, pure Python": lambda: [
            list(YAML(typ="safe", pure=True).load_all(t)) for _n, _r, t in texts
        ],
        "rapidyaml parse + Python walk": ryml_walk,
    }
    timings: dict[str, float] = {}
    for name, run in candidates.items():
        start = time.perf_counter()
        try:
            run()
        except ImportError:
            continue
        timings[name] = time.perf_counter() - start
    return timings


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def machine_speed() -> str:
    """Seconds a fixed interpreter workload takes now (best of 3, a fresh process each): on a shared
    virtual machine the same work has taken from 0.6 to 0.9 s within an hour, and the figures above
    move with it, so every run says what the machine was doing."""
    code = "import gc; gc.disable(); x = [{'a': i, 'b': [i]} for i in range(1_500_000)]; sum(range(10**7))"
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return f"{best:.2f} s"


def _default_jobs() -> int:
    from reconciler import parallel

    return parallel.jobs()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--manifests", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--crds", default=str(UPSTREAM_CRDS), help="CRD folder for the run with CRDs")
    parser.add_argument("--parsers", action="store_true", help="also time each candidate YAML parser")
    args = parser.parse_args()
    as_installed()
    repo = generated_repo(args.entries, args.manifests)
    print(f"repository: {args.entries} entries + {args.manifests} manifests ({repo}); load {_load()}")
    print(f"machine speed (reference workload; lower is faster): {machine_speed()}")
    # A first run with an empty cache: the CRD files are parsed (later runs read what they parse to).
    with tempfile.TemporaryDirectory() as empty:
        print(command_runs(repo, 1, args.crds, "", cache=empty).line("validate, with CRDs, empty cache"))
    results: dict[tuple[str, str], Runs] = {}
    for _ in range(args.runs):  # interleaved: load on the machine changes between runs
        for crds_label, crds in (("without CRDs", ""), ("with CRDs", args.crds)):
            for jobs in ("1", ""):
                run = command_runs(repo, 1, crds, jobs)
                key = (crds_label, jobs)
                if key in results:
                    results[key].walls += run.walls
                    results[key].peak_rss_mb = max(results[key].peak_rss_mb, run.peak_rss_mb)
                    results[key].tree_pss_mb = max(results[key].tree_pss_mb, run.tree_pss_mb)
                else:
                    results[key] = run
    for (crds_label, jobs), run in results.items():
        processes = "one process" if jobs == "1" else f"{_default_jobs()} processes"
        print(run.line(f"validate, {crds_label}, {processes}"))
    print(f"load {_load()}; machine speed after: {machine_speed()}")
    for name, value in stages(repo, args.crds).items():
        unit = "" if name in ("documents", "findings") else " s"
        print(f"  {name:<24} {value:.3f}{unit}" if unit else f"  {name:<24} {int(value)}")
    if args.parsers:
        print("parsers, every file of the repository once:")
        for name, seconds in parser_timings(repo).items():
            print(f"  {name:<44} {seconds:.2f} s")


if __name__ == "__main__":
    main()
