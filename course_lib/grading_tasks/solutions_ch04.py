"""Model solutions of assignment ch04_conv (the solution cells of the notebook).

Pure NumPy on purpose: a submission is graded in a sandbox where ``course_lib`` cannot be imported,
so a solution may not lean on the library's helpers. The grader compares them with
:mod:`course_lib.conv` (``tests/grading/test_bugs_ch04_ch06.py`` proves they score full marks), so
they cannot drift from the reference. Later functions call ``conv_output_size`` as the student's
notebook does: the one defined in the notebook's first task.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv_backward_naive", "conv_forward_naive", "conv_output_size", "im2col"]


def conv_output_size(n: int, k: int, pad: int = 0, stride: int = 1) -> int:
    """Output length of a convolution along one axis.

    Zero padding adds ``pad`` entries on *each* side, so the padded input has ``n + 2·pad``
    entries; a window of length ``k`` fits at the positions 0, stride, 2·stride, ... as long as it
    ends inside the padded input. Windows that would stick out are dropped (floor), as every
    library does.

    Args:
        n: input length (H or W), an integer >= 1.
        k: kernel length (HH or WW), an integer >= 1.
        pad: zeros on each side, an integer >= 0.
        stride: step between windows, an integer >= 1.

    Returns:
        the number of window positions, ``(n + 2·pad − k) // stride + 1`` (a Python int >= 1).

    Raises:
        ValueError: the kernel does not fit in the padded input (``k > n + 2·pad``), or
            ``n < 1``, ``k < 1``, ``pad < 0``, ``stride < 1``; the message names the numbers.
    """
    if n < 1 or k < 1 or pad < 0 or stride < 1:
        raise ValueError(f"need n >= 1, k >= 1, pad >= 0, stride >= 1; got n={n}, k={k}, pad={pad}, stride={stride}")
    span = n + 2 * pad - k
    if span < 0:
        raise ValueError(
            f"a kernel of size k={k} does not fit in the padded input of size n + 2·pad = "
            f"{n} + 2·{pad} = {n + 2 * pad}"
        )
    return int(span // stride + 1)


def conv_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, tuple]:
    """Convolution (cross-correlation, the kernel is *not* flipped) with explicit loops.

    ``out[n, f, i, j] = b[f] + Σ_{c,p,q} w[f, c, p, q] · x_pad[n, c, i·stride + p, j·stride + q]``

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (F, C, HH, WW).
        b: biases, shape (F,).
        stride: step between windows (both axes), >= 1.
        pad: zeros added on each side of H and W, >= 0.

    Returns:
        out: shape (N, F, Ho, Wo) with Ho = conv_output_size(H, HH, pad, stride) (same for Wo);
        cache: whatever conv_backward_naive needs, e.g. (x, w, b, stride, pad).
    """
    N, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C or b.shape != (F,):
        raise ValueError(f"x {x.shape}, w {w.shape} and b {b.shape} do not match: need (N, C, H, W), (F, C, HH, WW), (F,)")
    Ho = conv_output_size(H, HH, pad, stride)
    Wo = conv_output_size(W, WW, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # a new array: x is untouched
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, stride, pad)


def conv_backward_naive(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of conv_forward_naive, with explicit loops.

    Each output ``out[n, f, i, j]`` read one window of ``x_pad`` with the weights ``w[f]``, so
    its gradient ``dout[n, f, i, j]`` flows back to both factors of that product (and to ``b[f]``),
    and the contributions of all windows, filters and examples are *added*.

    Args:
        dout: upstream gradient dL/dout, shape (N, F, Ho, Wo).
        cache: from conv_forward_naive.

    Returns:
        dx (N, C, H, W), dw (F, C, HH, WW), db (F,).
    """
    x, w, b, stride, pad = cache
    N, _C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
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
                    dw[f] += g * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += g * w[f]
                    db[f] += g
    # the padding is not part of x: cut it off again
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W].copy()
    return dx, dw, db


def im2col(x: np.ndarray, HH: int, WW: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold every receptive field of ``x`` into one row of a matrix.

    Row ``n·Ho·Wo + i·Wo + j`` holds the window that output pixel (i, j) of example n reads,
    flattened in (c, p, q) order — the order of ``w.reshape(F, -1)`` — so that a convolution
    becomes one matrix product: ``im2col(x, HH, WW, stride, pad) @ w.reshape(F, -1).T + b``.

    Args:
        x: shape (N, C, H, W).
        HH, WW: kernel height and width.
        stride, pad: as in conv_forward_naive.

    Returns:
        cols, shape (N·Ho·Wo, C·HH·WW).
    """
    N, C, H, W = x.shape
    Ho = conv_output_size(H, HH, pad, stride)
    Wo = conv_output_size(W, WW, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((N, Ho, Wo, C, HH, WW), dtype=x.dtype)
    # one slice per kernel offset (p, q) copies that entry of every window at once
    for p in range(HH):
        for q in range(WW):
            patch = x_pad[:, :, p:p + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride]
            cols[:, :, :, :, p, q] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(N * Ho * Wo, C * HH * WW)
