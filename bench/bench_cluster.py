"""Benchmark of the cluster target: server-side apply of 500 ToolHive objects, then a no-op re-apply.

    .venv/bin/python bench/bench_cluster.py [--objects 500] [--runs 3] [--kubeconfig PATH --context NAME]

Without --kubeconfig a private etcd + kube-apiserver is started (tests/harness/kube.py; binaries from
scripts/envtest-assets) and the project CRDs are installed. Each run uses a fresh namespace. The objects
are MCPServers, VirtualMCPServers and MCPGroups (8:1:1) in 50 multi-document files. Times are the cluster
target's plan + apply, from a loaded repository to status read back; loading the files is reported apart.
"no-op, all dry-run" is the no-op with the unchanged-object shortcut off (ClusterOptions.verify_all).

Targets: first apply (every object created) <= 15 s; no-op re-apply <= 3 s.

    .venv/bin/python bench/bench_cluster.py --others 2500 [--objects 500] [--runs 5]

runs instead the no-op re-apply beside other repositories' objects (issue 17: one repository's cost
must not grow with everyone else's objects): two private control planes hold the same repository of
--objects objects, applied once; one of them also holds --others objects of five other repositories
(labelled as ours are, owned by them, each in a namespace of its own). The no-op re-apply (plan + apply)
runs on each in turn, --runs times; medians and their ratio (target 1.0x).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.repository import load_repository  # noqa: E402
from reconciler.source import open_source  # noqa: E402
from reconciler.targets.cluster import ClusterOptions, ClusterTarget  # noqa: E402
from reconciler.targets.cluster.marks import MANAGED_SELECTOR  # noqa: E402

FILES = 50
OTHER_REPOSITORIES = 5


def manifest(kind: str, name: str, index: int) -> str:
    if kind == "MCPGroup":
        spec = f"  description: group {index}\n"
    elif kind == "VirtualMCPServer":
        spec = (
            f"  groupRef:\n    name: group-{index % 10}\n  incomingAuth:\n    type: anonymous\n"
            f"  replicas: 2\n  sessionStorage:\n    provider: redis\n    address: redis:6379\n"
            f'    keyPrefix: "vmcp:{name}:"\n'
        )
    else:
        spec = (
            f"  image: ghcr.io/acme/{name}:1.0.{index}\n  transport: streamable-http\n  replicas: 2\n"
            f"  backendReplicas: 3\n  sessionAffinity: None\n  sessionStorage:\n    provider: redis\n"
            f'    address: redis:6379\n    keyPrefix: "mcp:{name}:"\n'
            f"    passwordRef:\n      name: redis-password\n      key: password\n"
            f"  resources:\n    requests:\n      cpu: 100m\n      memory: 128Mi\n"
        )
    return (
        f"apiVersion: toolhive.stacklok.dev/v1beta1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )


def write_repo(root: Path, count: int, namespace: str) -> None:
    (root / "manifests").mkdir(parents=True)
    (root / "mcp-gitops.yaml").write_text(f"namespace: {namespace}\n")
    files: list[list[str]] = [[] for _ in range(FILES)]
    for index in range(count):
        kind = {0: "MCPGroup", 1: "VirtualMCPServer"}.get(index % 10, "MCPServer")
        name = f"group-{index // 10}" if kind == "MCPGroup" else f"{kind.lower()}-{index}"
        files[index % FILES].append(manifest(kind, name, index))
    for number, docs in enumerate(files):
        (root / "manifests" / f"servers-{number:02d}.yaml").write_text("---\n".join(docs))


def connect(args: argparse.Namespace, workdir: Path) -> tuple[Any, Any, Any]:
    """(KubeCluster, ControlPlane or None, ClusterOptions)."""
    from tests.harness.kube import ControlPlane, KubeCluster, _assets_dir, crd_documents, install_crds

    plane = None
    if args.kubeconfig:
        cluster = KubeCluster(Path(args.kubeconfig), args.context, private=False)
    else:
        started = time.perf_counter()
        plane = ControlPlane(_assets_dir(), workdir)
        plane.start()
        cluster = KubeCluster(plane.write_kubeconfig(workdir / "kubeconfig"), "envtest", private=True)
        print(f"control plane started in {time.perf_counter() - started:.1f} s")
    install_crds(cluster, crd_documents())
    options = ClusterOptions(kubeconfig=str(cluster.kubeconfig), context=cluster.context)
    return cluster, plane, options


def create_namespace(cluster: Any, name: str) -> str:
    from kubernetes import client

    client.CoreV1Api(cluster.api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )
    return name


def one_run(cluster: Any, options: ClusterOptions, count: int, workdir: Path) -> dict[str, float]:
    namespace = create_namespace(cluster, f"bench-{uuid.uuid4().hex[:8]}")
    root = workdir / namespace
    write_repo(root, count, namespace)
    t0 = time.perf_counter()
    repo = load_repository(open_source(str(root)))
    load_s = time.perf_counter() - t0
    assert len(repo.manifests) == count, (len(repo.manifests), repo.findings[:3])

    figures = {"load": load_s}
    verify_all = replace(options, verify_all=True)
    steps = [
        ("first apply", options, count),
        ("no-op re-apply", options, 0),
        ("no-op, all dry-run", verify_all, 0),
        ("one-object change", options, 1),
    ]
    for label, opts, expected in steps:
        if label == "one-object change":
            first = root / "manifests" / "servers-02.yaml"
            first.write_text(first.read_text().replace("replicas: 2", "replicas: 4", 1))
            repo = load_repository(open_source(str(root)))
        target = ClusterTarget()
        t0 = time.perf_counter()
        plan = target.plan(repo, opts)
        t_plan = time.perf_counter() - t0
        result = target.apply(plan, opts)
        figures[label] = time.perf_counter() - t0
        figures[f"{label} (plan)"] = t_plan
        target.close()
        changed = len(result.created) + len(result.updated)
        assert changed == expected, f"{label}: {changed} objects changed, expected {expected}"
    return figures


def applied_repository(cluster: Any, options: ClusterOptions, count: int, root: Path, namespace: str) -> Any:
    """A repository of `count` objects in `namespace` (created), applied once: its objects exist."""
    write_repo(root, count, create_namespace(cluster, namespace))
    repo = load_repository(open_source(str(root)))
    target = ClusterTarget()
    try:
        result = target.apply(target.plan(repo, options), options)
    finally:
        target.close()
    assert len(result.created) == count, (len(result.created), count)
    return repo


def no_op(repo: Any, options: ClusterOptions) -> float:
    target = ClusterTarget()
    try:
        started = time.perf_counter()
        result = target.apply(target.plan(repo, options), options)
        elapsed = time.perf_counter() - started
    finally:
        target.close()
    assert not (result.created or result.updated), "a no-op re-apply changed objects"
    return elapsed


def labelled(cluster: Any) -> int:
    """Objects with the managed-by label in the whole cluster (every ToolHive kind)."""
    from kubernetes import client

    api = client.CustomObjectsApi(cluster.api_client)
    return sum(
        len(api.list_cluster_custom_object(
            "toolhive.stacklok.dev", "v1beta1", plural, label_selector=MANAGED_SELECTOR
        )["items"])
        for plural in ("mcpservers", "virtualmcpservers", "mcpgroups")
    )  # fmt: skip


def beside_others(args: argparse.Namespace, workdir: Path) -> None:
    """The no-op re-apply of one repository in a cluster without and one with others' objects."""
    clusters: dict[str, tuple[Any, Any, ClusterOptions, Any]] = {}
    try:
        for side in ("without others", "with others"):
            folder = workdir / side.replace(" ", "-")
            folder.mkdir()
            cluster, plane, options = connect(args, folder)
            clusters[side] = (cluster, plane, options, None)
            repo = applied_repository(cluster, options, args.objects, folder / "ours", "ours")
            clusters[side] = (cluster, plane, options, repo)
        cluster, _, options, _ = clusters["with others"]
        started = time.perf_counter()
        for number in range(OTHER_REPOSITORIES):
            applied_repository(
                cluster, options, args.others // OTHER_REPOSITORIES,
                workdir / f"other-{number}", f"other-{number}",
            )  # fmt: skip
        print(
            f"{args.others} objects of {OTHER_REPOSITORIES} other repositories applied in "
            f"{time.perf_counter() - started:.1f} s; labelled objects: "
            + ", ".join(f"{side} {labelled(c[0])}" for side, c in clusters.items())
        )
        times: dict[str, list[float]] = {side: [] for side in clusters}
        for _ in range(args.runs):
            for side, (_, _, options, repo) in clusters.items():
                times[side].append(no_op(repo, options))
    finally:
        for _, plane, _, _ in clusters.values():
            if plane is not None:
                plane.stop()
    medians = {side: statistics.median(values) for side, values in times.items()}
    print(f"cluster no-op re-apply, {args.objects} objects, {args.runs} interleaved runs (median, min-max):")
    for side, values in times.items():
        print(f"  {side:15s} {medians[side]:6.2f} s   ({min(values):.2f}-{max(values):.2f})")
    ratio = medians["with others"] / medians["without others"]
    print(f"  ratio with / without {args.others} others' objects: {ratio:.2f}x (target 1.0x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    parser.add_argument(
        "--others", type=int, default=0, help="run the no-op beside this many objects of other repositories"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mcp-gitops-bench-cluster-"))
    if args.others:
        if args.kubeconfig:
            parser.error("--others starts its own two control planes: no --kubeconfig")
        try:
            beside_others(args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    cluster, plane, options = connect(args, workdir)
    try:
        runs = [one_run(cluster, options, args.objects, workdir) for _ in range(args.runs)]
    finally:
        if plane is not None:
            plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    runs_text = f"{args.runs} runs (median, min-max)"
    print(f"cluster target, {args.objects} objects, {runs_text}, {options.workers} workers:")
    targets = {"first apply": 15.0, "no-op re-apply": 3.0}
    for label in runs[0]:
        values = [run[label] for run in runs]
        goal = f"   target <= {targets[label]:.0f} s" if label in targets else ""
        print(
            f"  {label:28s} {statistics.median(values):6.2f} s   ({min(values):.2f}-{max(values):.2f}){goal}"
        )


if __name__ == "__main__":
    main()
