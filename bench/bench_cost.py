"""Issue 17: what a one-entry change costs, side by side with its baseline or floor in the same run.

    .venv/bin/python bench/bench_cost.py [--entries 10000] [--manifests 1000] [--runs 5]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

On a generated repository committed twice (the second commit changes one entry's description,
bench_diff.history), each row runs real commands (fresh processes, start-up included), interleaved run
by run so that the load of a shared machine falls on both sides alike, and reports medians and ratios:

- `validate --rev HEAD --base HEAD~1` against `validate --rev HEAD` (time and peak RSS; targets 1.1x
  and 1.2x);
- `apply --target registry --rev HEAD` after an apply of HEAD~1 (one entry changed) against
  `validate --rev HEAD` (target 1.1x), with what the apply adds after validation and the registry
  stage's own duration (lock, compare, write, commit: the duration its result reports);
- the first `apply --target registry` into an empty database against `psql \\copy` of the same rows
  into the same, empty, tables (target 4x), and the registry stage alone and `validate --rev HEAD`
  alone (which the apply runs before writing: a lower bound) against the same floor;
- the daemon (`--rows daemon`): a commit changing one entry until its row is in PostgreSQL, p50 over
  --commits commits, with the cycle's steps.

The CRDs come from $MCP_GITOPS_CRDS, default the upstream v0.44.0 files beside the checkout.
Scratch databases are created in the server of --database-url and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_daemon import DaemonProcess, git, make_remote
from bench_daemon import scratch_database as daemon_database
from bench_diff import history
from bench_registry import scratch_database
from bench_validate import UPSTREAM_CRDS, as_installed, generated_repo

EXE = str(Path(sys.executable).parent / "mcp-gitops")
DEFAULT_URL = os.environ.get("MCP_GITOPS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


Figures = tuple[float, ...]  # wall seconds, peak RSS (MB), then whatever else a side measures


def run(args: list[str], env: dict[str, str], output: list[str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, which must succeed (exit 0 or 1: findings);
    its standard output is appended to `output` when one is given."""
    start = time.perf_counter()
    stdout = subprocess.PIPE if output is not None else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=stdout, stderr=subprocess.PIPE, env=env)
    text = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(args)} exited {code}: {stderr}")
    if output is not None:
        output.append(text)
    return wall, usage.ru_maxrss / 1024


def interleaved(runs: int, sides: dict[str, Callable[[], Figures]]) -> dict[str, Figures]:
    """Median of each figure of each side, the sides run in turn `runs` times (each side's walls are
    printed too, so that the spread a shared machine causes shows)."""
    samples: dict[str, list[Figures]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, side in sides.items():
            samples[name].append(side())
    for name, figures in samples.items():
        print(f"  {name}: " + ", ".join(f"{f[0]:.2f}" for f in figures) + " s")
    return {
        name: tuple(statistics.median(f) for f in zip(*figures, strict=True))
        for name, figures in samples.items()
    }


def psql_copy_floor(url: str, empty_url: str, tmp: Path) -> Callable[[], Figures]:
    """The rows the first apply wrote into `url`, exported once; the floor is one `psql` process
    loading them with \\copy into `empty_url`'s tables (emptied before each run, untimed)."""
    tables = subprocess.run(
        [
            "psql",
            url,
            "-Atc",
            # Parents before children, so that the foreign keys hold row by row as in the apply.
            "WITH RECURSIVE deps(child, parent) AS ("
            " SELECT c.conrelid, c.confrelid FROM pg_constraint c"
            " WHERE c.contype = 'f' AND c.conrelid <> c.confrelid),"
            " depth(rel, level) AS ("
            " SELECT relid, 0 FROM pg_stat_user_tables WHERE n_live_tup > 0"
            " UNION ALL SELECT d.parent, depth.level + 1 FROM depth JOIN deps d ON d.child = depth.rel)"
            " SELECT format('%I.%I', n.nspname, c.relname) FROM depth"
            " JOIN pg_class c ON c.oid = depth.rel JOIN pg_namespace n ON n.oid = c.relnamespace"
            " GROUP BY n.nspname, c.relname ORDER BY max(level) DESC, 1",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    tables = [t for t in tables if not t.endswith(".schema_migrations")]
    script = []
    for table in tables:
        data = tmp / f"{table}.copy"
        subprocess.run(["psql", url, "-qc", f"\\copy {table} TO '{data}'"], check=True)
        script.append(f"\\copy {table} FROM '{data}'")
    schema = subprocess.run(["pg_dump", "--schema-only", url], check=True, capture_output=True).stdout
    subprocess.run(["psql", empty_url, "-q"], input=schema, check=True, capture_output=True)
    load = tmp / "load.sql"
    load.write_text("BEGIN;\n" + "\n".join(script) + "\nCOMMIT;\n")
    truncate = "TRUNCATE " + ", ".join(tables) + " CASCADE"

    def side() -> Figures:
        subprocess.run(["psql", empty_url, "-qc", truncate], check=True, capture_output=True)
        return run(["psql", empty_url, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(load)], dict(os.environ))

    return side


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--manifests", type=int, default=None, help="default: entries / 10")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a server that allows CREATE DATABASE")
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=["pr", "apply", "first", "daemon"],
        default=["pr", "apply", "first", "daemon"],
    )
    parser.add_argument("--commits", type=int, default=7, help="one-entry commits for the daemon row")
    args = parser.parse_args()
    as_installed()
    manifests = args.manifests if args.manifests is not None else args.entries // 10
    repo, base, head = history(args.entries, manifests)
    env = {**os.environ, "MCP_GITOPS_CRDS": os.environ.get("MCP_GITOPS_CRDS", str(UPSTREAM_CRDS))}
    print(
        f"repository: {args.entries} entries + {manifests} manifests, two commits ({repo}); {args.runs} runs"
    )

    def validate(*extra: str) -> Callable[[], tuple[float, float]]:
        return lambda: run([EXE, "validate", str(repo), "--rev", head, "-o", "json", *extra], env)

    if "pr" in args.rows:
        pull_request(args.runs, validate, base)
    if "apply" in args.rows or "first" in args.rows:
        registry(args, validate, lambda url, rev: applied(apply_command(repo, url, rev), env))
    if "daemon" in args.rows:
        daemon(args, manifests, env, validate)


def pull_request(runs: int, validate: Callable[..., Callable[[], tuple[float, float]]], base: str) -> None:
    figures = interleaved(runs, {"validate": validate(), "validate --base": validate("--base", base)})
    full, pr = figures["validate"], figures["validate --base"]
    print(f"validate --rev HEAD:                 {full[0]:.2f} s, {full[1]:.0f} MB")
    print(
        f"validate --rev HEAD --base HEAD~1:   {pr[0]:.2f} s ({pr[0] / full[0]:.2f}x, target 1.1x), "
        f"{pr[1]:.0f} MB ({pr[1] / full[1]:.2f}x, target 1.2x)"
    )


def apply_command(repo: Path, url: str, rev: str) -> list[str]:
    return [EXE, "apply", str(repo), "--rev", rev, "--target", "registry", "--database-url", url]


# the registry result's last line: "applied: ... in N ms" or "no changes (N ms)"
STAGE_MS = re.compile(r"(?:in (\d+) ms|\((\d+) ms\))\s*$")


def applied(args: list[str], env: dict[str, str]) -> Figures:
    """An apply's wall seconds and peak RSS, and its registry stage's own seconds (lock, compare, write,
    commit), from its text output (JSON output would list every row of a first apply, a cost of its
    own)."""
    output: list[str] = []
    wall, peak = run(args, env, output)
    found = STAGE_MS.search(output[0])
    if found is None:
        raise SystemExit(f"{' '.join(args)}: no duration in its output: {output[0][-500:]}")
    return wall, peak, int(found.group(1) or found.group(2)) / 1000


def registry(
    args: argparse.Namespace,
    validate: Callable[..., Callable[[], tuple[float, float]]],
    apply: Callable[[str, str], Figures],
) -> None:
    base, head = "HEAD~1", "HEAD"
    url, drop = scratch_database(args.database_url)
    empty_url, drop_empty = scratch_database(args.database_url)
    try:
        apply(url, base)

        def one_entry() -> Figures:
            apply(url, base)  # back to the base, untimed
            return apply(url, head)

        if "apply" in args.rows:
            figures = interleaved(args.runs, {"validate": validate(), "apply one entry": one_entry})
            check, one = figures["validate"], figures["apply one entry"]
            print(f"validate --rev HEAD:                 {check[0]:.2f} s")
            ratio = one[0] / check[0]
            print(f"apply --target registry, one entry:  {one[0]:.2f} s ({ratio:.2f}x, target 1.1x)")
            print(
                f"  ... after validation:               +{one[0] - check[0]:.2f} s, the registry stage"
                f" {one[2] * 1000:.0f} ms"
            )
        if "first" not in args.rows:
            return

        with tempfile.TemporaryDirectory(prefix="mcpgitops-cost-") as tmp:
            floor = psql_copy_floor(url, empty_url, Path(tmp))

            def first_apply() -> Figures:
                fresh, drop_fresh = scratch_database(args.database_url)
                try:
                    return apply(fresh, head)
                finally:
                    drop_fresh()

            figures = interleaved(
                args.runs, {"psql \\copy": floor, "first apply": first_apply, "validate": validate()}
            )
        copy, first, check = figures["psql \\copy"], figures["first apply"], figures["validate"]
        print(f"psql \\copy of the same rows:         {copy[0]:.2f} s")
        print(f"apply --target registry, first:      {first[0]:.2f} s ({first[0] / copy[0]:.1f}x, target 4x)")
        print(
            f"  ... its registry stage alone:       {first[2]:.2f} s ({first[2] / copy[0]:.1f}x \\copy;"
            " creating the tables included, which the floor's are not)"
        )
        # The apply validates before it writes: validation alone bounds it from below.
        print(f"  ... validate --rev HEAD alone:      {check[0]:.2f} s ({check[0] / copy[0]:.1f}x \\copy)")
    finally:
        drop()
        drop_empty()


def daemon(
    args: argparse.Namespace,
    manifests: int,
    env: dict[str, str],
    validate: Callable[..., Callable[[], tuple[float, float]]],
) -> None:
    """A daemon process follows a bare repository of the generated tree; each of --commits commits
    changes one entry's description and is announced by a webhook; the clock runs from the end of the
    push until the new description is in PostgreSQL. Beside it: `validate` of the repository."""
    with tempfile.TemporaryDirectory(prefix="mcpgitops-cost-daemon-") as tmp_name:
        tmp = Path(tmp_name)
        bare, work = make_remote(tmp, generated_repo(args.entries, manifests))
        entry = sorted((work / "entries").rglob("*.json"))[0]
        body = json.loads(entry.read_text())
        name, version = body["server"]["name"], body["server"]["version"]
        samples: list[float] = []
        with daemon_database(args.database_url) as db_url:
            process = DaemonProcess(bare, db_url, tmp / "state", tmp / "daemon.log", "--no-watch", env=env)
            try:
                process.wait_cycles(1, 600)
                for n in range(args.commits):
                    body["server"]["description"] = f"edit {n}"
                    entry.write_text(json.dumps(body, indent=2))
                    git("commit", "--quiet", "-am", f"edit {n}", cwd=work)
                    git("push", "--quiet", "origin", "main", cwd=work)
                    pushed = time.perf_counter()
                    process.webhook(git("rev-parse", "HEAD", cwd=work))
                    while _description(db_url, name, version) != f"edit {n}":
                        if time.perf_counter() - pushed > 60:
                            raise SystemExit(
                                f"commit {n} not applied after 60 s: {process.log.read_text()[-2000:]}"
                            )
                        time.sleep(0.01)
                    samples.append(time.perf_counter() - pushed)
                process.wait_cycles(1 + args.commits, 60)
                cycles = [c for c in process.status()["history"] if not c["skipped"]][: args.commits]
            finally:
                process.stop()
    check = statistics.median(validate()()[0] for _ in range(3))
    p50 = statistics.median(samples)
    print(f"validate --rev HEAD:                 {check:.2f} s (median of 3)")
    print(
        f"daemon, one-entry commit -> row:     p50 {p50:.2f} s, max {max(samples):.2f} s over "
        f"{len(samples)} commits ({p50 / check:.2f}x of validate; target <= 1 s at 10k)"
    )
    # Where a cycle's time goes (the daemon's own step timings, /status history): median per step.
    names = dict.fromkeys(step for c in cycles for step in c["stepsMs"])
    steps = {step: statistics.median(c["stepsMs"].get(step, 0.0) for c in cycles) for step in names}
    whole = statistics.median(c["durationMs"] for c in cycles)
    print(
        f"  cycle {whole:.0f} ms (median): "
        + ", ".join(f"{step} {ms:.0f}" for step, ms in steps.items())
        + f", other {whole - sum(steps.values()):.0f} ms"
    )


def _description(url: str, name: str, version: str) -> str | None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT description FROM entry_version WHERE name = %s AND version = %s", [name, version]
        ).fetchone()
        return row[0] if row else None


if __name__ == "__main__":
    main()
