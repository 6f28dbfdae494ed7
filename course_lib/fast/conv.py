"""Tuned convolution for the layer classes: channels-last im2col, cache blocking, reused buffers.

Computes exactly what :func:`course_lib.conv.conv_forward` / :func:`~course_lib.conv.conv_backward`
compute (the tests compare them to float32 rounding), organised for speed:

- **Channels last.** The input is read as (N, H, W, C) (a free view when ``pad == 0``, else one
  padded copy): a window is then ``HH`` runs of ``WW·C`` contiguous values, so im2col moves long
  blocks; the columns are in (p, q, c) order and ``w`` is reordered to match. The output is an
  (N, F, Ho, Wo) *view* of an (N, Ho, Wo, F) buffer, which the next layer reads without a copy.
- **Cache blocking.** im2col and the matrix product run a few examples at a time (about 1 MiB of
  columns), so each block is still in the CPU cache when the product reads it.
- **One channel.** For grayscale input the column matrix is filled transposed, one contiguous
  row per kernel offset, with a row of ones that folds the bias into the product (and ``db``
  into ``dw``'s product in backward).
- **Input gradient by offsets.** ``dx`` is the scatter-add of ``dout @ wmat``; for 2..64
  channels it is computed as one small product per kernel offset, so that each scatter-add
  moves ``Wo·C`` contiguous values, one kernel row of offsets at a time (so that the products
  are still in the CPU cache when they are added).
- **Rows in pooling-window order.** :func:`conv_rows` can write the product's rows in the
  order (p, q, n, i, j) of a following max pool's window offsets (:mod:`course_lib.fast.fused`);
  :func:`conv_backward_rows` takes the gradient in that order for ``dw`` (the same sums in
  another order) and puts it back in the natural order for ``dx``.
- **Threads and buffers.** The copies and scatter-adds are split over examples across the
  thread pool of :mod:`course_lib.fast`; internal buffers come from the layer's workspace.

The inputs are assumed validated (the layer class checks them with the teaching module's
checks, so the error messages are the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib.fast._buffers import Workspace, recycled, scratch
from course_lib.fast._threads import parallel_blocks
from course_lib.validate import check_dout

__all__ = [
    "ConvCache", "col2im_nhwc_from_product", "conv_backward", "conv_backward_rows", "conv_forward", "conv_rows",
    "piece_rows", "pool_major", "to_nhwc_padded",
]

#: Examples per thread block are at least this many (smaller blocks are not worth a thread).
_MIN_BLOCK = 4


class ConvCache(NamedTuple):
    """What :func:`conv_backward` needs: the column matrix (N·Ho·Wo, K or K + 1; a workspace
    buffer, valid until the layer's next forward pass), ``wmat`` (F, K) in (p, q, c) order, the
    shapes and the hyperparameters, and the order of the rows (:func:`conv_rows`), given by the
    pooling window ``pool``."""

    cols: np.ndarray
    wmat: np.ndarray
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: int
    pad: int
    pool: tuple[int, int] = (1, 1)

    @property
    def out_hw(self) -> tuple[int, int]:
        """The output size (Ho, Wo)."""
        (_, _, H, W), (_, _, HH, WW) = self.x_shape, self.w_shape
        return (H + 2 * self.pad - HH) // self.stride + 1, (W + 2 * self.pad - WW) // self.stride + 1


def to_nhwc_padded(x: np.ndarray, pad: int) -> np.ndarray:
    """x (N, C, H, W) -> padded (N, H+2p, W+2p, C); a free view when pad == 0."""
    xh = x.transpose(0, 2, 3, 1)
    if pad == 0:
        return xh
    N, H, W, C = xh.shape
    xp = np.zeros((N, H + 2 * pad, W + 2 * pad, C), dtype=x.dtype)
    xp[:, pad:pad + H, pad:pad + W, :] = xh
    return xp


def pool_major(a: np.ndarray, axis: int, pool: tuple[int, int]) -> np.ndarray:
    """View of ``a`` with its axes (n, ho, wo) at ``axis``, ``axis + 1``, ``axis + 2`` as
    (p, q, n, i, j), where ho = i·ph + p and wo = j·pw + q (``pool = (ph, pw)`` divides
    (ho, wo)): each offset (p, q) of the pooling windows comes together. ``(1, 1)`` only adds
    two axes of length 1."""
    ph, pw = pool
    n, ho, wo = a.shape[axis:axis + 3]
    split = a.reshape(*a.shape[:axis], n, ho // ph, ph, wo // pw, pw, *a.shape[axis + 3:])
    return split.transpose(*range(axis), axis + 2, axis + 4, axis, axis + 1, axis + 3, *range(axis + 5, split.ndim))


def piece_rows(a: np.ndarray, n0: int, n1: int, n: int, pool: tuple[int, int]) -> np.ndarray:
    """The rows of examples ``n0:n1`` of ``n`` in ``a`` (one row per output pixel, in the order
    (p, q, n, i, j) of :func:`conv_rows` for ``pool``) as (ph·pw, rows per offset, ...): one
    slab per offset of the pooling windows, each contiguous when ``a`` is."""
    q = pool[0] * pool[1]
    per = a.shape[0] // (q * n)  # rows per example and offset
    return a.reshape(q, n * per, *a.shape[1:])[:, n0 * per:n1 * per]


def conv_rows(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, Ho: int, Wo: int, out: np.ndarray,
    workspace: Workspace | None = None, pool: tuple[int, int] = (1, 1),
    epilogue: Callable[[int, int], object] | None = None,
) -> ConvCache:
    """The convolution of validated ``x`` (N, C, H, W), ``w`` (F, C, HH, WW), ``b`` (F,) as a
    matrix product into ``out`` (N·Ho·Wo, F), one row per output pixel, bias included; returns
    the cache for :func:`conv_backward_rows`.

    The rows are in the order (p, q, n, i, j) of :func:`pool_major` for ``pool = (ph, pw)``
    (which must divide Ho and Wo): each offset of the pooling windows is one contiguous slab
    (:func:`piece_rows`). The default ``(1, 1)`` is the natural (n, ho, wo) order.
    ``epilogue(n0, n1)``, if given, then runs on the rows of examples ``n0:n1``, split across
    the thread pool of :mod:`course_lib.fast`.
    """
    N, C, _H, _W = x.shape
    F, _, HH, WW = w.shape
    xp = to_nhwc_padded(x, pad)
    wmat = w.transpose(0, 2, 3, 1).reshape(F, HH * WW * C)  # (p, q, c) order, like cols
    K = HH * WW * C
    hs, ws = (Ho - 1) * stride + 1, (Wo - 1) * stride + 1
    if C == 1:
        # Fill the transposed column matrix, one contiguous row of N·Ho·Wo values per kernel
        # offset (the per-window copy would move one value at a time), plus a row of ones.
        # One copy for all offsets (not one per offset): as fast on one thread, and 25 fewer
        # calls that each hand the GIL to the other share's thread and take it back.
        cols_t = scratch(workspace, "cols", (K + 1, N * Ho * Wo), x.dtype)
        v = sliding_window_view(xp[..., 0], (HH, WW), axis=(1, 2))  # (N, Hp-HH+1, Wp-WW+1, HH, WW)
        windows = pool_major(v[:, :hs:stride, :ws:stride].transpose(3, 4, 0, 1, 2), 2, pool)
        targets = cols_t[:K].reshape(windows.shape)  # (HH, WW, ph, pw, N, Ho/ph, Wo/pw)
        ones = cols_t[K].reshape(windows.shape[2:])

        def fill(n0: int, n1: int) -> None:
            np.copyto(targets[:, :, :, :, n0:n1], windows[:, :, :, :, n0:n1])
            ones[:, :, n0:n1] = 1

        parallel_blocks(fill, N, _MIN_BLOCK)
        cols = cols_t.T                                      # (N·Ho·Wo, K + 1)
        wmat_b = np.concatenate([wmat, b[:, None]], axis=1)  # (F, K + 1)
        np.matmul(cols, wmat_b.T, out=out)
    else:
        cols = scratch(workspace, "cols", (N * Ho * Wo, K), x.dtype)
        v = sliding_window_view(xp, (HH, WW), axis=(1, 2))  # (N, Hp-HH+1, Wp-WW+1, C, HH, WW)
        # (ph, pw, N, Ho/ph, Wo/pw, HH, WW, C)
        windows = pool_major(v[:, :hs:stride, :ws:stride].transpose(0, 1, 2, 4, 5, 3), 0, pool)
        targets = cols.reshape(windows.shape)
        if pool == (1, 1):
            # A few examples at a time (about 1 MiB of columns): each block is still in the CPU
            # cache when the product and the bias read it (seed CNN, second layer: 3.3 ms
            # against 4.3 ms).
            nb = min(N, max(1, (1 << 20) // (Ho * Wo * K * x.dtype.itemsize)))
        else:
            # In window order a block of examples is ph·pw separate runs of rows: one product
            # for all (seed CNN, second layer, in a training step: as fast as in blocks, and the
            # pooling then runs once over whole slabs rather than once per block).
            nb = N

        def block(n0: int, n1: int) -> None:
            for m0 in range(n0, n1, nb):
                m1 = min(n1, m0 + nb)
                np.copyto(targets[:, :, m0:m1], windows[:, :, m0:m1])
                if nb < N:
                    rows = slice(m0 * Ho * Wo, m1 * Ho * Wo)
                    np.matmul(cols[rows], wmat.T, out=out[rows])
                    out[rows] += b

        parallel_blocks(block, N, _MIN_BLOCK)
        if nb == N:
            np.matmul(cols, wmat.T, out=out)
            out += b
    if epilogue is not None:
        parallel_blocks(epilogue, N, _MIN_BLOCK)
    return ConvCache(cols, wmat, x.shape, w.shape, stride, pad, pool)


def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, Ho: int, Wo: int,
    workspace: Workspace | None = None,
) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass; validated ``x`` (N, C, H, W), ``w`` (F, C, HH, WW), ``b`` (F,)
    of one float dtype and the output size ``Ho, Wo`` -> ``out`` (N, F, Ho, Wo) (a view of an
    (N, Ho, Wo, F) buffer) and the cache for :func:`conv_backward`."""
    N, F = x.shape[0], w.shape[0]
    out = recycled(workspace, "out", (N * Ho * Wo, F), x.dtype)
    cache = conv_rows(x, w, b, stride, pad, Ho, Wo, out, workspace)
    return out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2), cache


def conv_backward(
    dout: Any, cache: ConvCache, need_dx: bool = True, workspace: Workspace | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward`: dx (N, C, H, W) or None, dw (F, C, HH, WW), db (F,)."""
    N, F = cache.x_shape[0], cache.w_shape[0]
    Ho, Wo = cache.out_hw
    dout = check_dout(dout, (N, F, Ho, Wo))
    g = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F).astype(cache.cols.dtype, copy=False)
    return conv_backward_rows(g, cache, need_dx, workspace)


def conv_backward_rows(
    g: np.ndarray, cache: ConvCache, need_dx: bool = True, workspace: Workspace | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """:func:`conv_backward` for the gradient ``g`` (N·Ho·Wo, F) of :func:`conv_rows`'s product,
    its rows in the order of ``cache.cols``."""
    cols, wmat, x_shape, w_shape, stride, pad, pool = cache
    N, C, H, W = x_shape
    F, _, HH, WW = w_shape
    K = HH * WW * C
    # dWᵀ = colsᵀ·g rather than dW = gᵀ·cols: the same sums, but BLAS runs the long reduction
    # over rows faster in this orientation (seed CNN, float32, one thread: 0.30 ms against
    # 0.73 ms for the first layer's 36864×26 columns, 0.74 against 0.83 ms for the second's).
    # Any order of the rows gives the same sums, as long as cols and g share it.
    if cols.shape[1] == K + 1:
        # One-channel forward: the last column of cols is all ones, so the same product gives db.
        dwb = (cols.T @ g).T
        dw, db = dwb[:, :K].reshape(F, HH, WW, C).transpose(0, 3, 1, 2).copy(), dwb[:, K].copy()
    else:
        # Σ over rows as a matrix-vector product: g.sum(axis=0) adds one short row at a time
        # (1.2 ms against 0.07 ms for a 36864×16 gradient).
        db = np.ones(g.shape[0], dtype=g.dtype) @ g
        dw = (cols.T @ g).T.reshape(F, HH, WW, C).transpose(0, 3, 1, 2).copy()
    if not need_dx:
        return None, dw, db
    Ho, Wo = cache.out_hw
    if pool != (1, 1):  # col2im reads the natural (n, ho, wo) order
        natural = scratch(workspace, "g_natural", g.shape, g.dtype)
        target = pool_major(natural.reshape(N, Ho, Wo, F), 0, pool)
        np.copyto(target, g.reshape(target.shape))
        g = natural
    dxp = col2im_nhwc_from_product(g, wmat, (N, H + 2 * pad, W + 2 * pad, C), HH, WW, stride, Ho, Wo, workspace)
    return dxp[:, pad:pad + H, pad:pad + W, :].transpose(0, 3, 1, 2), dw, db


# For 2 <= C <= this, the offset-major product (one small GEMM per kernel offset, batched by
# np.matmul) beats a single GEMM: the scatter-add then moves Wo·C contiguous values per row
# instead of only C, and NumPy's per-row overhead dominates when C is small (measured, float32,
# N=64, 5×5 kernel, 12×12 input, 16 channels: 3.6 ms vs 10.8 ms; 3 to 32 channels: 1.5-5× in
# favour). With C = 1 the per-offset products are matrix-vector products and one GEMM wins
# (28×28 input: 3.8 ms vs 14.5 ms).
_OFFSET_MAJOR_MAX_C = 64


def col2im_nhwc_from_product(
    g: np.ndarray, wmat: np.ndarray, padded_shape: tuple[int, int, int, int],
    HH: int, WW: int, stride: int, Ho: int, Wo: int, workspace: Workspace | None = None,
) -> np.ndarray:
    """Scatter-add ``g @ wmat`` (one row per output pixel) into a zero (N, Hp, Wp, C) array.

    Args:
        g: (N·Ho·Wo, F) upstream gradient.
        wmat: (F, HH·WW·C), columns in (p, q, c) order.
        padded_shape: (N, Hp, Wp, C).

    Returns:
        the padded (N, Hp, Wp, C) result.
    """
    N, _Hp, _Wp, C = padded_shape
    F = g.shape[1]
    out = recycled(workspace, "dx", padded_shape, np.result_type(g.dtype, wmat.dtype))
    out.fill(0)
    hs = (Ho - 1) * stride + 1
    ws = (Wo - 1) * stride + 1
    if 1 < C <= _OFFSET_MAJOR_MAX_C:
        # (HH·WW, F, C): one (F, C) matrix per kernel offset. One kernel row at a time: its
        # products, (WW, M, C), are still in the CPU cache when the scatter-add reads them (seed
        # CNN, second layer: 3.3 MB at once against 0.65 MB; in 6 + 6 fresh processes alternated,
        # the training step's median 3.65 -> 3.4 ms at 2 threads, 5.75 -> 5.4 ms at 1).
        w_off = np.ascontiguousarray(wmat.reshape(F, HH * WW, C).transpose(1, 0, 2))
        products = scratch(workspace, "products", (WW, g.shape[0], C), out.dtype)
        for p in range(HH):
            row = np.matmul(g, w_off[p * WW:(p + 1) * WW], out=products).reshape(WW, N, Ho, Wo, C)

            def add_row(n0: int, n1: int, p: int = p, row: np.ndarray = row) -> None:
                for q in range(WW):
                    out[n0:n1, p:p + hs:stride, q:q + ws:stride, :] += row[q, n0:n1]

            parallel_blocks(add_row, N, _MIN_BLOCK)
    else:
        blocks = np.matmul(g, wmat, out=scratch(workspace, "products", (g.shape[0], wmat.shape[1]), out.dtype))
        blocks = blocks.reshape(N, Ho, Wo, HH, WW, C)

        def add(n0: int, n1: int) -> None:
            for p in range(HH):
                for q in range(WW):
                    out[n0:n1, p:p + hs:stride, q:q + ws:stride, :] += blocks[n0:n1, :, :, p, q, :]

        parallel_blocks(add, N, _MIN_BLOCK)
    return out
