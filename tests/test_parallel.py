"""Loading and policy evaluation shared with forked workers (reconciler/parallel.py) give exactly what
one process gives: the same documents in the same order, the same findings in the same order. A
worker that fails in any way has its part done by the parent."""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import pytest

from reconciler import parallel
from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.test_cost_reuse import _edit as random_edit

from generate import write_repo  # bench/ is on sys.path through test_cost_reuse


def _square(value: int) -> int:
    return value * value


def test_results_come_back_in_order_from_every_worker() -> None:
    parts = [lambda v=v: {"value": _square(v), "list": [v] * v} for v in range(5)]
    results = parallel.fork_map(parts, lambda r: r, lambda w: w)  # type: ignore[arg-type,return-value]
    assert results == [{"value": v * v, "list": [v] * v} for v in range(5)]


@pytest.mark.parametrize("failure", ["raises", "exits", "killed", "unmarshallable"])
def test_a_failed_worker_has_its_part_done_here(failure: str) -> None:
    parent = os.getpid()

    def part() -> object:
        if os.getpid() != parent:
            if failure == "raises":
                raise RuntimeError("worker failed")
            if failure == "exits":
                os._exit(3)
            if failure == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            return object()  # marshal cannot carry it
        return "done here"

    assert parallel.fork_map([lambda: "first", part], lambda r: r, lambda w: w) == ["first", "done here"]


def test_no_worker_is_left_behind_when_the_parent_part_fails() -> None:
    def parent_part() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        parallel.fork_map([parent_part, lambda: "x"], lambda r: r, lambda w: w)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every child was reaped


def test_jobs_is_one_with_other_threads_or_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "3")
    assert parallel.jobs() == 3
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.jobs() == 1  # a forked child would inherit the locks other threads hold
    finally:
        stop.set()
        thread.join()
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "1")
    assert parallel.jobs() == 1


def test_slices_are_contiguous_and_cover_everything() -> None:
    items = list(range(101))
    for weights in ([1.0], [1.0, 1.0], [0.2, 1.0, 1.0], [0.1, 1.0, 1.0, 1.0]):
        cut = parallel.slices(items, weights)
        assert [i for part in cut for i in part] == items
        assert len(cut) == len(weights)


def _snapshot(repo: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> tuple[object, ...]:
    monkeypatch.setenv(parallel.JOBS_VARIABLE, str(jobs))
    result = validate(FolderSource(repo))  # with the operator's CRDs (tests/harness/upstream.py)
    loaded = result.repo
    return (
        [f.to_json() for f in result.report.findings],  # in list order, not sorted
        [(d.path, d.index, d.line, d.kind, d.valid, d.digest, d.data) for d in loaded.entries],
        [(d.path, d.kind, d.valid) for d in loaded.manifests],
        [d.locate(("server", "name")) for d in loaded.entries[-50:]],
        loaded.files,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shared_work_equals_one_process_over_random_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr("reconciler.repository.PARALLEL_FILES", 50)
    monkeypatch.setattr("reconciler.policy.engine.PARALLEL_DOCUMENTS", 50)
    repo = write_repo(tmp_path / "repo", 400, 40, seed=seed)
    rng = random.Random(seed)
    files = sorted(p for p in repo.rglob("*") if p.is_file() and p.parent != repo)
    edits = [random_edit(repo, rng, files) for _ in range(30)]
    alone = _snapshot(repo, monkeypatch, 1)
    assert alone[0], "the edits should give findings"
    for jobs in (2, 3):
        assert _snapshot(repo, monkeypatch, jobs) == alone, f"jobs={jobs} after {edits}"
