"""Loading and policy evaluation shared with forked workers (reconciler/parallel.py) give exactly what
one process gives: the same documents in the same order, the same findings in the same order. A
worker that fails in any way has its chunks done by the parent."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from reconciler import parallel
from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.test_cost_reuse import _edit as random_edit
from tests.test_cost_reuse import write_repo  # bench/generate.py


def _shared(total: int, size: int, jobs: int, work: object) -> list[object]:
    return parallel.SharedWork(total, size, work, lambda r: r, lambda w: w, jobs).finish()  # type: ignore[arg-type]


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_every_chunk_comes_back_once_in_order(jobs: int) -> None:
    results = _shared(1000, 7, jobs, lambda chunk: [i * i for i in chunk])
    assert [v for chunk in results for v in chunk] == [i * i for i in range(1000)]  # type: ignore[attr-defined]


def test_the_chunks_are_shared_between_the_processes() -> None:
    def work(chunk: range) -> list[int]:
        time.sleep(0.002)  # long enough for every process to take some
        return [os.getpid()] * len(chunk)

    pids = {pid for chunk in _shared(200, 5, 3, work) for pid in chunk}  # type: ignore[attr-defined]
    assert os.getpid() in pids and len(pids) == 3


@pytest.mark.parametrize("failure", ["raises", "exits", "killed", "unmarshallable"])
def test_a_failed_worker_has_its_chunks_worked_here(failure: str) -> None:
    parent = os.getpid()

    def work(chunk: range) -> object:
        if os.getpid() != parent:
            if failure == "raises":
                raise RuntimeError("worker failed")
            if failure == "exits":
                os._exit(3)
            if failure == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            return object()  # marshal cannot carry it
        time.sleep(0.001)
        return list(chunk)

    results = _shared(300, 10, 2, work)
    assert [v for chunk in results for v in chunk] == list(range(300))  # type: ignore[attr-defined]


def test_no_worker_is_left_behind_when_this_process_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    forked: list[int] = []
    fork = os.fork

    def recording_fork() -> int:
        pid = fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)

    def work(chunk: range) -> list[int]:
        if os.getpid() == parent:
            raise KeyboardInterrupt
        time.sleep(0.01)
        return list(chunk)

    with pytest.raises(KeyboardInterrupt):
        _shared(1000, 10, 3, work)
    assert len(forked) == 2
    for pid in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # stopped and reaped


@pytest.mark.parametrize("jobs", [1, 2])
def test_work_beside_runs_once_here_while_the_children_take_chunks(jobs: int) -> None:
    parent = os.getpid()
    ran: list[int] = []

    def beside() -> None:
        ran.append(os.getpid())
        time.sleep(0.2)  # the children take chunks meanwhile

    def work(chunk: range) -> list[int]:
        time.sleep(0.002)
        return [os.getpid()] * len(chunk)

    results = parallel.SharedWork(100, 5, work, lambda r: r, lambda w: w, jobs).finish(beside)  # type: ignore[arg-type]
    pids = [pid for chunk in results for pid in chunk]  # type: ignore[attr-defined]
    assert ran == [parent] and len(pids) == 100
    if jobs == 2:
        assert pids.count(parent) < 50  # busy beside, this process took fewer chunks


def test_validate_runs_the_callers_work_beside_its_workers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.policy.engine.PARALLEL_DOCUMENTS", 50)
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "2")
    repo = write_repo(tmp_path / "repo", 200, 20, seed=4)
    seen: list[object] = []
    cold = validate(FolderSource(repo))
    beside = validate(FolderSource(repo), beside=seen.append)
    assert seen == [beside.repo]
    assert [f.to_json() for f in beside.report.findings] == [f.to_json() for f in cold.report.findings]
    # nothing to overlap (a validation built on a previous one, the daemon's; one process): not run,
    # the caller does it afterwards
    validate(FolderSource(repo), previous=cold, beside=seen.append)
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "1")
    validate(FolderSource(repo), beside=seen.append)
    assert seen == [beside.repo]


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
    # Small chunks: many boundaries, within a kind and between kinds.
    monkeypatch.setattr("reconciler.repository.ENTRY_CHUNK", 7)
    monkeypatch.setattr("reconciler.policy.engine.DOCUMENT_CHUNK", 13)
    repo = write_repo(tmp_path / "repo", 400, 40, seed=seed)
    rng = random.Random(seed)
    files = sorted(p for p in repo.rglob("*") if p.is_file() and p.parent != repo)
    edits = [random_edit(repo, rng, files) for _ in range(30)]
    alone = _snapshot(repo, monkeypatch, 1)
    assert alone[0], "the edits should give findings"
    for jobs in (2, 3):
        assert _snapshot(repo, monkeypatch, jobs) == alone, f"jobs={jobs} after {edits}"
