"""The grader on realistic student code, chapters 4-6: bugs lose points with a pointed message,
correct alternative implementations get full marks. In-process (forked checks), no nbgrader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from grading_helpers import (
    COURSE,
    assert_full_marks,
    assert_loses_points,
    assert_reference_full_and_stub_zero,
    grade_both,
    notebook_namespace,
)
from numpy.lib.stride_tricks import sliding_window_view

from course_grader import grading

ASSIGNMENTS = ("ch04_conv", "ch05_pooling", "ch06_backprop")
_NS = {a: notebook_namespace(a) for a in ASSIGNMENTS}
SOL4, SOL5, SOL6 = (_NS[a] for a in ASSIGNMENTS)


def student(task: str, overrides: dict) -> dict:
    """The solution notebook's namespace with some functions replaced, as a student would."""
    ns = dict(_NS[task.split(".")[0]])
    ns.update(overrides)
    return ns


# ================================================================== chapter 4: convolution
def size_no_plus_one(n, k, pad=0, stride=1):
    if k > n + 2 * pad:
        raise ValueError("kernel too large")
    return (n + 2 * pad - k) // stride


def size_true_division(n, k, pad=0, stride=1):
    if k > n + 2 * pad:
        raise ValueError("kernel too large")
    return (n + 2 * pad - k) / stride + 1


def size_pad_once(n, k, pad=0, stride=1):
    if k > n + 2 * pad:
        raise ValueError("kernel too large")
    return (n + pad - k) // stride + 1


def size_no_check(n, k, pad=0, stride=1):
    return (n + 2 * pad - k) // stride + 1


def _conv_loops(x, w, b, stride, pad, *, flip=False, step=None, bias=True):
    N, _C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = (H + 2 * pad - HH) // stride + 1
    Wo = (W + 2 * pad - WW) // stride + 1
    step = stride if step is None else step
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w[:, :, ::-1, ::-1] if flip else w
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * step:i * step + HH, j * step:j * step + WW]
            out[:, :, i, j] = np.einsum("ncpq,fcpq->nf", win, k) + (b if bias else 0)
    return out


def conv_forward_flipped(x, w, b, *, stride=1, pad=0):
    return _conv_loops(x, w, b, stride, pad, flip=True), (x, w, b, stride, pad)


def conv_forward_no_stride(x, w, b, *, stride=1, pad=0):
    return _conv_loops(x, w, b, stride, pad, step=1), (x, w, b, stride, pad)


def conv_forward_no_bias(x, w, b, *, stride=1, pad=0):
    return _conv_loops(x, w, b, stride, pad, bias=False), (x, w, b, stride, pad)


def conv_forward_inplace_pad(x, w, b, *, stride=1, pad=0):
    out = _conv_loops(x, w, b, stride, pad)
    x -= x.mean()  # "centre the input" on the caller's array
    return out, (x, w, b, stride, pad)


def _conv_bwd(dout, cache, *, crop="ok", flip=False, step=None, dw_last_only=False, db="ok", dw_T=False):
    x, w, _b, stride, pad = cache
    N, _C, H, W = x.shape
    _F, _, HH, WW = w.shape
    step = stride if step is None else step
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    k = w[:, :, ::-1, ::-1] if flip else w
    for n in range(N):
        dw_n = np.zeros_like(w)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                rows, cols = slice(i * step, i * step + HH), slice(j * step, j * step + WW)
                g = dout[n, :, i, j]
                dxp[n, :, rows, cols] += np.einsum("f,fcpq->cpq", g, k)
                dw_n += g[:, None, None, None] * xp[n, None, :, rows, cols]
        dw = dw_n if dw_last_only else dw + dw_n
    dx = {"ok": dxp[:, :, pad:pad + H, pad:pad + W], "none": dxp, "one_side": dxp[:, :, :H, :W]}[crop]
    dbv = {"ok": dout.sum(axis=(0, 2, 3)), "per_example": dout.sum(axis=(2, 3)), "batch_only": dout.sum(axis=0)}[db]
    return dx.copy(), (dw.transpose(1, 0, 2, 3) if dw_T else dw), dbv


def conv_backward_no_crop(dout, cache):
    return _conv_bwd(dout, cache, crop="none")


def conv_backward_one_side_crop(dout, cache):
    return _conv_bwd(dout, cache, crop="one_side")


def conv_backward_flipped(dout, cache):
    return _conv_bwd(dout, cache, flip=True)


def conv_backward_no_stride(dout, cache):
    return _conv_bwd(dout, cache, step=1)


def conv_backward_dw_last_example(dout, cache):
    return _conv_bwd(dout, cache, dw_last_only=True)


def conv_backward_db_per_example(dout, cache):
    return _conv_bwd(dout, cache, db="per_example")


def conv_backward_db_batch_only(dout, cache):
    return _conv_bwd(dout, cache, db="batch_only")


def conv_backward_dw_transposed(dout, cache):
    return _conv_bwd(dout, cache, dw_T=True)


def conv_backward_dw_assigned(dout, cache):
    x, w, _b, stride, pad = cache
    dx, _dw, db = _conv_bwd(dout, cache)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    _F, _C, HH, WW = w.shape
    dw = np.zeros_like(w)
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    dw[f] = dout[n, f, i, j] * xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]  # = not +=
    return dx, dw, db


def conv_backward_crop_minus_pad(dout, cache):
    _x, _w, _b, _stride, pad = cache
    dx, dw, db = _conv_bwd(dout, cache, crop="none")
    return dx[:, :, pad:-pad, pad:-pad], dw, db  # empty when pad = 0


def conv_backward_mutates_cache(dout, cache):
    x, _w, _b, _stride, _pad = cache
    dx, dw, db = _conv_bwd(dout, cache)
    x[...] = dx if dx.shape == x.shape else 0  # reuses the cached input as the output buffer
    return x, dw, db


def im2col_pqc_order(x, HH, WW, stride=1, pad=0):
    N, _C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    v = sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :Ho, :Wo]
    return v.transpose(0, 2, 3, 4, 5, 1).reshape(N * Ho * Wo, -1)  # (p, q, c): wrong order


def im2col_cs231n_transposed(x, HH, WW, stride=1, pad=0):
    return SOL4["im2col"](x, HH, WW, stride, pad).T  # CS231n's layout: one column per window


def im2col_no_stride(x, HH, WW, stride=1, pad=0):
    return SOL4["im2col"](x, HH, WW, 1, pad)


def im2col_rows_n_inner(x, HH, WW, stride=1, pad=0):
    cols = SOL4["im2col"](x, HH, WW, stride, pad)
    N = x.shape[0]
    return cols.reshape(N, -1, cols.shape[1]).transpose(1, 0, 2).reshape(cols.shape)


# correct alternatives
def conv_forward_im2col(x, w, b, *, stride=1, pad=0):
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    out = SOL4["im2col"](x, HH, WW, stride, pad) @ w.reshape(F, -1).T + b
    return out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2), (x, w, b, stride, pad)


def conv_backward_einsum(dout, cache):
    x, w, _b, stride, pad = cache
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    v = sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :dout.shape[2], :dout.shape[3]]
    dw = np.einsum("nfij,ncijpq->fcpq", dout, v)
    dxp = np.zeros_like(xp)
    for p in range(HH):
        for q in range(WW):
            dxp[:, :, p:p + stride * dout.shape[2]:stride, q:q + stride * dout.shape[3]:stride] += np.einsum("nfij,fc->ncij", dout, w[:, :, p, q])
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))


def im2col_loops(x, HH, WW, stride=1, pad=0):
    N, _C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = []
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                rows.append(xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW].ravel())
    return np.array(rows)


def size_float_floor(n, k, pad=0, stride=1):
    import math

    if k > n + 2 * pad or stride < 1:
        raise ValueError(f"kernel {k} does not fit {n} + 2*{pad}")
    return math.floor((n + 2 * pad - k) / stride) + 1


# ================================================================== chapter 5: pooling
def _geom(x, pool_size, stride):
    ph, pw = (pool_size, pool_size) if np.ndim(pool_size) == 0 else pool_size
    sh, sw = (ph, pw) if stride is None else ((stride, stride) if np.ndim(stride) == 0 else stride)
    return ph, pw, sh, sw, (x.shape[2] - ph) // sh + 1, (x.shape[3] - pw) // sw + 1


def max_pool_forward_stride1_default(x, *, pool_size=2, stride=None):
    return SOL5["max_pool_forward"](x, pool_size=pool_size, stride=1 if stride is None else stride)


def max_pool_forward_no_check(x, *, pool_size=2, stride=None):
    ph, pw, sh, sw, Ho, Wo = _geom(x, pool_size, stride)
    out = np.zeros((*x.shape[:2], max(Ho, 0), max(Wo, 0)))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw].max(axis=(2, 3))
    return out, (x, (ph, pw, sh, sw, Ho, Wo))


def _max_bwd(dout, cache, mode):
    x, (ph, pw, sh, sw, Ho, Wo) = cache
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw]
                    g = dout[n, c, i, j]
                    region = dx[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw]
                    if mode == "window":
                        region += g
                    elif mode == "all_ties":
                        region += g * (win == win.max())
                    elif mode == "overwrite":
                        mask = np.zeros_like(win)
                        mask.flat[np.argmax(win)] = 1
                        region[...] = g * mask
                    elif mode == "last":
                        k = win.size - 1 - np.argmax(win.ravel()[::-1])
                        region.flat[k] += g
    return dx


def max_pool_forward_views_no_check(x, *, pool_size=2, stride=None):
    ph, pw, sh, sw, Ho, Wo = _geom(x, pool_size, stride)
    # no size check: sliding_window_view raises a ValueError of its own when the window is too large
    v = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :Ho, :Wo]
    return v.max(axis=(4, 5)), (x, (ph, pw, sh, sw, Ho, Wo))


def max_pool_backward_step_is_window(dout, cache):
    x, (ph, pw, _sh, _sw, Ho, Wo) = cache
    return max_pool_backward_loops(dout, (x, (ph, pw, ph, pw, Ho, Wo)))  # windows assumed to tile x


def max_pool_backward_window(dout, cache):
    return _max_bwd(dout, cache, "window")


def max_pool_backward_all_ties(dout, cache):
    return _max_bwd(dout, cache, "all_ties")


def max_pool_backward_overwrite(dout, cache):
    return _max_bwd(dout, cache, "overwrite")


def max_pool_backward_last_max(dout, cache):
    return _max_bwd(dout, cache, "last")


def avg_pool_backward_not_divided(dout, cache):
    ph, pw, *_ = cache.geometry
    return SOL5["avg_pool_backward"](dout, cache) * (ph * pw)


def avg_pool_backward_overwrite(dout, cache):
    x_shape, _dtype, (ph, pw, sh, sw, Ho, Wo) = cache
    dx = np.zeros(x_shape)
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw] = dout[:, :, i, j, None, None] / (ph * pw)
    return dx


def avg_pool_forward_stride1_default(x, *, pool_size=2, stride=None):
    return SOL5["avg_pool_forward"](x, pool_size=pool_size, stride=1 if stride is None else stride)


def avg_pool_forward_sum(x, *, pool_size=2, stride=None):
    out, cache = SOL5["avg_pool_forward"](x, pool_size=pool_size, stride=stride)
    ph, pw, *_ = cache.geometry
    return out * (ph * pw), cache


# correct alternatives
def max_pool_forward_views(x, *, pool_size=2, stride=None):
    ph, pw, sh, sw, Ho, Wo = _geom(x, pool_size, stride)
    if ph > x.shape[2] or pw > x.shape[3]:
        raise ValueError(f"window {ph}x{pw} larger than {x.shape}")
    v = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :Ho, :Wo]
    return v.max(axis=(4, 5)), (x, (ph, pw, sh, sw, Ho, Wo))


def max_pool_backward_loops(dout, cache):
    x, (ph, pw, sh, sw, Ho, Wo) = cache
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw]
                    p, q = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, c, i * sh + p, j * sw + q] += dout[n, c, i, j]
    return dx


def avg_pool_backward_kron(dout, cache):
    x_shape, _dtype, (ph, pw, sh, sw, Ho, Wo) = cache
    dx = np.zeros(x_shape)
    for p in range(ph):
        for q in range(pw):
            dx[:, :, p:p + sh * Ho:sh, q:q + sw * Wo:sw] += dout / (ph * pw)
    return dx


# ================================================================== chapter 6: backprop
def multiply_gate_no_swap(dz, x, y):
    return x * dz, y * dz


def max_gate_both(dz, x, y):
    return dz, dz


def max_gate_tie_to_y(dz, x, y):
    return dz * np.greater(x, y), dz * np.less_equal(x, y)


def add_gate_half(dz, x, y):
    return dz / 2, dz / 2


def affine_backward_dw_transposed(dout, cache):
    x, w, _b = cache
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)


def affine_backward_db_axis1(dout, cache):
    x, w, _b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=1)


def affine_backward_dx_no_transpose(dout, cache):
    x, w, _b = cache
    return dout @ w, x.T @ dout, dout.sum(axis=0)  # runs only when w is square


def _net(X, y, params, reg, *, mask=True, reg_factor=2.0, reg_bias=False, reg_in_loss=1.0):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h = X @ W1 + b1
    a = np.maximum(h, 0)
    s = a @ W2 + b2
    loss, ds = SOL6["softmax_cross_entropy"](s, y)
    loss += reg_in_loss * reg * (np.sum(W1**2) + np.sum(W2**2))
    da = ds @ W2.T
    dh = da * (h > 0) if mask else da
    g = {"W1": X.T @ dh + reg_factor * reg * W1, "b1": dh.sum(0), "W2": a.T @ ds + reg_factor * reg * W2, "b2": ds.sum(0)}
    if reg_bias:
        g["b1"] = g["b1"] + 2 * reg * b1
        g["b2"] = g["b2"] + 2 * reg * b2
    return loss, g


def net_no_relu_mask(X, y, params, reg=0.0):
    return _net(X, y, params, reg, mask=False)


def net_reg_grad_missing(X, y, params, reg=0.0):
    return _net(X, y, params, reg, reg_factor=0.0)


def net_reg_grad_half(X, y, params, reg=0.0):
    return _net(X, y, params, reg, reg_factor=1.0)


def net_cs231n_half_penalty(X, y, params, reg=0.0):
    return _net(X, y, params, reg, reg_factor=1.0, reg_in_loss=0.5)  # consistent, but not this course's loss


def net_inplace_params(X, y, params, reg=0.0):
    loss, g = _net(X, y, params, reg)
    params["W1"] -= 0.1 * g["W1"]  # "one SGD step" inside the loss function
    return loss, g


# correct alternatives
def affine_backward_einsum(dout, cache):
    x, w, _b = cache
    return np.einsum("nm,dm->nd", dout, w), np.einsum("nd,nm->dm", x, dout), np.einsum("nm->m", dout)


def max_gate_where(dz, x, y):
    return np.where(np.asarray(x) >= y, dz, 0.0), np.where(np.asarray(x) >= y, 0.0, dz)


def net_one_hot(X, y, params, reg=0.0):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    h = X @ W1 + b1
    a = h * (h > 0)
    s = a @ W2 + b2
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(W2.shape[1])[y]
    loss = -np.sum(onehot * np.log(p)) / n + reg * (np.vdot(W1, W1) + np.vdot(W2, W2))
    ds = (p - onehot) / n
    dh = (ds @ W2.T) * (h > 0)
    return float(loss), {"W1": X.T @ dh + 2 * reg * W1, "b1": dh.sum(0), "W2": a.T @ ds + 2 * reg * W2, "b2": ds.sum(0)}


BUGS = [
    # (task, overrides, a phrase the report must contain)
    ("ch04_conv.output_size", {"conv_output_size": size_no_plus_one}, "the +1 is missing"),
    ("ch04_conv.output_size", {"conv_output_size": size_true_division}, "Use // instead of /"),
    ("ch04_conv.output_size", {"conv_output_size": size_pad_once}, "the padding is counted once"),
    ("ch04_conv.output_size", {"conv_output_size": size_no_check}, "raise ValueError with a message"),
    ("ch04_conv.conv_forward", {"conv_forward_naive": conv_forward_flipped}, "the kernel is flipped"),
    ("ch04_conv.conv_forward", {"conv_forward_naive": conv_forward_no_stride}, "the stride is ignored"),
    ("ch04_conv.conv_forward", {"conv_forward_naive": conv_forward_no_bias}, "the bias b[f] is not added"),
    ("ch04_conv.conv_forward", {"conv_forward_naive": conv_forward_inplace_pad}, "changed its argument `x` in place"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_no_crop}, "dx still contains the padding"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_one_side_crop}, "cropped from one side only"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_flipped}, "the kernel is flipped in the input gradient"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_no_stride}, "the stride is ignored in the backward pass"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_dw_last_example}, "only the last example"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_db_per_example}, "missing sum over the batch"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_db_batch_only}, "not over the output positions"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_dw_transposed}, "F and C axes swapped"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_mutates_cache}, "changed its argument `cache` in place"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_dw_assigned}, "dw[f] is assigned (=) for every window"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_crop_minus_pad}, "wrong shape: got (2, 2, 0, 0), expected (2, 2, 5, 5)"),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_crop_minus_pad}, "which is empty when pad = 0"),
    ("ch04_conv.im2col", {"im2col": im2col_pqc_order}, "(p, q, c) order"),
    ("ch04_conv.im2col", {"im2col": im2col_cs231n_transposed}, "transposed"),
    ("ch04_conv.im2col", {"im2col": im2col_no_stride}, "the stride is ignored"),
    ("ch04_conv.im2col", {"im2col": im2col_rows_n_inner}, "rows are ordered (i, j, n)"),
    ("ch05_pooling.max_forward", {"max_pool_forward": max_pool_forward_stride1_default}, "the stride defaults to 1"),
    ("ch05_pooling.max_forward", {"max_pool_forward": max_pool_forward_no_check}, "raise ValueError"),
    ("ch05_pooling.max_forward", {"max_pool_forward": max_pool_forward_views_no_check}, "raised a ValueError, but not one of yours: NumPy raised it"),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_step_is_window}, "disagrees with the numerical gradient"),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_window}, "sent to every entry of the window"),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_all_ties}, "every tied maximum receives the full gradient"),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_overwrite}, "overlapping windows overwrite each other"),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_last_max}, "the last of the tied maxima"),
    ("ch05_pooling.avg_pool", {"avg_pool_backward": avg_pool_backward_not_divided}, "not divided by the window size"),
    ("ch05_pooling.avg_pool", {"avg_pool_forward": avg_pool_forward_stride1_default}, "the stride defaults to 1"),
    ("ch05_pooling.avg_pool", {"avg_pool_forward": avg_pool_forward_sum}, "summed, not averaged"),
    ("ch06_backprop.gates", {"multiply_gate_backward": multiply_gate_no_swap}, "the inputs are not swapped"),
    ("ch06_backprop.gates", {"max_gate_backward": max_gate_both}, "routed to both inputs"),
    ("ch06_backprop.gates", {"max_gate_backward": max_gate_tie_to_y}, "on a tie (x == y) the gradient goes to y"),
    ("ch06_backprop.gates", {"add_gate_backward": add_gate_half}, "splits dz in halves"),
    ("ch06_backprop.affine", {"affine_backward": affine_backward_dw_transposed}, "dw = dout.T @ x is the transpose"),
    ("ch06_backprop.affine", {"affine_backward": affine_backward_db_axis1}, "db is summed over the wrong axis"),
    ("ch06_backprop.affine", {"affine_backward": affine_backward_dx_no_transpose}, "dx = dout @ w: multiply by w.T"),
    ("ch06_backprop.two_layer_net", {"two_layer_net_loss": net_no_relu_mask}, "the ReLU mask is missing"),
    ("ch06_backprop.two_layer_net", {"two_layer_net_loss": net_reg_grad_missing}, "the regularisation gradient is missing"),
    ("ch06_backprop.two_layer_net", {"two_layer_net_loss": net_reg_grad_half}, "the regularisation gradient is reg·w"),
    ("ch06_backprop.two_layer_net", {"two_layer_net_loss": net_cs231n_half_penalty}, "this course uses reg·ΣW², no ½"),
    ("ch06_backprop.two_layer_net", {"two_layer_net_loss": net_inplace_params}, "changed its argument `params` in place"),
]


@pytest.mark.parametrize(("task", "overrides", "phrase"), BUGS, ids=[f"{t}-{next(iter(o.values())).__name__}" for t, o, _ in BUGS])
def test_bug_loses_points_with_pointed_message(task, overrides, phrase):
    assert_loses_points(task, student(task, overrides), phrase, isolate=False)


def test_every_assignment_has_at_least_five_bugs():
    for a in ASSIGNMENTS:
        assert sum(t.startswith(a + ".") for t, _, _ in BUGS) >= 5, a


ALTERNATIVES = [
    ("ch04_conv.output_size", {"conv_output_size": size_float_floor}),
    ("ch04_conv.conv_forward", {"conv_forward_naive": conv_forward_im2col}),
    ("ch04_conv.conv_backward", {"conv_forward_naive": conv_forward_im2col, "conv_backward_naive": conv_backward_einsum}),
    ("ch04_conv.im2col", {"im2col": im2col_loops}),
    ("ch05_pooling.max_forward", {"max_pool_forward": max_pool_forward_views}),
    ("ch05_pooling.max_backward", {"max_pool_forward": max_pool_forward_views, "max_pool_backward": max_pool_backward_loops}),
    ("ch05_pooling.avg_pool", {"avg_pool_backward": avg_pool_backward_kron}),
    ("ch06_backprop.gates", {"max_gate_backward": max_gate_where}),
    ("ch06_backprop.affine", {"affine_backward": affine_backward_einsum}),
    ("ch06_backprop.two_layer_net", {"two_layer_net_loss": net_one_hot}),
]


@pytest.mark.parametrize(("task", "overrides"), ALTERNATIVES, ids=[f"{t}-{next(iter(o.values())).__name__}" for t, o in ALTERNATIVES])
def test_correct_alternative_gets_full_marks(task, overrides):
    assert_full_marks(task, student(task, overrides), isolate=False)


@pytest.mark.parametrize("task", [t for t in grading.TASKS if t.split(".")[0] in ASSIGNMENTS])
def test_reference_full_marks_and_stub_zero(task):
    assert_reference_full_and_stub_zero(task, student, isolate=False)


# ------------------------------------------------ what `course check` shows: the visible tests
VISIBLE_BUGS = [
    # bugs that used to pass every visible test and lose points only at grading
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_no_stride}),
    ("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_crop_minus_pad}),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_overwrite}),
    ("ch05_pooling.max_backward", {"max_pool_backward": max_pool_backward_step_is_window}),
    ("ch05_pooling.avg_pool", {"avg_pool_backward": avg_pool_backward_overwrite}),
]


@pytest.mark.parametrize(("task", "overrides"), VISIBLE_BUGS, ids=[f"{t}-{next(iter(o.values())).__name__}" for t, o in VISIBLE_BUGS])
def test_visible_tests_catch(task, overrides):
    vis = grading.run_task(task, student(task, overrides), isolate=False)
    assert vis.earned < vis.points, str(vis)


# ------------------------------------------------ the cascade rule
def test_cascade_right_backward_of_a_wrong_forward_keeps_its_points():
    # the forward forgets the bias: task 2 loses points; the backward, the right derivative of
    # the task's layer, keeps all of task 3's (it used to fail with "analytic −0.91, numerical 0")
    ns = student("ch04_conv.conv_backward", {"conv_forward_naive": conv_forward_no_bias})
    earned, possible, report = grade_both("ch04_conv.conv_forward", ns, isolate=False)
    assert earned < possible, report
    earned, possible, report = grade_both("ch04_conv.conv_backward", ns, isolate=False)
    assert earned == possible, report


def test_cascade_consistent_backward_of_a_wrong_forward_keeps_its_points():
    # forward and backward both without the stride: the backward is the right derivative of the
    # forward the student wrote, so the backward keeps its points; the forward loses its own
    ns = student("ch04_conv.conv_backward", {"conv_forward_naive": conv_forward_no_stride,
                                              "conv_backward_naive": conv_backward_no_stride})
    earned, possible, report = grade_both("ch04_conv.conv_backward", ns, isolate=False)
    assert earned == possible, report


def test_cascade_wrong_backward_of_a_wrong_forward_says_fix_the_forward_first():
    ns = student("ch04_conv.conv_backward", {"conv_forward_naive": conv_forward_no_bias,
                                              "conv_backward_naive": conv_backward_flipped})
    earned, possible, report = grade_both("ch04_conv.conv_backward", ns, isolate=False)
    assert earned < possible, report
    assert "your conv_forward_naive differs from the reference on this input: fix task 2 (conv_forward_naive) first" in report, report


def test_cascade_right_forward_blames_the_backward_alone():
    _, _, report = grade_both("ch04_conv.conv_backward", student("ch04_conv.conv_backward", {"conv_backward_naive": conv_backward_flipped}), isolate=False)
    assert "differs from the reference" not in report and "fix task" not in report, report


# ------------------------------------------------ chapter 4: a wrong task 1 costs task 1 only
# The template's conv_forward_naive and im2col call the student's conv_output_size (one notebook
# namespace). One mistake must not cost points twice: tasks 2-4 give the student's code the
# reference conv_output_size, and say in a note what the student's own gets wrong.
# A fresh namespace per test: the solutions look conv_output_size up in the dict they were defined
# in, so replacing it in a copy (as `student` does) would not reach them.
def _ch04_with_size(size_fn) -> dict:
    ns = notebook_namespace("ch04_conv")
    ns["conv_output_size"] = size_fn
    return ns


SIZE_BUGS = [size_no_plus_one, size_pad_once, size_true_division]
LATER_TASKS = ["ch04_conv.conv_forward", "ch04_conv.conv_backward", "ch04_conv.im2col"]
SIZE_NOTE = "fix task 1 (conv_output_size) first. The checks of this task give your "


@pytest.mark.parametrize("size_fn", SIZE_BUGS, ids=[f.__name__ for f in SIZE_BUGS])
def test_wrong_conv_output_size_costs_task_1_only(size_fn):
    ns = _ch04_with_size(size_fn)
    earned, possible, report = grade_both("ch04_conv.output_size", ns, isolate=False)
    assert earned < possible, report
    for task in LATER_TASKS:
        earned, possible, report = grade_both(task, ns, isolate=False)
        assert earned == possible, report
        assert "note: your conv_output_size(n=" in report, report
        assert SIZE_NOTE in report and "costs points in task 1 only" in report, report
        # said once per task (its first check), not on every check that passes
        assert report.count("note: your conv_output_size(") == 1, report
    # the grader's own calls still reach the student's function: task 1 is graded on it, and the
    # namespace holds it again after the checks
    assert ns["conv_output_size"] is size_fn


def test_size_note_states_the_numbers_of_the_case():
    # visible forward case: H = W = 5, 3×3 kernel, pad 1, stride 1. Windows start at rows
    # 0..4 of the 7-row padded input (the last at row 4 covers rows 4-6): 5 fit; without +1: 4
    _, _, report = grade_both("ch04_conv.conv_forward", _ch04_with_size(size_no_plus_one), isolate=False)
    assert "note: your conv_output_size(n=5, k=3, pad=1, stride=1) returns 4, but 5 windows fit: " + SIZE_NOTE in report, report
    # pad counted once, visible im2col case 2: H = 4, HH = 2, pad 1, stride 2: (4 + 2 − 2)//2 + 1 = 3
    # windows, (4 + 1 − 2)//2 + 1 = 2 with one pad; the 3-wide axis gives (4 + 2 − 3)//2 + 1 = 2 either way
    _, _, report = grade_both("ch04_conv.im2col", _ch04_with_size(size_pad_once), isolate=False)
    assert "your conv_output_size(n=4, k=2, pad=1, stride=2) returns 2, but 3 windows fit" in report, report
    assert "conv_output_size(n=4, k=3, pad=1, stride=2)" not in report, report
    # a float size: the note says why it would break np.zeros
    _, _, report = grade_both("ch04_conv.conv_forward", _ch04_with_size(size_true_division), isolate=False)
    assert "returns the float 5.0: array sizes must be ints" in report, report


def test_size_note_in_the_forked_runner():
    ns = _ch04_with_size(size_no_plus_one)
    for task in LATER_TASKS:
        vis = grading.run_task(task, ns, isolate=True)
        assert vis.earned == vis.points, str(vis)
        assert "note: your conv_output_size(n=" in str(vis) and SIZE_NOTE in str(vis), str(vis)


def _ch04_submission(tmp_path, **solutions: str):
    """The solution notebook of ch04 with the solutions of some cells (by grade id) replaced,
    saved as a submission folder; and the trusted grade cells by id."""
    from course_grader import sandbox

    source = COURSE / "source" / "ch04_conv" / "ch04_conv.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    for grade_id, body in solutions.items():
        cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
        text = "".join(cell["source"])
        head, _, rest = text.partition("### BEGIN SOLUTION")
        cell["source"] = head.rstrip() + "\n" + body + rest.partition("### END SOLUTION")[2]
    folder = tmp_path / "ch04_conv"
    folder.mkdir()
    (folder / "ch04_conv.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return folder, source, sandbox.grade_cells_from_notebook(source)


_NO_PLUS_ONE = "    return (n + 2 * pad - k) // stride  # the +1 is missing\n"


def test_wrong_conv_output_size_costs_task_1_only_in_the_trusted_sandbox(tmp_path):
    from course_grader import sandbox

    folder, source, cells = _ch04_submission(tmp_path, **{"conv-output-size-solution": _NO_PLUS_ONE})
    result = sandbox.grade_submission(folder, "ch04_conv", cells, sandbox.GradingOptions(allowed=frozenset(sandbox.allowed_imports(source))))
    report = result.report()
    for cell in result.cells:
        if cell.task_id == "ch04_conv.output_size":
            assert cell.score < cell.max_score, report
        else:
            assert cell.score == cell.max_score, report
    by_id = result.by_grade_id()
    forward = by_id["conv-forward-tests"].report
    assert "note: your conv_output_size(n=5, k=3, pad=1, stride=1) returns 4, but 5 windows fit: " + SIZE_NOTE in forward, report
    assert "The checks of this task give your im2col the reference conv_output_size" in by_id["im2col-tests"].report, report


def test_wrong_conv_forward_still_loses_its_points_in_the_trusted_sandbox(tmp_path):
    # the reference conv_output_size is given, the student's own forward still runs: a forward
    # without the bias loses task 2's points with its diagnosis, next to the size note
    from course_grader import sandbox

    folder, source, cells = _ch04_submission(tmp_path, **{
        "conv-output-size-solution": _NO_PLUS_ONE,
        "conv-forward-naive-solution": (
            "    N, _, H, W = x.shape\n    F, _, HH, WW = w.shape\n"
            "    Ho, Wo = conv_output_size(H, HH, pad, stride), conv_output_size(W, WW, pad, stride)\n"
            "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"
            "    out = np.zeros((N, F, Ho, Wo))\n"
            "    for i in range(Ho):\n        for j in range(Wo):\n"
            "            win = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]\n"
            "            out[:, :, i, j] = np.einsum('ncpq,fcpq->nf', win, w)  # no bias\n"
            "    return out, (x, w, b, stride, pad)\n"
        ),
    })
    grade = [c for c in cells if c.task_id in ("ch04_conv.output_size", "ch04_conv.conv_forward")]
    result = sandbox.grade_submission(folder, "ch04_conv", grade, sandbox.GradingOptions(allowed=frozenset(sandbox.allowed_imports(source))))
    report = result.report()
    assert all(c.score < c.max_score for c in result.cells if not c.hidden), report
    forward = result.by_grade_id()["conv-forward-tests"].report
    assert "recognised mistake: the bias b[f] is not added" in forward, report
    assert "also: your conv_output_size(n=5, k=3, pad=1, stride=1) returns 4" in forward, report


def test_size_hint_is_only_a_suspect_when_the_size_is_computed_inline():
    # conv_forward_flipped computes Ho, Wo itself: its output has the right shape, so the wrong
    # conv_output_size is mentioned as a remark, not as the cause; the flip stays the diagnosis
    ns = _ch04_with_size(size_no_plus_one)
    ns["conv_forward_naive"] = conv_forward_flipped
    earned, possible, report = grade_both("ch04_conv.conv_forward", ns, isolate=False)
    assert earned < possible, report
    assert "recognised mistake: the kernel is flipped" in report, report
    assert "also: your conv_output_size(n=5, k=3, pad=1, stride=1) returns 4" in report, report
    assert "so that is not why it fails here" in report, report
    assert "likely cause: your conv_output_size" not in report, report


def conv_forward_inline_no_plus_one(x, w, b, *, stride=1, pad=0):
    # the output size computed inline with the same mistake as size_no_plus_one
    out = _conv_loops(x, w, b, stride, pad)
    Ho = (x.shape[2] + 2 * pad - w.shape[2]) // stride
    Wo = (x.shape[3] + 2 * pad - w.shape[3]) // stride
    return out[:, :, :Ho, :Wo], (x, w, b, stride, pad)


def test_size_hint_is_the_cause_when_the_forward_repeats_the_mistake_inline():
    ns = _ch04_with_size(size_no_plus_one)
    ns["conv_forward_naive"] = conv_forward_inline_no_plus_one
    earned, possible, report = grade_both("ch04_conv.conv_forward", ns, isolate=False)
    assert earned < possible, report
    assert "output has shape (2, 4, 4, 4), expected (2, 4, 5, 5)" in report, report
    assert ("likely cause: your conv_output_size(n=5, k=3, pad=1, stride=1) returns 4, but 5 windows fit: fix "
            "task 1 (conv_output_size) first — your conv_forward_naive computes the output size the same way") in report, report


CH04_LATER_BUGS = [b for b in BUGS if b[0] in LATER_TASKS]


@pytest.mark.parametrize(("task", "overrides", "phrase"), CH04_LATER_BUGS,
                         ids=[f"{t}-{next(iter(o.values())).__name__}" for t, o, _ in CH04_LATER_BUGS])
def test_correct_conv_output_size_never_blamed(task, overrides, phrase):
    # the student's own correct conv_output_size stays in the namespace the template's code uses
    ns = notebook_namespace("ch04_conv")
    ns.update(overrides)
    earned, possible, report = grade_both(task, ns, isolate=False)
    assert earned < possible and phrase in report, report
    assert "conv_output_size" not in report and "fix task 1" not in report, report


def conv_forward_default_pad_1(x, w, b, *, stride=1, pad=1):
    return _conv_loops(x, w, b, stride, pad), (x, w, b, stride, pad)


def test_visible_tests_check_the_conv_defaults():
    task = "ch04_conv.conv_forward"
    vis = grading.run_task(task, student(task, {"conv_forward_naive": conv_forward_default_pad_1}), isolate=False)
    assert vis.earned < vis.points and "the defaults stride=1, pad=0" in str(vis), str(vis)
