"""Chapter 4 — Convolution: output sizes, naive loops, im2col and a fast layer, transposed convolution.

Convention. Like every deep-learning library, "convolution" here is *cross-correlation*: the
kernel is not flipped. For an input ``x`` of shape (N, C, H, W), weights ``w`` of shape
(F, C, HH, WW) and biases ``b`` of shape (F,), with zero padding ``pad`` and step ``stride``,

    out[n, f, i, j] = b[f] + Σ_c Σ_p Σ_q  w[f, c, p, q] · x_pad[n, c, i·stride + p, j·stride + q]

where ``x_pad`` is ``x`` with ``pad`` zeros on each side of H and W. The output has spatial size

    Ho = floor((H + 2·pad − HH) / stride) + 1        (and the same for W)

(:func:`conv_output_size`). Flipping the kernel by 180° turns one operation into the other, so a
learned kernel simply comes out flipped; nothing else changes.

Backward pass (derived in the book):

- ``db[f] = Σ_{n,i,j} dout[n, f, i, j]``: the bias is added at every output position;
- ``dw[f, c, p, q] = Σ_{n,i,j} dout[n, f, i, j] · x_pad[n, c, i·s + p, j·s + q]``: again a
  correlation, of the input with the upstream gradient;
- ``dx_pad[n, c, i·s + p, j·s + q] += dout[n, f, i, j] · w[f, c, p, q]``: every output scatters
  its gradient back through the window it read. For stride 1 this equals a *full* correlation
  of ``dout`` (zero padded by HH−1, WW−1) with the kernel rotated by 180° and its F and C axes
  swapped (:func:`conv_backward_input_as_full_conv`). The scatter is the adjoint (transpose) of
  the convolution, which is exactly what :func:`conv_transpose_forward` computes.

Two implementations:

- :func:`conv_forward_naive` / :func:`conv_backward_naive`: loops that read like the equations;
- :func:`conv_forward` / :func:`conv_backward`: :func:`im2col` + one matrix product (BLAS),
  and :func:`col2im` for the input gradient: the recipe of the book. float32 in gives float32
  out.

Caches (the convention of :mod:`course_lib.validate`): :class:`~course_lib.validate.ConvNaiveCache`
holds the inputs, :class:`~course_lib.validate.ConvCache` im2col's matrix instead of x (backward
reuses it), :class:`~course_lib.validate.ConvTransposeCache` and
:class:`~course_lib.validate.ConvDilatedCache` what their backward passes read.

The layer class :class:`Conv2D` runs a tuned version of the same recipe,
:mod:`course_lib.fast.conv` (channels-last columns, cache blocking, reused buffers, threads),
which the tests hold equal to :func:`conv_forward` / :func:`conv_backward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_lib.fast import conv as fast_conv
from course_lib.init import as_rng, check_init, init_weights
from course_lib.layers import Layer
from course_lib.validate import (
    ConvCache,
    ConvDilatedCache,
    ConvNaiveCache,
    ConvTransposeCache,
    check_array,
    check_cache,
    check_conv_arrays,
    check_dout,
    check_int,
    check_int_pair,
)

__all__ = [
    "Conv2D",
    "ConvTranspose2D",
    "col2im",
    "conv_backward",
    "conv_backward_dilated",
    "conv_backward_input_as_full_conv",
    "conv_backward_naive",
    "conv_forward",
    "conv_forward_dilated",
    "conv_forward_naive",
    "conv_output_size",
    "conv_transpose_backward",
    "conv_transpose_forward",
    "conv_transpose_forward_naive",
    "conv_transpose_output_size",
    "dilate_kernel",
    "im2col",
    "receptive_field",
]


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------

def conv_output_size(n: int, k: int, pad: int = 0, stride: int = 1, *, strict: bool = False) -> int:
    """Output length of a convolution along one axis: ``(n + 2·pad − k) // stride + 1``.

    Args:
        n: input length (H or W), >= 1.
        k: kernel length (HH or WW), >= 1.
        pad: zeros added on *each* side, >= 0.
        stride: step between windows, >= 1.
        strict: when the windows do not tile the padded input exactly, i.e.
            ``(n + 2·pad − k) % stride != 0``, the default (False) floors, as every library
            does: the last ``(n + 2·pad − k) % stride`` rows are never read. True raises
            instead (CS231n's "7×7 input, 3×3 filter, stride 3 does not fit").

    Returns:
        the output length, >= 1.

    Raises:
        TypeError: a non-integer argument.
        ValueError: ``k > n + 2·pad`` (the kernel does not fit), stride < 1, pad < 0, or an
            uneven fit with ``strict=True``.

    >>> conv_output_size(32, 5, pad=2, stride=1)
    32
    >>> conv_output_size(7, 3, stride=2)
    3
    """
    n = check_int(n, "n (input size)", low=1)
    k = check_int(k, "k (kernel size)", low=1)
    pad = check_int(pad, "pad", low=0)
    stride = check_int(stride, "stride", low=1)
    span = n + 2 * pad - k
    if span < 0:
        raise ValueError(
            f"kernel of size {k} does not fit in the padded input of size n + 2·pad = "
            f"{n} + 2·{pad} = {n + 2 * pad}; use a smaller kernel or more padding"
        )
    if strict and span % stride:
        raise ValueError(
            f"(n + 2·pad − k) / stride = ({n} + 2·{pad} − {k}) / {stride} = {span / stride:.4g} is "
            f"not an integer: the windows do not tile the input (the last {span % stride} "
            "row(s) would be ignored); change pad or stride, or pass strict=False to floor"
        )
    return span // stride + 1


def conv_transpose_output_size(n: int, k: int, pad: int = 0, stride: int = 1) -> int:
    """Output length of a transposed convolution: ``(n − 1)·stride − 2·pad + k``.

    It inverts :func:`conv_output_size` for the exact-fit case: a convolution with the same
    ``k, pad, stride`` maps the transposed convolution's output length back to ``n``.

    Raises:
        ValueError: the result would be < 1 (too much padding), or a bad argument.
    """
    n = check_int(n, "n (input size)", low=1)
    k = check_int(k, "k (kernel size)", low=1)
    pad = check_int(pad, "pad", low=0)
    stride = check_int(stride, "stride", low=1)
    out = (n - 1) * stride - 2 * pad + k
    if out < 1:
        raise ValueError(
            f"transposed convolution output (n − 1)·stride − 2·pad + k = ({n} − 1)·{stride} − "
            f"2·{pad} + {k} = {out} is < 1: pad is too large"
        )
    return out


def receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None) -> list[int]:
    """Receptive-field side length after each layer of a stack of convolutions (or poolings).

    ``r_0 = 1`` and ``r_l = r_{l-1} + (k_l − 1)·(s_1·…·s_{l-1})``: a layer's window spans
    ``k_l`` positions of the layer below, and neighbouring positions there are
    ``s_1·…·s_{l-1}`` input pixels apart. For ``n`` stride-1 layers of size k this is
    ``n·(k − 1) + 1``: three 3×3 layers see 7×7, like one 7×7 layer (VGG's argument, chapter 9).

    Args:
        kernel_sizes: k_1, ..., k_L (each >= 1).
        strides: s_1, ..., s_L (each >= 1), default all 1.

    Returns:
        ``[r_1, ..., r_L]``, e.g. ``[3, 5, 7]`` for three 3×3 stride-1 layers.
    """
    kernel_sizes = [check_int(k, f"kernel_sizes[{i}]", low=1) for i, k in enumerate(kernel_sizes)]
    strides = ([1] * len(kernel_sizes) if strides is None
               else [check_int(s, f"strides[{i}]", low=1) for i, s in enumerate(strides)])
    if len(strides) != len(kernel_sizes):
        raise ValueError(
            f"kernel_sizes and strides must have the same length, got {len(kernel_sizes)} and {len(strides)}"
        )
    sizes, r, jump = [], 1, 1
    for k, s in zip(kernel_sizes, strides):
        r += (k - 1) * jump
        jump *= s
        sizes.append(r)
    return sizes


def _check_conv_inputs(
    x: Any, w: Any, b: Any, stride: Any, pad: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, int]:
    """Validate a convolution's inputs; return them in one common float dtype plus Ho, Wo."""
    x, w, b, stride, pad = check_conv_arrays(x, w, b, stride, pad)
    try:
        Ho = conv_output_size(x.shape[2], w.shape[2], pad, stride)
        Wo = conv_output_size(x.shape[3], w.shape[3], pad, stride)
    except ValueError as e:
        raise ValueError(f"x of shape {x.shape} and w of shape {w.shape}: {e}") from None
    return x, w, b, stride, pad, Ho, Wo


# --------------------------------------------------------------------------------------------
# Naive convolution: the equations as loops
# --------------------------------------------------------------------------------------------

def conv_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, ConvNaiveCache]:
    """Convolution (cross-correlation) forward pass with explicit loops.

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (F, C, HH, WW).
        b: biases, shape (F,).
        stride: step between windows (both axes), >= 1.
        pad: zeros added on each side of H and W, >= 0.

    Returns:
        out: shape (N, F, Ho, Wo) with Ho = (H + 2·pad − HH)//stride + 1 (same for Wo);
        cache: a :class:`~course_lib.validate.ConvNaiveCache` ``(x, w, b, stride, pad)`` for
        :func:`conv_backward_naive`.
    """
    x, w, b, stride, pad = check_conv_arrays(x, w, b, stride, pad)
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    try:
        Ho = conv_output_size(H, HH, pad, stride)
        Wo = conv_output_size(W, WW, pad, stride)
    except ValueError as e:  # the sizes alone do not say which arrays they came from
        raise ValueError(f"x of shape {x.shape} and w of shape {w.shape}: {e}") from None
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, ConvNaiveCache(x, w, b, stride, pad)


def conv_backward_naive(dout: np.ndarray, cache: ConvNaiveCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward_naive`, with explicit loops.

    Args:
        dout: upstream gradient dL/dout, shape (N, F, Ho, Wo).
        cache: from :func:`conv_forward_naive` (not modified).

    Returns:
        dx (N, C, H, W), dw (F, C, HH, WW), db (F,).
    """
    x, w, b, stride, pad = check_cache(cache, ConvNaiveCache, "conv_forward_naive")
    N, _C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = (H + 2 * pad - HH) // stride + 1
    Wo = (W + 2 * pad - WW) // stride + 1
    dout = check_dout(dout, (N, F, Ho, Wo))
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = dout[n, f, i, j]
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    # out[n,f,i,j] = Σ w[f]·window + b[f]: each factor's gradient is the other.
                    dw[f] += g * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += g * w[f]
                    db[f] += g
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W].copy()
    return dx, dw, db


def conv_backward_input_as_full_conv(dout: np.ndarray, w: np.ndarray, *, pad: int = 0) -> np.ndarray:
    """dL/dx of a stride-1 convolution, computed as a *full* convolution with the rotated kernel.

    For stride 1, ``dx_pad[n, c, y, z] = Σ_f Σ_p Σ_q dout[n, f, y − p, z − q] · w[f, c, p, q]``.
    Substituting ``p → HH−1−p`` turns this into a correlation of ``dout`` — zero padded by
    HH−1 rows and WW−1 columns ("full" mode) — with the kernel rotated by 180°
    (``w[:, :, ::-1, ::-1]``) whose F and C axes are swapped: the backward pass of a convolution
    is itself a convolution. The result is cropped by ``pad`` on each side.

    Args:
        dout: shape (N, F, Ho, Wo), the upstream gradient of a stride-1 convolution.
        w: that convolution's filters, shape (F, C, HH, WW).
        pad: the forward padding, >= 0.

    Returns:
        dx, shape (N, C, Ho + HH − 1 − 2·pad, Wo + WW − 1 − 2·pad).
    """
    dout = check_array(dout, "dout", ndim=4)
    w = check_array(w, "w", ndim=4)
    pad = check_int(pad, "pad", low=0)
    if dout.shape[1] != w.shape[0]:
        raise ValueError(
            f"dout of shape {dout.shape} has {dout.shape[1]} channels but w of shape {w.shape} "
            f"has F={w.shape[0]} filters"
        )
    _F, C, HH, WW = w.shape
    full = np.pad(dout, ((0, 0), (0, 0), (HH - 1, HH - 1), (WW - 1, WW - 1)))
    w_rot = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, HH, WW)
    dx_pad, _ = conv_forward(full, w_rot, np.zeros(C, dtype=w.dtype))
    H_pad, W_pad = dx_pad.shape[2:]
    if H_pad <= 2 * pad or W_pad <= 2 * pad:
        raise ValueError(f"pad={pad} is too large for a padded input of size {H_pad}×{W_pad}")
    return np.ascontiguousarray(dx_pad[:, :, pad:H_pad - pad, pad:W_pad - pad])


# --------------------------------------------------------------------------------------------
# im2col / col2im (teaching versions, (N, C, H, W) layout)
# --------------------------------------------------------------------------------------------

def im2col(x: np.ndarray, HH: int, WW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold every receptive field of ``x`` into one row of a matrix.

    Row ``n·Ho·Wo + i·Wo + j`` holds the window that output pixel (i, j) of example n reads,
    flattened in (c, p, q) order — the order of ``w.reshape(F, -1)`` — so that the whole
    convolution becomes one matrix product: ``im2col(x) @ w.reshape(F, -1).T + b``.

    Args:
        x: shape (N, C, H, W).
        HH, WW: kernel height and width.
        stride, pad: as in :func:`conv_forward`.

    Returns:
        cols, shape (N·Ho·Wo, C·HH·WW).
    """
    x = check_array(x, "x", ndim=4)
    HH, WW = check_int(HH, "HH", low=1), check_int(WW, "WW", low=1)
    N, C, H, W = x.shape
    Ho = conv_output_size(H, HH, pad, stride)
    Wo = conv_output_size(W, WW, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((N, Ho, Wo, C, HH, WW), dtype=x.dtype)
    # One strided slice per kernel offset (p, q) copies that entry of every window at once
    # (its adjoint col2im walks the same offsets and adds instead of copying).
    for p in range(HH):
        for q in range(WW):
            patch = x_pad[:, :, p:p + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride]
            cols[:, :, :, :, p, q] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(N * Ho * Wo, C * HH * WW)


def col2im(
    cols: np.ndarray, x_shape: tuple[int, int, int, int], HH: int, WW: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """Fold a column matrix back into an image, *adding* entries whose windows overlap.

    The adjoint (transpose) of :func:`im2col`: ``⟨im2col(x), cols⟩ = ⟨x, col2im(cols)⟩``. With
    ``cols = dout_matrix @ w_matrix`` it is the input gradient of a convolution.

    Args:
        cols: shape (N·Ho·Wo, C·HH·WW), rows and columns ordered as in :func:`im2col`.
        x_shape: (N, C, H, W) of the image to rebuild.
        HH, WW, stride, pad: as in :func:`im2col`.

    Returns:
        array of shape ``x_shape``.
    """
    cols = check_array(cols, "cols", ndim=2)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {x_shape}")
    N, C, H, W = (check_int(s, "x_shape entry", low=1) for s in x_shape)
    Ho = conv_output_size(H, HH, pad, stride)
    Wo = conv_output_size(W, WW, pad, stride)
    if cols.shape != (N * Ho * Wo, C * HH * WW):
        raise ValueError(
            f"cols must have shape (N·Ho·Wo, C·HH·WW) = ({N * Ho * Wo}, {C * HH * WW}) for "
            f"x_shape {tuple(x_shape)}, got {cols.shape}"
        )
    blocks = cols.reshape(N, Ho, Wo, C, HH, WW)
    x_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    # One slice-add per kernel offset (p, q): all windows at once, never a loop over pixels.
    for p in range(HH):
        for q in range(WW):
            x_pad[:, :, p:p + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride] += (
                blocks[:, :, :, :, p, q].transpose(0, 3, 1, 2)
            )
    return x_pad[:, :, pad:pad + H, pad:pad + W].copy()


# --------------------------------------------------------------------------------------------
# im2col convolution: one matrix product
# --------------------------------------------------------------------------------------------

def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass as one matrix product: ``im2col(x) @ w.reshape(F, -1).T + b``.

    Same arguments and output as :func:`conv_forward_naive`: ``x`` (N, C, H, W), ``w`` (F, C, HH, WW),
    ``b`` (F,) -> ``out`` (N, F, Ho, Wo). The dtype is the common dtype of the inputs (float32
    stays float32). Row ``n·Ho·Wo + i·Wo + j`` of the product is output pixel (i, j) of example
    n for all F filters, so the product reshapes to (N, Ho, Wo, F) and is transposed to
    (N, F, Ho, Wo) (a view; ``np.ascontiguousarray(out)`` gives C order).

    Returns:
        out, and a :class:`~course_lib.validate.ConvCache` ``(cols, x.shape, w, stride, pad)`` for
        :func:`conv_backward`.
    """
    x, w, b, stride, pad, Ho, Wo = _check_conv_inputs(x, w, b, stride, pad)
    N = x.shape[0]
    F, _, HH, WW = w.shape
    cols = im2col(x, HH, WW, stride, pad)              # (N·Ho·Wo, C·HH·WW)
    out = cols @ w.reshape(F, -1).T + b                 # (N·Ho·Wo, F)
    return out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2), ConvCache(cols, x.shape, w, stride, pad)


def conv_backward(
    dout: np.ndarray, cache: ConvCache, *, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward` with the same matrices.

    With ``dY = dout`` as an (N·Ho·Wo, F) matrix (rows ordered like ``cols``):
    ``db = Σ_rows dY``, ``dW = dYᵀ · cols`` and ``dx = col2im(dY · W)``.

    Args:
        dout: upstream gradient, shape (N, F, Ho, Wo).
        cache: from :func:`conv_forward`.
        need_dx: False skips dL/dx (returned as None): the first layer of a network has no
            use for the gradient of the images, and it is the most expensive of the three.

    Returns:
        dx (N, C, H, W) or None, dw (F, C, HH, WW), db (F,).
    """
    cols, x_shape, w, stride, pad = check_cache(cache, ConvCache, "conv_forward")
    N, _C, H, W = x_shape
    F, _, HH, WW = w.shape
    Ho = (H + 2 * pad - HH) // stride + 1
    Wo = (W + 2 * pad - WW) // stride + 1
    dout = check_dout(dout, (N, F, Ho, Wo))
    dY = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F).astype(cols.dtype, copy=False)
    db = dY.sum(axis=0)
    dw = (dY.T @ cols).reshape(w.shape)
    if not need_dx:
        return None, dw, db
    dx = col2im(dY @ w.reshape(F, -1), x_shape, HH, WW, stride, pad)
    return dx, dw, db


# --------------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------------

def _check_convT_inputs(
    x: Any, w: Any, b: Any, stride: Any, pad: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, int]:
    """Validate a transposed convolution's inputs; one common float dtype plus Ho, Wo."""
    x, w, b, stride, pad = check_conv_arrays(x, w, b, stride, pad, transposed=True)
    try:
        Ho = conv_transpose_output_size(x.shape[2], w.shape[2], pad, stride)
        Wo = conv_transpose_output_size(x.shape[3], w.shape[3], pad, stride)
    except ValueError as e:
        raise ValueError(f"x of shape {x.shape} and w of shape {w.shape}: {e}") from None
    return x, w, b, stride, pad, Ho, Wo


def conv_transpose_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, ConvTransposeCache]:
    """Transposed convolution with loops: every input pixel *stamps* a scaled kernel.

    ``out_pad[n, f, h·s + p, v·s + q] += x[n, c, h, v] · w[c, f, p, q]``, then ``pad`` rows and
    columns are cropped from each side and ``b[f]`` is added. This is the input-gradient scatter
    of :func:`conv_backward_naive`, read as a layer of its own.

    Args:
        x: (N, C_in, H, W); w: (C_in, F_out, HH, WW) (PyTorch's ConvTranspose2d layout);
        b: (F_out,).

    Returns:
        out (N, F_out, (H−1)·s − 2·pad + HH, (W−1)·s − 2·pad + WW), and the same
        :class:`~course_lib.validate.ConvTransposeCache` as :func:`conv_transpose_forward`'s (for
        :func:`conv_transpose_backward`).
    """
    x, w, b, stride, pad, Ho, Wo = _check_convT_inputs(x, w, b, stride, pad)
    N, C_in, H, W = x.shape
    _, F_out, HH, WW = w.shape
    out_pad = np.zeros((N, F_out, Ho + 2 * pad, Wo + 2 * pad), dtype=x.dtype)
    for n in range(N):
        for c in range(C_in):
            for h in range(H):
                for v in range(W):
                    out_pad[n, :, h * stride:h * stride + HH, v * stride:v * stride + WW] += x[n, c, h, v] * w[c]
    out = out_pad[:, :, pad:pad + Ho, pad:pad + Wo] + b[None, :, None, None]
    g = x.transpose(0, 2, 3, 1).reshape(N * H * W, C_in)
    return out, ConvTransposeCache(g, x.shape, w, stride, pad)


def conv_transpose_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, ConvTransposeCache]:
    """Fast transposed convolution ("fractionally strided convolution"; not a deconvolution).

    It is the adjoint of :func:`conv_forward` with the same ``w``, ``stride`` and ``pad``
    (``w`` read as a convolution from F_out to C_in channels): with zero bias,
    ``⟨conv(y; w), x⟩ = ⟨y, conv_transpose(x; w)⟩``. Implemented as a convolution's input
    gradient: one matrix product, then col2im.

    Args:
        x: (N, C_in, H, W).
        w: (C_in, F_out, HH, WW), PyTorch's ConvTranspose2d layout.
        b: (F_out,).
        stride, pad: output size ``(H − 1)·stride − 2·pad + HH`` (same for W).

    Returns:
        out (N, F_out, Ho, Wo), and a :class:`~course_lib.validate.ConvTransposeCache`.
    """
    x, w, b, stride, pad, Ho, Wo = _check_convT_inputs(x, w, b, stride, pad)
    N, C_in, H, W = x.shape
    _, F_out, HH, WW = w.shape
    g = x.transpose(0, 2, 3, 1).reshape(N * H * W, C_in)   # one row per input pixel
    wmat = w.reshape(C_in, F_out * HH * WW)                 # (f, p, q) order, like im2col's
    out = col2im(g @ wmat, (N, F_out, Ho, Wo), HH, WW, stride, pad)
    out += b[None, :, None, None]
    return out, ConvTransposeCache(g, x.shape, w, stride, pad)


def conv_transpose_backward(
    dout: np.ndarray, cache: ConvTransposeCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_transpose_forward`.

    The adjoint of a transposed convolution is the convolution itself, so
    ``dx = conv(dout; w)`` (no bias: im2col of ``dout`` times the weight matrix) and ``dw``
    correlates ``dout`` with ``x``.

    Returns:
        dx (N, C_in, H, W), dw (C_in, F_out, HH, WW), db (F_out,).
    """
    g, x_shape, w, stride, pad = check_cache(cache, ConvTransposeCache, "conv_transpose_forward")
    N, C_in, H, W = x_shape
    _, F_out, HH, WW = w.shape
    Ho = (H - 1) * stride - 2 * pad + HH
    Wo = (W - 1) * stride - 2 * pad + WW
    dout = check_dout(dout, (N, F_out, Ho, Wo)).astype(g.dtype, copy=False)
    db = dout.sum(axis=(0, 2, 3))
    dcols = im2col(dout, HH, WW, stride, pad)                # (N·H·W, F_out·HH·WW)
    dx = (dcols @ w.reshape(C_in, -1).T).reshape(N, H, W, C_in).transpose(0, 3, 1, 2)
    dw = (g.T @ dcols).reshape(w.shape)
    return dx, dw, db


# --------------------------------------------------------------------------------------------
# Dilated ("atrous") convolution: a kernel with holes
# --------------------------------------------------------------------------------------------

def dilate_kernel(w: np.ndarray, dilation: int) -> np.ndarray:
    """Spread a kernel out by inserting ``dilation − 1`` zeros between neighbouring taps.

    A dilated convolution with kernel ``w`` is an ordinary convolution with this larger,
    mostly-zero kernel: ``dilated[f, c, d·p, d·q] = w[f, c, p, q]``, every other entry 0.

    Args:
        w: (F, C, HH, WW) float kernel.
        dilation: d >= 1 (1 returns a copy of ``w``).

    Returns:
        (F, C, d·(HH − 1) + 1, d·(WW − 1) + 1), the dtype of ``w``.
    """
    w = check_array(w, "w", ndim=4)
    d = check_int(dilation, "dilation", low=1)
    F, C, HH, WW = w.shape
    out = np.zeros((F, C, d * (HH - 1) + 1, d * (WW - 1) + 1), dtype=w.dtype)
    out[:, :, ::d, ::d] = w
    return out


def conv_forward_dilated(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, dilation: int = 1, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, ConvDilatedCache]:
    """Dilated convolution: the taps of the kernel are ``dilation`` pixels apart.

    ``out[n, f, i, j] = b[f] + Σ_{c,p,q} w[f, c, p, q] · x_pad[n, c, i·s + d·p, j·s + d·q]``.
    A k×k kernel then covers ``d·(k − 1) + 1`` pixels per side with k² weights, so stacked
    dilated layers grow the receptive field fast without pooling or striding. Computed as
    :func:`conv_forward` with :func:`dilate_kernel` (simple, not the fastest way).

    Args:
        x: (N, C, H, W); w: (F, C, HH, WW); b: (F,).
        dilation: d >= 1 (1 is the ordinary convolution); stride, pad: as in :func:`conv_forward`.

    Returns:
        out (N, F, Ho, Wo) with ``Ho = floor((H + 2·pad − d·(HH − 1) − 1) / stride) + 1``, and a
        :class:`~course_lib.validate.ConvDilatedCache` for :func:`conv_backward_dilated`.
    """
    w = check_array(w, "w", ndim=4)
    d = check_int(dilation, "dilation", low=1)
    w_big = dilate_kernel(w, d)
    try:
        out, cache = conv_forward(x, w_big, b, stride=stride, pad=pad)
    except ValueError as e:
        raise ValueError(
            f"dilation {d} spreads the kernel of shape {w.shape} to {w_big.shape}: {e}"
        ) from None
    return out, ConvDilatedCache(cache, d)


def conv_backward_dilated(
    dout: np.ndarray, cache: ConvDilatedCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward_dilated`.

    The dilated kernel's zeros are constants, so ``dw`` is the gradient of the spread-out kernel
    read at the taps, ``dw[f, c, p, q] = dw_big[f, c, d·p, d·q]``; ``dx`` and ``db`` are those of
    the ordinary convolution with the spread-out kernel.

    Returns:
        dx (N, C, H, W), dw (F, C, HH, WW), db (F,).
    """
    conv_cache, d = check_cache(cache, ConvDilatedCache, "conv_forward_dilated")
    dx, dw_big, db = conv_backward(dout, conv_cache)
    return dx, np.ascontiguousarray(dw_big[:, :, ::d, ::d]), db


# --------------------------------------------------------------------------------------------
# Layer classes
# --------------------------------------------------------------------------------------------

class _ConvLayer(Layer):
    """What Conv2D and ConvTranspose2D share: hyperparameter checks, the example-shape check,
    gradients returned in the parameters' dtype, and the repr."""

    per_example = True

    def _set_geometry(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any, pad: Any) -> None:
        self.in_channels = check_int(in_channels, "in_channels", low=1)
        self.out_channels = check_int(out_channels, "out_channels", low=1)
        self.kernel_size = check_int_pair(kernel_size, "kernel_size")
        self.stride = check_int(stride, "stride", low=1)
        self.pad = check_int(pad, "pad", low=0)

    def _check_example(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(C, H, W) of one example, with C = in_channels."""
        name = type(self).__name__
        if len(input_shape) != 3:
            raise ValueError(f"{name}.output_shape takes one example's (C, H, W), got {tuple(input_shape)}")
        C, H, W = input_shape
        if C != self.in_channels:
            raise ValueError(f"{name} expects {self.in_channels} input channels, got input shape {tuple(input_shape)}")
        return C, H, W

    def _grads(self, dx: Any, dw: np.ndarray, db: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
        pw, pb = self.params["w"], self.params["b"]
        return dx, {"w": dw.astype(pw.dtype, copy=False), "b": db.astype(pb.dtype, copy=False)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, pad={self.pad})")


class Conv2D(_ConvLayer):
    """Convolution layer: (N, C, H, W) -> (N, F, Ho, Wo), wrapping :func:`conv_forward`.

    Parameters ``w`` (F, C, HH, WW) and ``b`` (F,). Set ``need_dx=False`` on the first layer of
    a network to skip the (unused) gradient of the images; ``backward`` then returns None.
    """

    #: need_dx only skips a gradient: weights saved with either setting load into the other.
    loose_config = _ConvLayer.loose_config | {"need_dx"}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        pad: int = 0,
        init: str = "he",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
        need_dx: bool = True,
    ) -> None:
        super().__init__()
        self._set_geometry(in_channels, out_channels, kernel_size, stride, pad)
        self.need_dx = bool(need_dx)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        check_init(init)
        gen = as_rng(rng)
        self.add_param("w", shape, dtype, lambda: init_weights(shape, init, gen, dtype))
        self.add_param("b", (self.out_channels,), dtype, lambda: np.zeros(self.out_channels, dtype=dtype))
        # Internal buffers of the tuned path, reused from step to step; never handed out.
        self._workspace: dict[str, np.ndarray] = {}

    def _conv_inputs(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, int]:
        """``(x, w, b, stride, pad, Ho, Wo)`` for a forward pass on ``x``, validated (the errors
        of :func:`conv_forward`), the parameters in ``x``'s dtype."""
        # Type and rank first (x.dtype is read below); _check_conv_inputs checks finiteness, once.
        x = check_array(x, "x", ndim=4, finite=False)
        # Layers keep the input's dtype: float32 images run in float32 even with float64 weights.
        w = self.params["w"].astype(x.dtype, copy=False)
        b = self.params["b"].astype(x.dtype, copy=False)
        return _check_conv_inputs(x, w, b, self.stride, self.pad)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        # The tuned path (course_lib.fast.conv; same numbers as conv_forward). Its cache holds
        # the workspace's column matrix until the next forward pass overwrites it; Layer keeps
        # only the latest cache, so no older one can be read afterwards.
        return fast_conv.conv_forward(*self._conv_inputs(x), self._workspace)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self._grads(*fast_conv.conv_backward(dout, cache, self.need_dx, self._workspace))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _, H, W = self._check_example(input_shape)
        HH, WW = self.kernel_size
        return (self.out_channels, conv_output_size(H, HH, self.pad, self.stride),
                conv_output_size(W, WW, self.pad, self.stride))

    def macs(self, input_shape: tuple[int, ...]) -> int:
        F, Ho, Wo = self.output_shape(input_shape)
        HH, WW = self.kernel_size
        return int(F * Ho * Wo * self.in_channels * HH * WW)


class ConvTranspose2D(_ConvLayer):
    """Transposed convolution layer: (N, C_in, H, W) -> (N, F_out, (H−1)·s − 2·pad + HH, ...).

    Parameters ``w`` (C_in, F_out, HH, WW) — PyTorch's layout, so that the same ``w`` used in a
    :class:`Conv2D` from F_out to C_in channels gives the adjoint map — and ``b`` (F_out,).
    He/Xavier fans are those of the convolution it is the adjoint of read forwards: each output
    pixel of a stride-1 transposed convolution sums C_in·HH·WW products, so fan_in = C_in·HH·WW.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        pad: int = 0,
        init: str = "he",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self._set_geometry(in_channels, out_channels, kernel_size, stride, pad)
        # Draw as (F_out, C_in, HH, WW) so that fans() sees fan_in = C_in·HH·WW, then reorder.
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        check_init(init)
        gen = as_rng(rng)
        self.add_param("w", (self.in_channels, self.out_channels, *self.kernel_size), dtype,
                       lambda: np.ascontiguousarray(init_weights(shape, init, gen, dtype).transpose(1, 0, 2, 3)))
        self.add_param("b", (self.out_channels,), dtype, lambda: np.zeros(self.out_channels, dtype=dtype))

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = check_array(x, "x", ndim=4)
        w = self.params["w"].astype(x.dtype, copy=False)
        b = self.params["b"].astype(x.dtype, copy=False)
        return conv_transpose_forward(x, w, b, stride=self.stride, pad=self.pad)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self._grads(*conv_transpose_backward(dout, cache))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _, H, W = self._check_example(input_shape)
        HH, WW = self.kernel_size
        return (self.out_channels, conv_transpose_output_size(H, HH, self.pad, self.stride),
                conv_transpose_output_size(W, WW, self.pad, self.stride))

    def macs(self, input_shape: tuple[int, ...]) -> int:
        C, H, W = input_shape
        self.output_shape(input_shape)
        HH, WW = self.kernel_size
        return int(C * H * W * self.out_channels * HH * WW)
