"""Spread CPU-bound work over the machine's cores with forked children.

Loading and policy evaluation are pure Python over many independent documents, so threads cannot
share them (the GIL) and a process pool would pay to send every input across. A child forked at the
point of the split already holds every input (the parent's memory, copy-on-write); it sends back only
its results, marshalled: plain values, which is what documents and findings are made of.

The split never changes a result: the work is cut into chunks of consecutive items, each process takes
the next free chunk when it is ready for one (so a process with other work to do takes fewer), and the
chunks' results are put back in order; a chunk whose child failed in any way (an exception, a crash,
a short write) is worked again in the parent.

A process with other threads never forks (a child would inherit locks those threads hold), nor does
one that may use a single core; `MCP_GITOPS_JOBS` sets the number of processes (1: no children).
"""

from __future__ import annotations

import fcntl
import marshal
import mmap
import os
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

Result = TypeVar("Result")

JOBS_VARIABLE = "MCP_GITOPS_JOBS"
# Processes at most: beyond this the parent's decoding of the children's results dominates.
MAX_JOBS = 8


def _cpu_quota() -> int | None:
    """The cgroup v2 CPU limit (a container's `resources.limits.cpu`) in whole CPUs, if any."""
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as limits:
            quota, period = limits.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, int(quota) // int(period))
    except (ValueError, ZeroDivisionError):
        return None


def jobs() -> int:
    """How many processes may share a piece of work now."""
    if not hasattr(os, "memfd_create") or threading.active_count() > 1:
        return 1
    configured = os.environ.get(JOBS_VARIABLE, "").strip()
    if configured:
        try:
            return max(1, min(int(configured), MAX_JOBS))
        except ValueError:
            return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cpu_quota()
    return max(1, min(cpus, quota or cpus, MAX_JOBS))


class Chunks:
    """Indexes 0..total-1 handed out a chunk at a time to whichever process asks first: a counter in
    memory shared with forked children, under a POSIX record lock (owned per process, unlike flock).
    Work taken as it comes balances itself, however uneven the processes' other work or the items.
    Unshared (`shared=False`), it is a plain counter for this process alone."""

    def __init__(self, total: int, size: int, shared: bool) -> None:
        self.total, self.size = total, size
        self._next = 0
        self._fd: int | None = None
        if shared:
            self._fd = os.memfd_create("mcp-gitops-chunks")
            os.ftruncate(self._fd, _COUNTER.size)
            self._counter = mmap.mmap(self._fd, _COUNTER.size)

    def take(self) -> range | None:
        """The next chunk, or None when every index has been taken."""
        if self._fd is None:
            start = self._next
            self._next = end = min(start + self.size, self.total)
        else:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                (start,) = _COUNTER.unpack_from(self._counter)
                end = min(start + self.size, self.total)
                _COUNTER.pack_into(self._counter, 0, end)
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)
        return range(start, end) if start < end else None

    def close(self) -> None:
        if self._fd is not None:
            self._counter.close()
            os.close(self._fd)
            self._fd = None


_COUNTER = struct.Struct("q")


class Workers(Generic[Result]):
    """Parts running in forked children; `results()` waits for them."""

    def __init__(
        self,
        parts: Sequence[Callable[[], Result]],
        encode: Callable[[Result], object],
        decode: Callable[[object], Result],
    ) -> None:
        self._decode = decode
        self._children: list[tuple[int, int]] = []
        try:
            for part in parts:
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child, which leaves through os._exit
                    os.close(read_end)
                    _child(part, encode, write_end)
                os.close(write_end)
                self._children.append((pid, read_end))
        except BaseException:
            self.stop()
            raise

    def results(self) -> list[Result | None]:
        """Each part's result, in order; None for a part whose child failed in any way (an exception,
        a crash, a result that did not come through whole)."""
        results: list[Result | None] = []
        try:
            while self._children:
                pid, read_end = self._children.pop(0)
                results.append(_collect(pid, read_end, self._decode))
        finally:
            self.stop()
        return results

    def stop(self) -> None:
        """Stop the children not yet collected (an error, or ^C, in this process)."""
        while self._children:
            pid, read_end = self._children.pop()
            os.close(read_end)
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


class SharedWork(Generic[Result]):
    """`work(chunk)` for every chunk of the indexes 0..total-1, shared between this process and
    `jobs - 1` forked children that start at once: `finish()` makes this process take chunks too,
    then returns every chunk's result in index order. The chunks of a child that failed are worked
    here. `work` must leave this process's state as it found it."""

    def __init__(
        self,
        total: int,
        size: int,
        work: Callable[[range], Result],
        encode: Callable[[Result], object],
        decode: Callable[[object], Result],
        jobs: int,
    ) -> None:
        self._size, self._work = size, work
        self._chunks = Chunks(total, size, shared=jobs > 1)
        self._workers: Workers[dict[int, Result]] = Workers(
            [self._take_all] * (jobs - 1),
            lambda done: {start: encode(result) for start, result in done.items()},
            lambda wire: {start: decode(result) for start, result in cast(dict[int, object], wire).items()},
        )

    def _take_all(self) -> dict[int, Result]:
        done = {}
        while (chunk := self._chunks.take()) is not None:
            done[chunk.start] = self._work(chunk)
        return done

    def finish(self, beside: Callable[[], None] | None = None) -> list[Result]:
        """Every chunk's result in index order. `beside` is other work of this process's, done first
        while the children already take chunks: it then takes fewer of them itself."""
        total = self._chunks.total
        try:
            if beside is not None:
                beside()
            done = self._take_all()
        except BaseException:
            self._workers.stop()
            self._chunks.close()
            raise
        for result in self._workers.results():
            done.update(result or {})
        self._chunks.close()
        return [
            done[start] if start in done else self._work(range(start, min(start + self._size, total)))
            for start in range(0, total, self._size)
        ]


def _child(part: Callable[[], Result], encode: Callable[[Result], object], write_end: int) -> None:
    status = 1
    try:
        payload = marshal.dumps(encode(part()))  # type: ignore[arg-type]  # plain values, or ValueError
        with open(write_end, "wb") as pipe:
            pipe.write(payload)
        status = 0
    except BaseException:  # anything at all: the parent works these chunks itself
        pass
    finally:
        # Never unwind into the parent's code (its finally blocks, atexit handlers, buffered output).
        os._exit(status)


def _collect(pid: int, read_end: int, decode: Callable[[object], Result]) -> Result | None:
    try:
        with open(read_end, "rb") as pipe:
            payload = pipe.read()
    finally:
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        return decode(marshal.loads(payload))
    except (EOFError, ValueError, TypeError):
        return None
