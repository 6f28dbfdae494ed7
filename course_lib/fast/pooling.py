"""Tuned max pooling for channels-last memory, used by :class:`course_lib.pooling.MaxPool2D`.

Applies when the input is an (N, C, H, W) view of (N, H, W, C) memory — what the fast
convolution (and the ReLU after it) returns — and the windows tile it exactly (stride = window,
H and W multiples of the window). It computes what :func:`course_lib.pooling.max_pool_forward`
computes, with the same tie rule (the first maximum in row-major window order gets the
gradient); the tests compare the two, ties included.

Per-offset views of (N, H, W, C) memory are contiguous only over C, and NumPy's per-run overhead
made those passes the cost of pooling. Instead it reduces in two stages: first across the pw
columns of each window (slices of the reshape (N, H, Wo, pw, C)), then across its ph rows
(slices of (N, Ho, ph, Wo·C), contiguous runs of Wo·C values). Forward keeps the winning column
of every (row, window) and the winning row of every window (strict ">" keeps the earlier
offset on ties), so backward needs neither x nor a comparison. Measured on the seed CNN's first
pooling, (64, 16, 24, 24) float32: forward + backward 1.5 ms against 3.2 ms for the per-offset
passes inside a training step. Both passes are split over examples across the thread pool of
:mod:`course_lib.fast`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from course_lib.fast._buffers import Workspace, recycled, scratch
from course_lib.fast._threads import parallel_blocks
from course_lib.validate import check_dout

__all__ = ["MaxPoolCache", "applies", "first_max", "max_pool_backward", "max_pool_forward"]

_MIN_BLOCK = 4


class MaxPoolCache(NamedTuple):
    """What :func:`max_pool_backward` needs: the input's shape and dtype, the winning column of
    every (row, window) and the winning row of every window (uint8 workspace buffers, valid
    until the layer's next forward pass), and the geometry ``(ph, pw, sh, sw, Ho, Wo)``."""

    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    col_idx: np.ndarray
    row_idx: np.ndarray
    geom: tuple[int, int, int, int, int, int]


def applies(x: np.ndarray, geom: tuple[int, int, int, int, int, int]) -> bool:
    """True when ``x`` (N, C, H, W) is a view of (N, H, W, C) memory and the windows of
    ``geom = (ph, pw, sh, sw, Ho, Wo)`` tile it exactly."""
    ph, pw, sh, sw, _, _ = geom
    tiles = sh == ph and sw == pw and x.shape[2] % ph == 0 and x.shape[3] % pw == 0
    return tiles and x.transpose(0, 2, 3, 1).flags.c_contiguous


def first_max(views: list[np.ndarray], best: np.ndarray, idx: np.ndarray, flags: np.ndarray | None = None) -> None:
    """Elementwise max of equally shaped views into ``best``, and into ``idx`` (uint8) the index
    of the first view attaining it (strict ">" keeps the earlier view on ties).

    With ``flags`` (a bool buffer of shape (3, *best.shape)) four views (a 2 × 2 window) are
    reduced as a tournament — views 0 and 1, views 2 and 3, then the two winners: 6 passes
    instead of 12 — which overwrites ``views[2]``. ``best`` is bit for bit the sequential
    ``np.maximum`` over the views (both keep the last of equal values, which matters only for
    the sign of a zero).
    """
    if len(views) == 2:  # two passes, the comparison is the index
        np.maximum(views[0], views[1], out=best)
        np.greater(views[1], views[0], out=idx.view(bool))
        return
    if len(views) == 4 and flags is not None:
        v0, v1, v2, v3 = views
        g01, g23, top = flags
        np.greater(v1, v0, out=g01)
        np.maximum(v0, v1, out=best)
        np.greater(v3, v2, out=g23)
        np.maximum(v2, v3, out=v2)
        np.greater(v2, best, out=top)
        np.maximum(best, v2, out=best)
        # idx = 2 + g23 where the second pair won, else g01: g01 + top·(2 + g23 − g01) in
        # wrapping uint8 arithmetic.
        u8 = np.uint8
        np.subtract(g23.view(u8), g01.view(u8), out=idx)
        idx += u8(2)
        idx *= top.view(u8)
        idx += g01.view(u8)
        return
    gt = np.empty(best.shape, dtype=bool)
    np.copyto(best, views[0])
    idx.fill(0)
    for k, v in enumerate(views[1:], start=1):
        np.greater(v, best, out=gt)
        # idx < k so far, hence "k where v wins, else idx" is max(idx, k·gt) (np.copyto with
        # where= is 10× slower).
        np.maximum(idx, gt.view(np.uint8) * np.uint8(k), out=idx)
        np.maximum(best, v, out=best)


def max_pool_forward(
    x: np.ndarray, geom: tuple[int, int, int, int, int, int], workspace: Workspace | None = None
) -> tuple[np.ndarray, MaxPoolCache]:
    """Max pooling of a validated ``x`` for which :func:`applies` holds -> ``out`` (N, C, Ho, Wo)
    (a view of (N, Ho, Wo, C) memory) and the cache for :func:`max_pool_backward`."""
    ph, pw, _sh, _sw, Ho, Wo = geom
    N, C, H, _W = x.shape
    xq = x.transpose(0, 2, 3, 1).reshape(N, H, Wo, pw, C)
    rows = scratch(workspace, "rows", (N, H, Wo, C), x.dtype)
    col_idx = scratch(workspace, "col_idx", (N, H, Wo, C), np.uint8)
    out = recycled(workspace, "out", (N, Ho, Wo * C), x.dtype)
    row_idx = scratch(workspace, "row_idx", (N, Ho, Wo * C), np.uint8)
    rp = rows.reshape(N, Ho, ph, Wo * C)

    def block(n0: int, n1: int) -> None:
        first_max([xq[n0:n1, :, :, q, :] for q in range(pw)], rows[n0:n1], col_idx[n0:n1])
        first_max([rp[n0:n1, :, p, :] for p in range(ph)], out[n0:n1], row_idx[n0:n1])

    parallel_blocks(block, N, _MIN_BLOCK)
    out = out.reshape(N, Ho, Wo, C).transpose(0, 3, 1, 2)
    return out, MaxPoolCache(x.shape, x.dtype, col_idx, row_idx, geom)


def max_pool_backward(dout: Any, cache: MaxPoolCache, workspace: Workspace | None = None) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward`: dx (N, C, H, W), a view of (N, H, W, C) memory."""
    (N, C, H, W), dtype, col_idx, row_idx, (ph, pw, _sh, _sw, Ho, Wo) = cache
    dout = check_dout(dout, (N, C, Ho, Wo))
    d = dout.transpose(0, 2, 3, 1)
    # the gradient of the row stage's output, (N, H, Wo, C) memory
    rows = scratch(workspace, "rows", (N, H, Wo, C), dtype).reshape(N, Ho, ph, Wo * C)
    row_mask = scratch(workspace, "row_mask", (N, Ho, Wo * C), bool)
    col_mask = scratch(workspace, "col_mask", (N, H, Wo, C), bool)
    dx = recycled(workspace, "dx", (N, H, Wo, pw, C), dtype)
    rows4 = rows.reshape(N, H, Wo, C)

    def block(n0: int, n1: int) -> None:
        dd = np.ascontiguousarray(d[n0:n1]).reshape(n1 - n0, Ho, Wo * C)
        for p in range(ph):
            np.multiply(dd, np.equal(row_idx[n0:n1], p, out=row_mask[n0:n1]), out=rows[n0:n1, :, p, :])
        for q in range(pw):
            np.multiply(rows4[n0:n1], np.equal(col_idx[n0:n1], q, out=col_mask[n0:n1]), out=dx[n0:n1, :, :, q, :])

    parallel_blocks(block, N, _MIN_BLOCK)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)
