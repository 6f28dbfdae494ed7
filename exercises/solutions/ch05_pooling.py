"""Model solutions of assignment ch05_pooling that have no counterpart in :mod:`course_lib.pooling`.

The notebook's ``max_pool_backward`` is the library's ``max_pool_backward_naive`` itself (the
spec renames it). The functions here stay separate because the library's forward passes rest on
its private ``_geometry``, which *is* the student's ``pool_geometry`` task (and calls
``conv_output_size``, an answer of chapter 4): a solution importing it would hand the task's
answer to every student, and the grading sandbox cannot run it. NumPy and the cache types of
:mod:`course_lib.validate` only; the grader compares them with :mod:`course_lib.pooling`
(``tests/grading/test_bugs_ch04_ch06.py`` proves they score full marks). The caches are the
library's (:class:`~course_lib.validate.MaxPoolNaiveCache` ``(x, (ph, pw, sh, sw, Ho, Wo))`` for
max pooling, so the library's backward pass reads it; :class:`~course_lib.validate.AvgPoolCache`).
"""

from __future__ import annotations

import numpy as np

from course_lib.validate import AvgPoolCache, MaxPoolNaiveCache

__all__ = ["avg_pool_backward", "avg_pool_forward", "max_pool_forward", "pool_geometry"]


def pool_geometry(x_shape: tuple[int, ...], pool_size: int | tuple[int, int], stride: int | tuple[int, int] | None) -> tuple[int, int, int, int, int, int]:
    """Window, stride and output size of a pooling layer on an input of shape (N, C, H, W).

    Args:
        x_shape: (N, C, H, W).
        pool_size: ph = pw, or a pair (ph, pw).
        stride: sh = sw, a pair (sh, sw), or None for the window size (non-overlapping windows).

    Returns:
        (ph, pw, sh, sw, Ho, Wo) with Ho = (H − ph) // sh + 1 and Wo = (W − pw) // sw + 1.

    Raises:
        ValueError: the window is larger than the input, or a size or stride is < 1.
    """
    ph, pw = (pool_size, pool_size) if np.ndim(pool_size) == 0 else pool_size
    if stride is None:
        sh, sw = ph, pw
    else:
        sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    _, _, H, W = x_shape
    if min(ph, pw, sh, sw) < 1 or ph > H or pw > W:
        raise ValueError(f"pooling window {ph}×{pw} with stride {sh}×{sw} does not fit an input of shape {tuple(x_shape)}")
    return ph, pw, sh, sw, (H - ph) // sh + 1, (W - pw) // sw + 1


def max_pool_forward(
    x: np.ndarray, *, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, MaxPoolNaiveCache]:
    """Max pooling: the largest entry of every ph × pw window of every channel.

    ``out[n, c, i, j] = max_{p<ph, q<pw} x[n, c, i·sh + p, j·sw + q]``

    Args:
        x: (N, C, H, W).
        pool_size: window ph × pw (an int or a pair).
        stride: step (an int or a pair); None means the window size.

    Returns:
        out (N, C, Ho, Wo) with Ho = (H − ph)//sh + 1, Wo = (W − pw)//sw + 1; cache.
    """
    ph, pw, sh, sw, Ho, Wo = pool_geometry(x.shape, pool_size, stride)
    N, C, _, _ = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw].max(axis=(2, 3))
    return out, MaxPoolNaiveCache(x, (ph, pw, sh, sw, Ho, Wo))


def avg_pool_forward(
    x: np.ndarray, *, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, AvgPoolCache]:
    """Average pooling: the mean of every ph × pw window. Shapes as in max_pool_forward.

    Returns:
        out (N, C, Ho, Wo); cache.
    """
    ph, pw, sh, sw, Ho, Wo = pool_geometry(x.shape, pool_size, stride)
    N, C, _, _ = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw].mean(axis=(2, 3))
    return out, AvgPoolCache(x.shape, x.dtype, (ph, pw, sh, sw, Ho, Wo))


def avg_pool_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Backward pass of avg_pool_forward: each window spreads dout / (ph·pw) over its entries.

    Returns:
        dx, shape (N, C, H, W); overlapping windows add up.
    """
    x_shape, dtype, (ph, pw, sh, sw, Ho, Wo) = cache
    dx = np.zeros(x_shape, dtype=np.result_type(dtype, dout.dtype))
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw] += dout[:, :, i, j, None, None] / (ph * pw)
    return dx
