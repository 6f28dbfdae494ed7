"""Model solutions of assignment ch07_batchnorm (the solution cells of the notebook).

Pure NumPy on purpose: a submission is graded in a sandbox where ``course_lib`` cannot be imported,
so a solution may not lean on the library's private helpers. The grader compares them with
:mod:`course_lib.batchnorm` (``tests/grading/test_bugs_ch07_ch09.py`` proves they score full
marks), so they cannot drift from the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "batchnorm_backward",
    "batchnorm_forward",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
]


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Batch normalisation of a batch of feature vectors, train or test mode.

    Args:
        x: (N, D) input.
        gamma, beta: (D,) scale and shift.
        bn_param: dict with ``mode`` ("train" or "test", default "train"), ``eps`` (default
            1e-5), ``momentum`` (default 0.9: the weight of the OLD running average) and the
            running statistics ``running_mean`` (D,) and ``running_var`` (D,), created as zeros
            and ones when missing. In train mode, store the updated running statistics in
            ``bn_param`` (new arrays); the running variance is updated with the *unbiased*
            batch variance N/(N−1)·σ², while x is normalised with the biased σ².

    Returns:
        out: (N, D) = gamma · x̂ + beta.
        cache: whatever your backward pass needs.
    """
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    n, d = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(d))
    running_var = bn_param.get("running_var", np.ones(d))
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)  # biased: divides by N
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var * n / (n - 1)
    elif mode == "test":
        mu, var = running_mean, running_var
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * ivar
    out = gamma * xhat + beta
    return out, {"mode": mode, "xhat": xhat, "ivar": ivar, "gamma": gamma}


def batchnorm_backward(dout: np.ndarray, cache: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of batchnorm_forward.

    Args:
        dout: (N, D) upstream gradient dL/dout.
        cache: from batchnorm_forward.

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,).
    """
    xhat, ivar, gamma = cache["xhat"], cache["ivar"], cache["gamma"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if cache["mode"] == "test":
        # mean and variance are constants at test time: the layer is affine in x
        return dxhat * ivar, dgamma, dbeta
    # closed form: the second term comes from the mean, the third from the variance
    dx = (ivar / n) * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, Any]:
    """Batch normalisation of convolutional feature maps: one mean and variance per channel.

    View x as an (N·H·W, C) matrix (every position of every image is one sample of each channel)
    and call your batchnorm_forward.

    Args:
        x: (N, C, H, W) input.
        gamma, beta: (C,).
        bn_param: as for batchnorm_forward; running statistics of shape (C,).

    Returns:
        out: (N, C, H, W); cache for spatial_batchnorm_backward.
    """
    n, c, h, w = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, c)
    out, cache = batchnorm_forward(rows, gamma, beta, bn_param)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), (cache, x.shape)


def spatial_batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of spatial_batchnorm_forward.

    Args:
        dout: (N, C, H, W) upstream gradient.
        cache: from spatial_batchnorm_forward.

    Returns:
        dx (N, C, H, W), dgamma (C,), dbeta (C,).
    """
    inner, (n, c, h, w) = cache
    dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, c), inner)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta
