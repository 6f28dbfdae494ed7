"""Conv2D -> ReLU -> MaxPool2D as one step, for :class:`course_lib.architectures.Sequential`.

``pool(relu(conv(x)))`` when the pooling windows tile the convolution's output exactly (stride =
window, window sizes dividing Ho and Wo). It computes what
:func:`course_lib.conv.conv_forward`, :func:`course_lib.neuron.relu_forward` and
:func:`course_lib.pooling.max_pool_forward` compute one after the other, and the same gradients
with the same tie rule (the first maximum of a window in row-major order gets the gradient); the
tests compare them, ties and ±0 included. Organised for speed:

- **Rows in window-offset order.** The convolution's matrix product writes its rows in the order
  (p, q, n, i, j) (:func:`course_lib.fast.conv.conv_rows`), so the entries at offset (p, q) of
  all windows form one contiguous slab, and max pooling is ph·pw − 1 elementwise maxima of whole
  slabs (a 2 × 2 window as a tournament: the first pair, the second, then the two winners).
- **ReLU after the max.** ``max(0, ·)`` commutes with the max: the ReLU runs on the pooled
  values, a quarter of the work, and its gradient mask is "the window's maximum > 0". The bias
  is added before the max (so ties are decided on the values the teaching code compares).
- **Backward without the input.** Forward keeps each window's maximum and the offset of its
  first maximum (uint8), so backward writes the slabs of the product's gradient directly; the
  weight gradient takes them in the same order (any order of the rows gives the same sums), and
  the input gradient puts them back in the natural order first.

Measured on the seed CNN (float32, batch 64, one thread, inside a training step; ms forward +
backward): the first convolution, ReLU and pooling take 1.17 + 0.75 fused against 1.39 + 1.23 as
three tuned layers, the second group 1.21 + 2.38 against 1.22 + 2.50. Of the first group's
forward pass (on its own: ~0.9 ms), the matrix product is ~0.35 ms and filling the columns in
window order ~0.33 ms (natural order: ~0.19 ms; the copy moves runs of Wo/pw values instead of
Wo), pooling and ReLU ~0.09 ms.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from course_lib.fast._buffers import Workspace, recycled, scratch
from course_lib.fast._threads import parallel_blocks
from course_lib.fast.conv import ConvCache, conv_backward_rows, conv_rows, piece_rows
from course_lib.fast.pooling import first_max
from course_lib.validate import check_dout

__all__ = ["ConvReluPoolCache", "applies", "conv_relu_pool_backward", "conv_relu_pool_forward"]

#: Examples per thread block are at least this many (smaller blocks are not worth a thread).
_MIN_BLOCK = 4


class ConvReluPoolCache(NamedTuple):
    """What :func:`conv_relu_pool_backward` needs: the convolution's cache (its rows in
    window-offset order), every window's maximum before the ReLU and the offset p·pw + q of its
    first maximum (workspace buffers, (N·Ho'·Wo', F), valid until the next forward pass), and
    the output shape (N, F, Ho', Wo')."""

    conv: ConvCache
    best: np.ndarray
    idx: np.ndarray
    out_shape: tuple[int, int, int, int]


def applies(conv_out: tuple[int, int], pool_size: tuple[int, int], stride: tuple[int, int]) -> bool:
    """True when windows of ``pool_size`` with ``stride`` tile a convolution output of size
    ``conv_out = (Ho, Wo)`` exactly (stride = window, both sizes divisible)."""
    (Ho, Wo), (ph, pw) = conv_out, pool_size
    return tuple(stride) == (ph, pw) and Ho % ph == 0 and Wo % pw == 0 and Ho >= ph and Wo >= pw


def _zeros(workspace: Workspace | None, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Zeros of ``shape``, kept in ``workspace``: ``np.maximum(a, zeros)`` runs ~3× faster than
    ``np.maximum(a, 0)`` (the scalar takes NumPy's slower broadcasting loop), with the same
    result (+0.0 for -0.0, like the teaching ReLU)."""
    z = workspace.get("fused_zeros") if workspace is not None else None
    if z is None or z.shape != shape or z.dtype != dtype:
        z = np.zeros(shape, dtype=dtype)
        if workspace is not None:
            workspace["fused_zeros"] = z
    return z


def conv_relu_pool_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, Ho: int, Wo: int,
    pool: tuple[int, int], workspace: Workspace | None = None,
) -> tuple[np.ndarray, ConvReluPoolCache]:
    """``max_pool(relu(conv(x)))`` for validated ``x`` (N, C, H, W), ``w`` (F, C, HH, WW),
    ``b`` (F,) of one float dtype, the convolution's output size ``Ho, Wo`` and pooling windows
    ``pool = (ph, pw)`` for which :func:`applies` holds -> ``out`` (N, F, Ho/ph, Wo/pw) (a view
    of channels-last memory) and the cache for :func:`conv_relu_pool_backward`."""
    N, F = x.shape[0], w.shape[0]
    ph, pw = pool
    per = (Ho // ph) * (Wo // pw)  # windows per example and filter
    prod = scratch(workspace, "fused_product", (N * Ho * Wo, F), x.dtype)
    best = scratch(workspace, "fused_best", (N * per, F), x.dtype)
    idx = scratch(workspace, "fused_idx", (N * per, F), np.uint8)
    out = recycled(workspace, "fused_out", (N * per, F), x.dtype)
    zeros = _zeros(workspace, (N * per, F), x.dtype)
    flags = scratch(workspace, "fused_flags", (3, N * per, F), bool)

    def pool_and_relu(n0: int, n1: int) -> None:
        rows = slice(n0 * per, n1 * per)
        slabs = list(piece_rows(prod, n0, n1, N, pool))
        first_max(slabs, best[rows], idx[rows], flags[:, rows])  # may overwrite the product
        np.maximum(best[rows], zeros[rows], out=out[rows])

    conv = conv_rows(x, w, b, stride, pad, Ho, Wo, prod, workspace, pool, pool_and_relu)
    out_shape = (N, F, Ho // ph, Wo // pw)
    view = out.reshape(N, Ho // ph, Wo // pw, F).transpose(0, 3, 1, 2)
    return view, ConvReluPoolCache(conv, best, idx, out_shape)


def conv_relu_pool_backward(
    dout: Any, cache: ConvReluPoolCache, need_dx: bool = True, workspace: Workspace | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_pool_forward`: ``dout`` (N, F, Ho', Wo') -> dx
    (N, C, H, W) or None, dw (F, C, HH, WW), db (F,)."""
    conv, best, idx, out_shape = cache
    N, F, Hq, Wq = out_shape
    pool = conv.pool
    per = Hq * Wq
    dout = check_dout(dout, out_shape)
    d = dout.transpose(0, 2, 3, 1).reshape(N * per, F)  # a copy only if dout is not channels-last
    g = scratch(workspace, "fused_g", (N * per * pool[0] * pool[1], F), conv.cols.dtype)
    masks = scratch(workspace, "fused_masks", (2, N * per, F), bool)

    def scatter(n0: int, n1: int) -> None:
        rows = slice(n0 * per, n1 * per)
        positive, mask = masks[0, rows], masks[1, rows]
        np.greater(best[rows], 0, out=positive)  # the ReLU's gradient mask
        for k, slab in enumerate(piece_rows(g, n0, n1, N, pool)):
            np.equal(idx[rows], k, out=mask)
            mask &= positive
            np.multiply(d[rows], mask, out=slab)

    parallel_blocks(scatter, N, _MIN_BLOCK)
    return conv_backward_rows(g, conv, need_dx, workspace)
