"""Private helper of :mod:`course_lib.fast` (imported within the package only): reusable buffers.

A layer of the fast path keeps a *workspace*, a dict of arrays it reuses from step to step.
Fresh multi-megabyte arrays cost a page fault per 4 KiB page once the allocator has returned
freed memory to the operating system; in the seed CNN that was ~900 faults, a few ms, per step.
Arrays that never leave the layer (they live in its cache at most until the next forward pass)
come from :func:`scratch`. What a caller receives comes from :func:`recycled`: the array of the
previous call when nobody holds it (or any view of it) any more — CPython's reference count says
so — else a new one. A caller that keeps a layer's output therefore never sees it overwritten; a
training loop that drops it gets the same memory back at the next step (in the seed CNN the
four 2.4 MB activations and gradients of the first layers were ~1200 page faults, ~1.5 ms, per
step).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["WORKSPACE_MAX_BYTES", "Workspace", "recycled", "recycled_like", "scratch"]

Workspace = dict[str, np.ndarray]

#: Largest buffer (bytes) a layer keeps between steps; bigger ones are allocated per call, so
#: that a deep network on large images (VGG-16's first layers need hundreds of megabytes of
#: columns) does not hold one such buffer per layer. For them the page faults are a small
#: fraction of the arithmetic anyway.
WORKSPACE_MAX_BYTES = 64 << 20


def _fits(workspace: Workspace, key: str, shape: tuple[int, ...], dtype: Any) -> bool:
    return key in workspace and workspace[key].shape == shape and workspace[key].dtype == dtype


def _new(workspace: Workspace | None, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A new array, kept in ``workspace`` under ``key`` unless it is too large."""
    buf = np.empty(shape, dtype=dtype)
    if workspace is not None:
        if buf.nbytes <= WORKSPACE_MAX_BYTES:
            workspace[key] = buf
        else:
            workspace.pop(key, None)
    return buf


def scratch(workspace: Workspace | None, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array of ``shape``, reused from ``workspace`` when one of that shape and
    dtype is there (``workspace=None``: always a new array)."""
    if workspace is not None and _fits(workspace, key, shape, dtype):
        return workspace[key]
    return _new(workspace, key, shape, dtype)


def _refs(workspace: Workspace, key: str) -> int:
    buf = workspace[key]
    return sys.getrefcount(buf)


# The count _refs sees for an array that only the workspace holds, measured through the same code
# path rather than assumed (interpreters differ in the temporary references they take).
_SOLE_REFS = _refs({"probe": np.empty(0)}, "probe")


def recycled(workspace: Workspace | None, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array of ``shape`` to hand out to the caller: the one this ``key`` gave
    last time if nothing but ``workspace`` refers to it any more (no caller, no cache, no view),
    else a new one, which the workspace then keeps (``workspace=None``: always a new array)."""
    # No local name may hold the old array while its references are counted.
    if workspace is not None and _fits(workspace, key, shape, dtype) and _refs(workspace, key) == _SOLE_REFS:
        return workspace[key]
    return _new(workspace, key, shape, dtype)


def recycled_like(workspace: Workspace | None, key: str, x: np.ndarray) -> np.ndarray:
    """Like ``np.empty_like(x)`` (the same shape, dtype and axis order in memory: an
    (N, C, H, W) view of (N, H, W, C) memory gives another such view), from :func:`recycled`."""
    order = sorted(range(x.ndim), key=lambda a: -abs(x.strides[a]))
    buf = recycled(workspace, key, tuple(x.shape[a] for a in order), x.dtype)
    return buf.transpose([order.index(a) for a in range(x.ndim)])
