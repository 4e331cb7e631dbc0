"""Benchmark of `drift` against a no-op `plan`: 10,000 entries in the registry + 500 objects in a cluster.

    .venv/bin/python bench/bench_drift.py [--entries 10000] [--objects 500] [--runs 5]
                                          [--database-url URL] [--kubeconfig PATH --context NAME]

A generated repository (bench/generate.py) with `targets: [registry, cluster]` is validated once and
applied once through the reconcile stage (reconciler/reconcile/); then, alternately, a no-op `plan` and
a `drift` (the same plan plus the drift findings) are timed over both targets, with nothing changed and
then with one row changed behind mcp-gitops' back and one object edited as `kubectl` would. Times are the
reconcile stage alone (validation, which both commands share, is reported apart).

Needs a PostgreSQL that allows CREATE DATABASE (as bench_registry.py) and, without --kubeconfig, starts a
private kube-apiserver (as bench_cluster.py). Target: drift within 1.5x a no-op plan.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import connect  # noqa: E402
from bench.bench_registry import DEFAULT_URL, scratch_database  # noqa: E402
from bench.generate import NAMESPACE, write_repo  # noqa: E402
from reconciler import pipeline  # noqa: E402
from reconciler.reconcile import ReconcileStage, Reconciliation, TargetOptions  # noqa: E402
from reconciler.source import open_source  # noqa: E402
from reconciler.targets.cluster import ClusterOptions  # noqa: E402
from reconciler.targets.postgres import RegistryOptions  # noqa: E402


def timed_plan(stage: ReconcileStage, repo: Any, drift: bool) -> tuple[float, Reconciliation]:
    t0 = time.perf_counter()
    reconciliation = stage.plan(repo)
    if drift:
        stage.drift_findings(reconciliation)
    elapsed = time.perf_counter() - t0
    assert not reconciliation.failed, [run.message for run in reconciliation.runs]
    return elapsed, reconciliation


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--database-url", default=os.environ.get("MCP_GITOPS_BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mcp-gitops-bench-drift-"))
    cluster, plane, cluster_options = connect(args, workdir)
    url, drop = scratch_database(args.database_url)
    try:
        from kubernetes import client

        core = client.CoreV1Api(cluster.api_client)
        if NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        root = write_repo(workdir / "repo", args.entries, args.objects)
        settings = (root / "mcp-gitops.yaml").read_text()
        (root / "mcp-gitops.yaml").write_text(settings + "targets: [registry, cluster]\n")

        t0 = time.perf_counter()
        validation = pipeline.validate(open_source(str(root)))
        validate_s = time.perf_counter() - t0
        repo = validation.repo
        options = TargetOptions(
            registry=RegistryOptions(database_url=url),
            cluster=ClusterOptions(kubeconfig=cluster_options.kubeconfig, context=cluster_options.context),
        )
        stage = ReconcileStage([], options)
        t0 = time.perf_counter()
        applied = stage.apply(stage.plan(repo))
        assert not applied.failed, [run.message for run in applied.runs]
        first_s = time.perf_counter() - t0

        plans: list[float] = []
        drifts: list[float] = []
        for _ in range(args.runs):
            elapsed, reconciliation = timed_plan(stage, repo, drift=False)
            assert not reconciliation.has_changes
            plans.append(elapsed)
            elapsed, reconciliation = timed_plan(stage, repo, drift=True)
            assert not any(reconciliation.drift().values())
            drifts.append(elapsed)

        # Drift behind mcp-gitops' back: one row through the database, one object as kubectl would.
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                'UPDATE registry_entry SET claims = \'{"org": "edited"}\''
                " WHERE id = (SELECT min(id::text)::uuid FROM registry_entry)"
            )
        server = next(d for d in repo.manifests if d.data.get("kind") == "MCPServer")
        objects = client.CustomObjectsApi(cluster.api_client)
        objects.patch_namespaced_custom_object(
            "toolhive.stacklok.dev",
            "v1beta1",
            NAMESPACE,
            "mcpservers",
            server.data["metadata"]["name"],
            {"spec": {"proxyPort": 9999}},
            field_manager="kubectl-edit",
        )
        found: list[float] = []
        for _ in range(args.runs):
            elapsed, reconciliation = timed_plan(stage, repo, drift=True)
            assert reconciliation.drift() == {"registry": 1, "cluster": 1}, reconciliation.drift()
            found.append(elapsed)
        stage.close()
    finally:
        drop()
        if plane is not None:
            plane.stop()

    plan_s, drift_s, found_s = (statistics.median(x) for x in (plans, drifts, found))
    print(
        f"{args.entries} entries + {args.objects} objects, median of {args.runs} "
        f"(validation {validate_s:.2f} s and first apply {first_s:.2f} s apart; machine shared)"
    )
    print(f"  no-op plan (both targets):      {plan_s:.3f} s")
    print(
        f"  drift, none:                    {drift_s:.3f} s   ({drift_s / plan_s:.2f}x plan; target <= 1.5x)"
    )
    print(f"  drift, one row + one object:    {found_s:.3f} s   ({found_s / plan_s:.2f}x plan)")
    return 0 if drift_s <= 1.5 * plan_s else 1


if __name__ == "__main__":
    raise SystemExit(main())
