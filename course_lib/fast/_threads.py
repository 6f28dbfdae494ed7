"""Private helper of :mod:`course_lib.fast` (imported within the package only): a thread pool
that splits a batch.

NumPy releases the GIL inside copies, ufuncs and reductions on large arrays, so the non-BLAS
work of a layer (im2col copies, scatter-adds, pooling passes) runs in parallel when each thread
takes a contiguous block of examples. The matrix products stay with BLAS, which has threads of
its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["get_num_threads", "parallel_blocks", "set_num_threads"]

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
    """Threads the fast layers split a batch across (default: ``OMP_NUM_THREADS``, else
    ``OPENBLAS_NUM_THREADS``, else the usable CPUs, at most 4)."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` >= 1 threads for the fast layers' batch-splitting (1: no pool at all)."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be an integer >= 1, got {n!r}")
    _threads = n


def parallel_blocks(fn: Callable[[int, int], object], n: int, min_block: int = 1) -> None:
    """Call ``fn(start, stop)`` on contiguous blocks covering ``range(n)``, one per thread.

    With one thread (or fewer than ``2·min_block`` items) this is ``fn(0, n)``. The calling
    thread takes the first block itself; exceptions from any block are re-raised.
    """
    global _pool, _pool_workers
    t = min(get_num_threads(), n // max(1, min_block))
    if t <= 1:
        fn(0, n)
        return
    if _pool is None or _pool_workers < t - 1:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool_workers = t - 1
        _pool = ThreadPoolExecutor(max_workers=_pool_workers, thread_name_prefix="course_lib.fast")
    bounds = [n * i // t for i in range(t + 1)]
    futures = [_pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, t)]
    try:
        fn(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()
