"""Data parallelism for :class:`course_lib.architectures.Sequential`: each thread (or worker
process) runs the whole network on its share of the batch.

Splitting inside every layer (the copies of :func:`course_lib.fast._threads.parallel_blocks`)
leaves the matrix products to BLAS's own threads and synchronises the pool a dozen times per
step; on the seed CNN the second core then bought almost nothing. Here a batch of N examples is
cut into T contiguous shares once; share 0 runs through the network's own layers, share k > 0
through a *replica* of every layer (a shallow copy that shares the parameter arrays but has
its own cache, gradients and buffers), each share on its own thread with one BLAS thread — NumPy
releases the GIL in the products, copies and ufuncs that do the work. Backward sends each share
of ``dout`` back through the same chain and leaves in every layer's ``grads`` the sum over the
shares (the batch gradient, summed in another order: float rounding apart, the same numbers).

Only layers that treat every example on its own and keep no state but their cache can be
split (:class:`BatchSplit` is given the list); BatchNorm (batch statistics) and Dropout (random
masks drawn in order) are not among them.

Processes instead of threads. Threads share the GIL: each of the ~150 NumPy calls of a share
takes it, and at two threads the seed CNN's step ran only ~1.3× faster than at one. With the
*process* backend (the default, :func:`set_parallel_backend`) shares k > 0 run in worker
processes instead (:mod:`course_lib.fast._procs`: one long-lived worker per extra share, started
on first use — 0.1–0.2 s — and shared by every network): the parent sends the parameters and
the share of ``x`` through shared memory, runs share 0 itself meanwhile, and gets the share's
output back; backward sends the share of ``dout`` and gets the parameter gradients (and
``dL/dx`` when the first layer computes it), summed here in the same order as with threads.
Train/eval mode and every other attribute of a layer reach the worker when they change, and the
worker runs the network's own run functions on layers rebuilt from their records
(:meth:`course_lib.layers.Layer.record`). So a network runs in processes only when every layer
is one of course_lib's registered layer classes; a network with a layer class of the user's own
(defined in a notebook, which a fresh worker process cannot import) is split across threads as
before, as is every network where worker processes cannot start (with a warning) or on a system
without Unix sockets. An error raised in a worker comes back as the same exception (so
:meth:`~course_lib.architectures.Sequential.forward` still reports shape errors for the whole
batch); a worker that dies makes the step raise :class:`WorkerError`, and the next step starts a
new one. The numbers are those of the thread split to the bit (same functions, same data, one
BLAS thread each, the same order of summation); the seed CNN's training step at 2 threads took
0.75–0.95× the thread split's time in eight same-run benchmarks (``benchmarks/train_speed.py
--backends threads processes``), 0.90–1.10× PyTorch's in those timing 1 and 2 threads.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from course_lib.fast._procs import (
    OWN_ATTRIBUTES,
    ProcessShares,
    Unbuildable,
    WorkerError,
    WorkerUnavailable,
    shutdown,
    unsupported_reason,
)
from course_lib.fast._threads import get_num_threads, inside_parallel_task, run_inline, run_parallel
from course_lib.validate import check_dout

__all__ = ["BACKENDS", "MIN_SHARE", "BatchSplit", "WorkerError", "get_parallel_backend", "one_blas_thread",
           "set_parallel_backend", "shares", "shutdown_workers"]

#: The ways a batch's shares k > 0 can run: worker processes or threads of this process.
BACKENDS = ("processes", "threads")
_backend = "processes"
#: Why worker processes cannot run here (then every split uses threads), once known.
_no_processes: str | None = unsupported_reason()


def set_parallel_backend(backend: str) -> None:
    """Run the shares k > 0 of a split batch in worker ``"processes"`` (the default) or in
    ``"threads"`` of this process. Workers already started stay (idle) until
    :func:`shutdown_workers` or the end of the process.

    Raises:
        ValueError: another name.
    """
    global _backend
    if backend not in BACKENDS:
        raise ValueError(f"the parallel backend must be one of {BACKENDS}, got {backend!r}")
    _backend = backend


def get_parallel_backend() -> str:
    """The backend :func:`set_parallel_backend` chose (``"processes"`` or ``"threads"``); a
    network runs in threads anyway when processes cannot run it (see the module docstring)."""
    return _backend


def shutdown_workers() -> None:
    """Stop the worker processes now (they also stop at interpreter exit; the next split step
    starts new ones)."""
    shutdown()

#: Fewest examples per thread worth a share (smaller batches run in one thread).
MIN_SHARE = 8

_blas_libs: list[Any] | None = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside the block (every thread of a split runs its own products)."""
    global _blas_libs
    if _blas_libs is None:
        from threadpoolctl import ThreadpoolController

        _blas_libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    before = [lib.num_threads for lib in _blas_libs]
    for lib, n in zip(_blas_libs, before):
        if n != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(_blas_libs, before):
            if n != 1:
                lib.set_num_threads(n)


def shares(n: int) -> int:
    """How many threads a batch of ``n`` examples is split across (1: not split)."""
    if inside_parallel_task():
        return 1
    return max(1, min(get_num_threads(), n // MIN_SHARE))


#: The attributes of a layer that a replica has of its own; it shares all others.


def _replica(layer: Any) -> Any:
    """A shallow copy of ``layer`` sharing its parameter arrays, with its own cache, gradients
    and buffers."""
    rep = copy.copy(layer)
    rep.grads = {}
    rep._cache = None
    if "_workspace" in vars(rep):
        rep._workspace = {}
    return rep


class BatchSplit:
    """Runs ``layers`` on T shares of a batch, one thread or worker process each (see the module
    docstring; :attr:`backend` says which).

    Args:
        layers: the network's layers (share 0 runs through these).
        threads: T >= 2.
        run_forward: ``run_forward(layers, x) -> out``, the network's forward pass over a list.
        run_backward: ``run_backward(layers, dout) -> dx or None``, its backward pass.
    """

    def __init__(self, layers: Sequence[Any], threads: int,
                 run_forward: Callable[[Sequence[Any], np.ndarray], np.ndarray],
                 run_backward: Callable[[Sequence[Any], np.ndarray], np.ndarray | None]) -> None:
        self.layers = list(layers)
        self.chains = [self.layers] + [[_replica(layer) for layer in layers] for _ in range(threads - 1)]
        self.run_forward, self.run_backward = run_forward, run_backward
        self._bounds: list[int] | None = None
        self._out_shape: tuple[int, ...] | None = None
        self._procs: ProcessShares | None = None
        self._no_procs: str | None = None  # why this network cannot run in worker processes
        self._ran_in: ProcessShares | None = None  # the last forward's workers, if any

    @property
    def backend(self) -> str:
        """Where the shares k > 0 of the next forward pass will run: ``"processes"`` or ``"threads"``."""
        return "threads" if self._process_shares() is None else "processes"

    def _process_shares(self) -> ProcessShares | None:
        """The worker processes' side of this split, or None when it runs in threads."""
        if _backend != "processes" or _no_processes is not None or self._no_procs is not None:
            return None
        if self._procs is None:
            try:
                self._procs = ProcessShares(self.layers, self.run_forward, self.run_backward)
            except (TypeError, ValueError, AttributeError, pickle.PicklingError) as e:
                self._no_procs = str(e)  # a layer of the user's own: threads, as documented
                return None
        return self._procs

    def matches(self, layers: Sequence[Any], threads: int) -> bool:
        """True when this split was built for these very layers and this many threads."""
        return len(self.chains) == threads and len(layers) == len(self.layers) and all(
            a is b for a, b in zip(layers, self.layers))

    def _sync(self) -> None:
        """Give every replica its layer's current attributes (parameters, mode, options)."""
        for chain in self.chains[1:]:
            for layer, rep in zip(self.layers, chain):
                for key, value in vars(layer).items():
                    if key not in OWN_ATTRIBUTES:
                        setattr(rep, key, value)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output for ``x`` (N, ...), each share on its own thread or process."""
        global _no_processes
        t = len(self.chains)
        n = x.shape[0]
        bounds = [n * i // t for i in range(t + 1)]
        self._bounds = self._ran_in = None
        procs = self._process_shares()
        outs: list[np.ndarray] | None = None
        if procs is not None:
            try:
                with one_blas_thread():
                    outs = procs.forward(x, bounds, lambda: run_inline(
                        lambda: self.run_forward(self.layers, x[bounds[0]:bounds[1]])))
                self._ran_in = procs
            except WorkerUnavailable as e:
                _no_processes = str(e)
                warnings.warn(f"course_lib.fast: cannot start worker processes ({e}); splitting batches "
                              "across threads instead", RuntimeWarning, stacklevel=3)
            except Unbuildable as e:
                self._no_procs = str(e)
                warnings.warn(f"course_lib.fast: this network cannot run in worker processes ({e}); "
                              "splitting its batches across threads instead", RuntimeWarning, stacklevel=3)
        if outs is None:
            self._sync()
            with one_blas_thread():
                outs = run_parallel([lambda k=k: self.run_forward(self.chains[k], x[bounds[k]:bounds[k + 1]])
                                     for k in range(t)])
        out = np.concatenate(outs)
        self._bounds, self._out_shape = bounds, out.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dL/dx for the batch of the last :meth:`forward` (None when the first layer skips it);
        every layer's ``grads`` becomes the sum over the shares."""
        if self._bounds is None or self._out_shape is None:
            raise RuntimeError("BatchSplit.backward was called before forward (or twice after one forward)")
        dout = check_dout(dout, self._out_shape)
        bounds, self._bounds = self._bounds, None
        procs, self._ran_in = self._ran_in, None
        # The other shares' gradients of layer i, in share order: share 0's are in the layer.
        if procs is not None:
            with one_blas_thread():
                worker_grads, dxs = procs.backward(dout, bounds, lambda: run_inline(
                    lambda: self.run_backward(self.layers, dout[bounds[0]:bounds[1]])))
            others = [[{key: theirs[(i, key)] for key in layer.grads} for theirs in worker_grads]
                      for i, layer in enumerate(self.layers)]
        else:
            with one_blas_thread():
                dxs = run_parallel([lambda k=k: self.run_backward(self.chains[k], dout[bounds[k]:bounds[k + 1]])
                                    for k in range(len(self.chains))])
            others = [[chain[i].grads for chain in self.chains[1:]] for i in range(len(self.layers))]
        for layer, theirs in zip(self.layers, others):
            grads = dict(layer.grads)
            for share in theirs:
                for key in grads:
                    grads[key] = grads[key] + share[key]
            layer.grads = grads
        return None if dxs[0] is None else np.concatenate(dxs)
        t = len(self.chains)
        with one_blas_thread():
            dxs = run_parallel([lambda k=k: self.run_backward(self.chains[k], dout[bounds[k]:bounds[k + 1]])
                                for k in range(t)])
        for i, layer in enumerate(self.layers):
            grads = dict(layer.grads)
            for chain in self.chains[1:]:
                for key, g in chain[i].grads.items():
                    grads[key] = grads[key] + g
            layer.grads = grads
        return None if dxs[0] is None else np.concatenate(dxs)
