"""Private helper of :mod:`course_lib.fast` (imported within the package only): reusable buffers.

A layer of the fast path keeps a *workspace*, a dict of arrays it reuses from step to step.
Fresh multi-megabyte arrays cost a page fault per 4 KiB page once the allocator has returned
freed memory to the operating system; in the seed CNN that was ~900 faults, a few ms, per step.
Only arrays that never leave the layer (they live in its cache at most until the next forward
pass) come from a workspace; what a caller receives is always fresh.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["WORKSPACE_MAX_BYTES", "Workspace", "scratch"]

Workspace = dict[str, np.ndarray]

#: Largest buffer (bytes) a layer keeps between steps; bigger ones are allocated per call, so
#: that a deep network on large images (VGG-16's first layers need hundreds of megabytes of
#: columns) does not hold one such buffer per layer. For them the page faults are a small
#: fraction of the arithmetic anyway.
WORKSPACE_MAX_BYTES = 64 << 20


def scratch(workspace: Workspace | None, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array of ``shape``, reused from ``workspace`` when one of that shape and
    dtype is there (``workspace=None``: always a new array)."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    buf = workspace.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype=dtype)
        if buf.nbytes <= WORKSPACE_MAX_BYTES:
            workspace[key] = buf
        else:
            workspace.pop(key, None)
    return buf
