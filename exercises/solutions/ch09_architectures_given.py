"""The layers handed out with assignment ch09_architectures (a locked cell of the notebook).

Compact pure-NumPy versions of the layers of chapters 2-8 (the sandbox that grades a submission
cannot import ``course_lib``), each a functional pair ``out, cache = f(x, ...)`` /
``grads = f_backward(dout, cache)``. ``tests/grading/test_bugs_ch07_ch09.py`` checks them against
:mod:`course_lib.conv`, :mod:`course_lib.pooling`, :mod:`course_lib.backprop` and
:mod:`course_lib.loss`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "_check_dout",
    "affine_backward",
    "affine_forward",
    "conv_backward",
    "conv_forward",
    "dropout_backward",
    "dropout_forward",
    "max_pool_backward",
    "max_pool_forward",
    "relu_backward",
    "relu_forward",
    "softmax_cross_entropy",
]


def _check_dout(name: str, dout: np.ndarray, shape: tuple[int, ...]) -> None:
    """Catch a gradient of the wrong shape at the layer that receives it, with a useful message."""
    if dout.shape != tuple(shape):
        raise ValueError(
            f"{name}: dout has shape {dout.shape}, but this layer's output had shape {tuple(shape)}. "
            "Backward must visit the layers in reverse order, give each layer the gradient of ITS output, "
            "and reshape the gradient back where forward flattened."
        )


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> tuple[np.ndarray, Any]:
    """Convolution: x (N, C, H, W), w (F, C, k, k), b (F,) -> out (N, F, Ho, Wo)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwij,fcij->nfhw", win, w, optimize=True) + b[None, :, None, None]
    return out, (x.shape, xp.shape, win, w, stride, pad, out.shape)


def conv_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (dx, dw, db) of conv_forward."""
    x_shape, xp_shape, win, w, stride, pad, out_shape = cache
    _check_dout("conv_backward", dout, out_shape)
    k, ho, wo = w.shape[2], dout.shape[2], dout.shape[3]
    dw = np.einsum("nfhw,nchwij->fcij", dout, win, optimize=True)
    db = dout.sum(axis=(0, 2, 3))
    dxp = np.zeros(xp_shape)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    return dxp[:, :, pad:pad + x_shape[2], pad:pad + x_shape[3]], dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """max(0, x), any shape."""
    return np.maximum(x, 0), x > 0


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dx of relu_forward."""
    _check_dout("relu_backward", dout, cache.shape)
    return dout * cache



def max_pool_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """2×2 max pooling with stride 2: (N, C, H, W) -> (N, C, H//2, W//2) (a last odd row/column is dropped)."""
    n, c, h, w = x.shape
    xs = x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    flat = xs.reshape(n, c, h // 2, w // 2, 4)
    arg = flat.argmax(axis=-1)  # one winner per window, also for ties
    return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0], (x.shape, arg)


def max_pool_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dx of max_pool_forward: each window's gradient goes to its maximum."""
    (n, c, h, w), arg = cache
    _check_dout("max_pool_backward", dout, arg.shape)
    flat = np.zeros((*dout.shape, 4))
    np.put_along_axis(flat, arg[..., None], dout[..., None], axis=-1)
    dx = np.zeros((n, c, h, w))
    dx[:, :, : h // 2 * 2, : w // 2 * 2] = (
        flat.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2 * 2, w // 2 * 2)
    )
    return dx


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """x (N, D) @ w (D, M) + b (M,) -> (N, M). x must already be flat."""
    if x.ndim != 2:
        raise ValueError(f"affine_forward needs a 2-D x (N, D), got shape {x.shape}: flatten first")
    return x @ w + b, (x, w)


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (dx, dw, db) of affine_forward."""
    x, w = cache
    _check_dout("affine_backward", dout, (x.shape[0], w.shape[1]))
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def dropout_forward(x: np.ndarray, keep_prob: float, mode: str, gen: np.random.Generator) -> tuple[np.ndarray, Any]:
    """Inverted dropout; in test mode the identity (and no random numbers are drawn)."""
    if mode == "test":
        return x.copy(), None
    mask = (gen.random(x.shape) < keep_prob) / keep_prob
    return x * mask, mask


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """dx of dropout_forward."""
    if cache is not None:
        _check_dout("dropout_backward", dout, cache.shape)
    return dout.copy() if cache is None else dout * cache


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of scores (N, K) and labels y (N,), and its gradient."""
    s = scores - scores.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    d = np.exp(logp)
    d[np.arange(n), y] -= 1
    return float(-logp[np.arange(n), y].mean()), d / n
