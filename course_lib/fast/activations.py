"""Tuned ReLU for :class:`course_lib.neuron.ReLU`: the same numbers as the teaching pair
:func:`course_lib.neuron.relu_forward` / :func:`~course_lib.neuron.relu_backward`, into
recycled memory.

The seed CNN's first ReLU sees (64, 16, 24, 24) float32 activations (2.4 MB); a fresh array for
its output and another for its gradient cost ~1 ms of page faults per step, more than the
arithmetic. Both come from :func:`course_lib.fast._buffers.recycled_like`, in the memory order of
their input (an (N, C, H, W) view of channels-last memory stays one, so the pooling layer after
it keeps its fast path).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.fast._buffers import Workspace, recycled_like
from course_lib.validate import check_array, check_dout

__all__ = ["relu_backward", "relu_forward"]


def relu_forward(x: Any, workspace: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``max(0, x)`` for a float array ``x`` of any shape -> ``out`` (x's shape, dtype and memory
    order) and the cache ``x``, like :func:`course_lib.neuron.relu_forward`."""
    x = check_array(x, "x")
    out = recycled_like(workspace, "out", x)
    np.maximum(x, 0, out=out)
    return out, x


def relu_backward(dout: Any, cache: np.ndarray, workspace: Workspace | None = None) -> np.ndarray:
    """``dx = dout·[x > 0]`` (dout's shape, dtype and memory order), like
    :func:`course_lib.neuron.relu_backward`."""
    x = cache
    dout = check_dout(dout, x.shape)
    dx = recycled_like(workspace, "dx", dout)
    np.greater(x, 0, out=dx)
    dx *= dout
    return dx
