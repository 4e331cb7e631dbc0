"""Spread CPU-bound work over the machine's cores with forked children.

Loading and policy evaluation are pure Python over many independent documents, so threads cannot
share them (the GIL) and a process pool would pay to send every input across. A child forked at the
point of the split already holds every input (the parent's memory, copy-on-write); it sends back only
its results, marshalled: plain values, which is what documents and findings are made of.

The split never changes a result: the parts are contiguous slices, put back in order, and a part whose
child fails in any way (an exception, a crash, a short write) is run again in the parent.

A process with other threads never forks (a child would inherit locks those threads hold), nor does
one that may use a single core; `MCP_GITOPS_JOBS` sets the number of processes (1: no children).
"""

from __future__ import annotations

import marshal
import os
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Result = TypeVar("Result")
Item = TypeVar("Item")

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
    if not hasattr(os, "fork") or threading.active_count() > 1:
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


def slices(items: Sequence[Item], weights: Sequence[float]) -> list[Sequence[Item]]:
    """`items` cut into contiguous slices, one per weight, sized in proportion to the weights."""
    total = sum(weights)
    cuts, start, acc = [], 0, 0.0
    for weight in weights[:-1]:
        acc += weight
        end = round(len(items) * acc / total)
        cuts.append(items[start:end])
        start = end
    cuts.append(items[start:])
    return cuts


class Workers(Generic[Result]):
    """Parts running in forked children; `results()` waits for them, in order."""

    def __init__(
        self,
        parts: Sequence[Callable[[], Result]],
        encode: Callable[[Result], object],
        decode: Callable[[object], Result],
    ) -> None:
        self._decode = decode
        self._children: list[tuple[int, int, Callable[[], Result]]] = []
        try:
            for part in parts:
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child, which leaves through os._exit
                    os.close(read_end)
                    _child(part, encode, write_end)
                os.close(write_end)
                self._children.append((pid, read_end, part))
        except BaseException:
            self.stop()
            raise

    def results(self) -> list[Result]:
        """Each part's result, in order; a part whose child failed is run here instead."""
        results: list[Result] = []
        try:
            while self._children:
                pid, read_end, part = self._children.pop(0)
                results.append(_collect(pid, read_end, part, self._decode))
        finally:
            self.stop()
        return results

    def stop(self) -> None:
        """Stop the children not yet collected (an error, or ^C, in this process)."""
        while self._children:
            pid, read_end, _ = self._children.pop()
            os.close(read_end)
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def fork_map(
    parts: Sequence[Callable[[], Result]],
    encode: Callable[[Result], object],
    decode: Callable[[object], Result],
) -> list[Result]:
    """The results of `parts`, in order: the first runs in this process, each other one in a forked
    child. `encode` turns a result into values `marshal` carries (and `decode` back); each part must
    leave this process's state as it found it, since it may run here after its child failed."""
    if not parts:
        return []
    workers = Workers(parts[1:], encode, decode)
    try:
        first = parts[0]()
    except BaseException:
        workers.stop()
        raise
    return [first, *workers.results()]


def _child(part: Callable[[], Result], encode: Callable[[Result], object], write_end: int) -> None:
    status = 1
    try:
        payload = marshal.dumps(encode(part()))  # type: ignore[arg-type]  # plain values, or ValueError
        with open(write_end, "wb") as pipe:
            pipe.write(payload)
        status = 0
    except BaseException:  # anything at all: the parent runs this part itself
        pass
    finally:
        # Never unwind into the parent's code (its finally blocks, atexit handlers, buffered output).
        os._exit(status)


def _collect(
    pid: int, read_end: int, part: Callable[[], Result], decode: Callable[[object], Result]
) -> Result:
    try:
        with open(read_end, "rb") as pipe:
            payload = pipe.read()
    finally:
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            return decode(marshal.loads(payload))
        except (EOFError, ValueError, TypeError):
            pass
    return part()
