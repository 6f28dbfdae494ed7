"""Private helper of :mod:`course_lib.fast` (imported within the package only): a thread pool.

Two users. :class:`course_lib.fast.parallel.BatchSplit` runs a whole network on one share of a
batch per thread (:func:`run_parallel`). Layers used outside such a split (one layer on its own,
or a network with a layer that cannot be split) cut the non-BLAS work of a layer — im2col
copies, scatter-adds, pooling passes — into contiguous blocks of examples
(:func:`parallel_blocks`); NumPy releases the GIL inside copies, ufuncs and reductions on large
arrays, so the blocks run in parallel, and the matrix products stay with BLAS's own threads.
Inside a task of :func:`run_parallel`, :func:`parallel_blocks` does not split again.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["get_num_threads", "inside_parallel_task", "parallel_blocks", "run_inline", "run_parallel",
           "set_num_threads"]

T = TypeVar("T")
_local = threading.local()

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_threads: int | None = None


def _default_threads() -> int:
    # The usual variables that cap a process's threads first, then the CPUs it may run on.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def get_num_threads() -> int:
    """Threads a batch is split across (default: ``OMP_NUM_THREADS``, else
    ``OPENBLAS_NUM_THREADS``, else the usable CPUs, at most 4)."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` >= 1 threads for splitting a batch (a network's shares, a layer's blocks;
    1: no pool at all)."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be an integer >= 1, got {n!r}")
    _threads = n


def _pool_for(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    if _pool is None or _pool_workers < workers:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool_workers = workers
        _pool = ThreadPoolExecutor(max_workers=_pool_workers, thread_name_prefix="course_lib.fast")
    return _pool


def run_inline(task: Callable[[], T]) -> T:
    """Run ``task`` in this thread as a task of :func:`run_parallel`: :func:`parallel_blocks`
    inside it does not split again."""
    was = getattr(_local, "inside", False)
    _local.inside = True
    try:
        return task()
    finally:
        _local.inside = was


def _in_context(ctx: contextvars.Context, task: Callable[[], T]) -> T:
    """``task`` in a copy of the caller's context (NumPy's ``np.errstate`` lives there)."""
    return ctx.run(run_inline, task)


def run_parallel(tasks: list[Callable[[], T]]) -> list[T]:
    """Run the tasks one per thread (the calling thread takes the first) and return their
    results in order; exceptions from any task are re-raised once all have finished. Tasks run
    in a copy of the caller's context (``np.errstate`` applies to them too); inside a task,
    :func:`parallel_blocks` does not split again."""
    if len(tasks) == 1 or getattr(_local, "inside", False):
        return [run_inline(t) for t in tasks]
    futures = [_pool_for(len(tasks) - 1).submit(_in_context, contextvars.copy_context(), t) for t in tasks[1:]]
    try:
        first = run_inline(tasks[0])
    finally:
        rest = [f.exception() for f in futures]  # wait for all before raising
    for exc in rest:
        if exc is not None:
            raise exc
    return [first, *(f.result() for f in futures)]


def inside_parallel_task() -> bool:
    """True in a task of :func:`run_parallel` (work there must not be split again)."""
    return bool(getattr(_local, "inside", False))


def parallel_blocks(fn: Callable[[int, int], object], n: int, min_block: int = 1) -> None:
    """Call ``fn(start, stop)`` on contiguous blocks covering ``range(n)``, one per thread.

    With one thread (or fewer than ``2·min_block`` items, or inside a task of
    :func:`run_parallel`) this is ``fn(0, n)``. The calling thread takes the first block
    itself; exceptions from any block are re-raised.
    """
    t = min(get_num_threads(), n // max(1, min_block))
    if t <= 1 or inside_parallel_task():
        fn(0, n)
        return
    bounds = [n * i // t for i in range(t + 1)]
    run_parallel([lambda i=i: fn(bounds[i], bounds[i + 1]) for i in range(t)])
