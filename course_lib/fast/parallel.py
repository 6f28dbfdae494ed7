"""Data parallelism for :class:`course_lib.architectures.Sequential`: each thread runs the whole
network on its share of the batch.

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
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from course_lib.fast._threads import get_num_threads, inside_parallel_task, run_parallel
from course_lib.validate import check_dout

__all__ = ["MIN_SHARE", "BatchSplit", "one_blas_thread", "shares"]

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
_OWN = frozenset({"grads", "_cache", "_workspace", "_swapped"})


def _replica(layer: Any) -> Any:
    """A shallow copy of ``layer`` sharing its parameter arrays, with its own cache, gradients
    and buffers."""
    rep = copy.copy(layer)
    rep.grads = {}
    rep._cache = None
    rep._swapped = None
    if "_workspace" in vars(rep):
        rep._workspace = {}
    return rep


class BatchSplit:
    """Runs ``layers`` on T shares of a batch, one thread each (see the module docstring).

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

    def matches(self, layers: Sequence[Any], threads: int) -> bool:
        """True when this split was built for these very layers and this many threads."""
        return len(self.chains) == threads and len(layers) == len(self.layers) and all(
            a is b for a, b in zip(layers, self.layers))

    def _sync(self) -> None:
        """Give every replica its layer's current attributes (parameters, mode, options)."""
        for chain in self.chains[1:]:
            for layer, rep in zip(self.layers, chain):
                for key, value in vars(layer).items():
                    if key not in _OWN:
                        setattr(rep, key, value)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output for ``x`` (N, ...), each share on its own thread."""
        self._sync()
        t = len(self.chains)
        n = x.shape[0]
        bounds = [n * i // t for i in range(t + 1)]
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
