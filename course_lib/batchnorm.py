"""Chapter 7: Batch Normalization.

For a batch ``x`` of shape (N, D), batch normalisation standardises every feature (column) with
the statistics of the batch and then lets the network undo that with a learned scale and shift:

    μ = (1/N) Σ_i x_i            σ² = (1/N) Σ_i (x_i − μ)²          (biased: divide by N)
    x̂ = (x − μ) / sqrt(σ² + eps)                                    (eps keeps 0-variance features finite)
    out = γ · x̂ + β

At test time the batch statistics are replaced by *running* averages collected during training,
so the output for one example no longer depends on the rest of its batch.

Conventions (shared with the rest of the course):

- **Momentum is the weight of the old average**:
  ``running = momentum · running + (1 − momentum) · batch_statistic``, default 0.9.
  PyTorch's ``BatchNorm1d(momentum=0.1)`` means the *opposite* (its momentum is the weight of the
  new batch), so PyTorch's 0.1 is our 0.9.
- **The running variance is updated with the unbiased batch variance** ``N/(N−1) · σ²``, as
  PyTorch does, while the *normalisation* uses the biased σ² from the formula above. Why: at test
  time the running variance stands in for the variance of the whole population, and the biased
  estimate is too small by the factor (N − 1)/N on average (12.5 % for N = 8). The training
  forward pass, on the other hand, normalises the batch it sees, whose own variance is σ².
- Train mode needs at least two values per feature (N ≥ 2; N·H·W ≥ 2 for the spatial version):
  with one example x − μ = 0, every output equals β whatever the input, the gradient with respect
  to x is identically zero, and the unbiased variance divides by N − 1 = 0.

Two backward passes compute the same gradients: :func:`batchnorm_backward` walks the
computational graph one node at a time (the way you derive it on paper), and
:func:`batchnorm_backward_alt` uses the simplified closed form

    dx = (1/N) · ivar · (N·dx̂ − Σ_i dx̂_i − x̂ · Σ_i dx̂_i x̂_i),   dx̂ = γ · dout,  ivar = 1/sqrt(σ²+eps).

The closed form shows why an all-ones upstream gradient is a useless test: dx is γ·ivar times the
part of dout that is orthogonal (per feature, over the batch) to the constant vector and, up to a
factor eps/(σ²+eps), to x̂. So when dout is constant per feature the correct dx is exactly zero,
and so is the variance term x̂·Σ dx̂·x̂ (Σ x̂ = 0): a backward that forgets that term passes an
all-ones check. (For dout = x̂ the correct dx is γ·ivar·x̂·eps/(σ²+eps): tiny but not zero.)

The spatial variants normalise each *channel* of an (N, C, H, W) tensor with statistics over
N, H and W, which is what a convolutional network needs (a feature map shares one γ, β).

Caches are NamedTuples of :mod:`course_lib.validate`: :class:`~course_lib.validate.BatchNormCache`
(the named intermediate results of the forward pass) and, for the spatial variants,
:class:`~course_lib.validate.SpatialBatchNormCache` (that cache plus the 4-D shape). The layer
classes switch mode with ``train()``/``eval()`` and pass ``bn_param["mode"]`` on.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from course_lib.layers import Layer
from course_lib.validate import (
    BatchNormCache,
    SpatialBatchNormCache,
    check_array,
    check_bn_param,
    check_bn_params,
    check_cache,
    check_dout,
    check_int,
    describe,
)

__all__ = [
    "BatchNorm",
    "SpatialBatchNorm",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
]

# ------------------------------------------------------------------------------------------------
# small helpers (validation of the backward inputs, the closed form)
# ------------------------------------------------------------------------------------------------

def _backward_closed(dout: np.ndarray, c: BatchNormCache) -> tuple[np.ndarray, ...]:
    m = c.x.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * c.xhat).sum(axis=0)
    dxhat = dout * c.gamma
    if c.mode == "test":
        dx = dxhat * c.ivar
    else:
        dx = (c.ivar / m) * (
            m * dxhat - dxhat.sum(axis=0) - c.xhat * (dxhat * c.xhat).sum(axis=0)
        )
    return dx, dgamma, dbeta


def _cast(grads: tuple[np.ndarray, ...], c: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dx, dgamma, dbeta = grads
    return (
        np.asarray(dx, dtype=c.x.dtype),
        np.asarray(dgamma, dtype=c.gamma.dtype),
        np.asarray(dbeta, dtype=c.gamma.dtype),
    )


# ------------------------------------------------------------------------------------------------
# public functional API
# ------------------------------------------------------------------------------------------------

def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    bn_param: MutableMapping[str, Any],
) -> tuple[np.ndarray, BatchNormCache]:
    """Batch normalisation of a batch of feature vectors.

    Args:
        x: (N, D) input, floating dtype; the output keeps it (float32 in -> float32 out).
        gamma: (D,) scale.
        beta: (D,) shift.
        bn_param: a dict with keys
            - ``mode``: ``"train"`` (batch statistics, update running averages; default) or
              ``"test"`` (running averages);
            - ``eps`` (> 0, default 1e-5): added to the variance before the square root;
            - ``momentum`` (in [0, 1), default 0.9): weight of the *old* running average,
              ``running = momentum·running + (1 − momentum)·batch`` (PyTorch's momentum is
              1 − ours: its 0.1 is our 0.9);
            - ``running_mean``, ``running_var`` (D,): created (zeros, ones) on the first call.
            In train mode the two running arrays are *replaced* by updated arrays (the dict is the
            layer's state; it is the only argument this function changes). The running variance
            is updated with the unbiased batch variance N/(N−1)·σ² (as PyTorch), the batch is
            normalised with the biased σ².

    Returns:
        out: (N, D), ``gamma * xhat + beta``.
        cache: a :class:`BatchNormCache` for :func:`batchnorm_backward` / ``_alt``.

    Raises:
        TypeError: non-array or non-float ``x``/``gamma``/``beta``; ``bn_param`` not a dict.
        ValueError: ``x`` not 2-D, NaN/inf, gamma/beta not (D,), unknown ``mode`` or key,
            ``eps <= 0``, ``momentum`` outside [0, 1), running arrays of the wrong shape, or N < 2
            in train mode (one example has zero variance: every output would be beta).
    """
    x = check_array(x, "x", ndim=2)
    n, d = x.shape
    check_bn_params(gamma, beta, d, x.shape, "feature (column)")
    mode, eps, momentum = check_bn_param(bn_param, d)
    if mode == "train" and n < 2:
        raise ValueError(
            f"batch normalisation in train mode needs N >= 2 examples, got x of shape {x.shape}: "
            "the variance of one sample is 0 and x − mean is 0, so every output would equal beta "
            "whatever the input (and dx would be 0); use bn_param['mode'] = 'test' for single examples"
        )
    # Created here on the first call; zeros/ones are what an untrained layer should assume.
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = np.zeros(d, dtype=x.dtype)
    if running_var is None:
        running_var = np.ones(d, dtype=x.dtype)

    if mode == "train":
        mu = x.mean(axis=0)  # step 1
        xmu = x - mu  # step 2
        var = (xmu**2).mean(axis=0)  # steps 3-4 (biased)
        unbiased = var * (n / (n - 1))
        # New arrays, never in-place updates: a caller holding the old arrays keeps them intact.
        bn_param["running_mean"] = (momentum * running_mean + (1 - momentum) * mu).astype(
            running_mean.dtype
        )
        bn_param["running_var"] = (momentum * running_var + (1 - momentum) * unbiased).astype(
            running_var.dtype
        )
    else:
        xmu = x - running_mean.astype(x.dtype)
        var = running_var.astype(x.dtype)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    sqrtvar = np.sqrt(var + eps)  # step 5
    ivar = 1.0 / sqrtvar  # step 6
    xhat = xmu * ivar  # step 7
    out = (gamma * xhat + beta).astype(x.dtype, copy=False)  # steps 8-9
    return out, BatchNormCache(mode, x, xmu, var, sqrtvar, ivar, xhat, gamma, eps)


def batchnorm_backward(
    dout: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward`, node by node through the computational graph.

    The forward graph is ``mu = mean(x)`` → ``xmu = x − mu`` → ``sq = xmu²`` → ``var = mean(sq)``
    → ``sqrtvar = sqrt(var + eps)`` → ``ivar = 1/sqrtvar`` → ``xhat = xmu·ivar`` →
    ``out = gamma·xhat + beta``; this function applies the chain rule to each node in reverse.
    ``xmu`` is used twice (by ``sq`` and by ``xhat``), so its two incoming gradients add up.

    Args:
        dout: (N, D) upstream gradient ``dL/dout`` (not modified).
        cache: from :func:`batchnorm_forward` (not modified).

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,).
    """
    cache = check_cache(cache, BatchNormCache, "batchnorm_forward")
    dout = check_dout(dout, cache.x.shape)
    x, xmu, sqrtvar, ivar, xhat, gamma = (
        cache.x, cache.xmu, cache.sqrtvar, cache.ivar, cache.xhat, cache.gamma
    )
    n = x.shape[0]
    # steps 9 and 8: out = gammax + beta, gammax = gamma * xhat
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if cache.mode == "test":
        # mean and variance are constants at test time: the layer is affine in x.
        dx = dxhat * ivar
    else:
        # step 7: xhat = xmu * ivar (xmu feeds two branches: here and the variance)
        divar = (dxhat * xmu).sum(axis=0)
        dxmu1 = dxhat * ivar
        # step 6: ivar = 1 / sqrtvar
        dsqrtvar = -divar / sqrtvar**2
        # step 5: sqrtvar = sqrt(var + eps)
        dvar = 0.5 * dsqrtvar / sqrtvar
        # step 4: var = mean(sq) over the batch -> each of the n rows gets 1/n of it
        dsq = np.broadcast_to(dvar / n, x.shape)
        # step 3: sq = xmu ** 2
        dxmu2 = 2.0 * xmu * dsq
        # step 2: xmu = x − mu; both branches into xmu add up
        dx1 = dxmu1 + dxmu2
        dmu = -dx1.sum(axis=0)
        # step 1: mu = mean(x) -> each row gets 1/n of dmu (the "mean term")
        dx = dx1 + dmu / n
    # float32 in -> float32 out, whatever dtype the intermediate sums were promoted to
    return dx.astype(x.dtype, copy=False), dgamma.astype(gamma.dtype, copy=False), dbeta.astype(gamma.dtype, copy=False)


def batchnorm_backward_alt(
    dout: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward` in simplified closed form.

    With ``dxhat = gamma·dout`` and ``ivar = 1/sqrt(var + eps)``, per feature:
    ``dx = (1/N)·ivar·(N·dxhat − Σ_i dxhat_i − xhat·Σ_i dxhat_i·xhat_i)``;
    ``dgamma = Σ_i dout_i·xhat_i``; ``dbeta = Σ_i dout_i`` (sums over the batch, no 1/N).
    The middle term comes from the mean, the last from the variance.

    Args:
        dout: (N, D) upstream gradient (not modified).
        cache: from :func:`batchnorm_forward` (not modified).

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,) — equal to :func:`batchnorm_backward`'s to rounding.
    """
    cache = check_cache(cache, BatchNormCache, "batchnorm_forward")
    dout = check_dout(dout, cache.x.shape)
    return _cast(_backward_closed(dout, cache), cache)


def spatial_batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    bn_param: MutableMapping[str, Any],
) -> tuple[np.ndarray, SpatialBatchNormCache]:
    """Batch normalisation for convolutional feature maps: one mean/variance per channel.

    Every channel's statistics are taken over the N·H·W values it holds in the batch (a feature
    map is one feature seen at many positions), by viewing x as an (N·H·W, C) matrix and applying
    :func:`batchnorm_forward`.

    Args:
        x: (N, C, H, W) input, floating dtype.
        gamma, beta: (C,) per-channel scale and shift.
        bn_param: as for :func:`batchnorm_forward`; running arrays have shape (C,).

    Returns:
        out: (N, C, H, W); cache: a :class:`SpatialBatchNormCache`.

    Raises:
        ValueError: x not 4-D, gamma/beta not (C,), bad ``bn_param``, or fewer than two values per
            channel (N·H·W < 2) in train mode.
    """
    # Validated here, before batchnorm_forward, so that the messages speak of channels and N·H·W.
    x = check_array(x, "x", ndim=4)
    n, c, h, w = x.shape
    check_bn_params(gamma, beta, c, x.shape, "channel (axis 1)")
    mode, _, _ = check_bn_param(bn_param, c)
    if mode == "train" and n * h * w < 2:
        raise ValueError(
            f"spatial batch normalisation in train mode needs N·H·W >= 2 values per channel, got x "
            f"of shape {x.shape}: the variance of one value is 0, so every output would equal beta"
        )
    # channel axis last, then one row per (example, position): the columns are the channels
    rows = x.transpose(0, 2, 3, 1).reshape(n * h * w, c)
    out, inner = batchnorm_forward(rows, gamma, beta, bn_param)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), SpatialBatchNormCache(inner, (n, c, h, w))


def spatial_batchnorm_backward(
    dout: np.ndarray, cache: SpatialBatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`spatial_batchnorm_forward`: :func:`batchnorm_backward` on the
    same (N·H·W, C) view.

    Args:
        dout: (N, C, H, W) upstream gradient (not modified).
        cache: from :func:`spatial_batchnorm_forward`.

    Returns:
        dx (N, C, H, W), dgamma (C,), dbeta (C,).
    """
    cache = check_cache(cache, SpatialBatchNormCache, "spatial_batchnorm_forward")
    dout = check_dout(dout, cache.shape)
    n, c, h, w = cache.shape
    rows = dout.transpose(0, 2, 3, 1).reshape(n * h * w, c)
    dx, dgamma, dbeta = batchnorm_backward(rows, cache.inner)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta


# ------------------------------------------------------------------------------------------------
# layer classes
# ------------------------------------------------------------------------------------------------

class BatchNorm(Layer):
    """Batch normalisation layer for (N, D) inputs; see :func:`batchnorm_forward`.

    Parameters ``gamma`` (ones) and ``beta`` (zeros), shape (D,); state ``running_mean`` (zeros)
    and ``running_var`` (ones), saved by :meth:`state`. ``train()`` uses batch statistics and
    updates the running averages, ``eval()`` uses the running averages.
    """

    _what = "num_features"

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.9,
        eps: float = 1e-5,
        dtype: type = np.float64,
    ) -> None:
        super().__init__()
        self.num_features = check_int(num_features, self._what, low=1)
        _, self.eps, self.momentum = check_bn_param({"eps": eps, "momentum": momentum}, d=0)
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"dtype must be a floating type, got {dtype}")
        d = self.num_features
        self.params = {"gamma": np.ones(d, dtype=dtype), "beta": np.zeros(d, dtype=dtype)}
        self.running_mean = np.zeros(d, dtype=dtype)
        self.running_var = np.ones(d, dtype=dtype)

    def _bn_param(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "eps": self.eps,
            "momentum": self.momentum,
            "running_mean": self.running_mean,
            "running_var": self.running_var,
        }

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        bn_param = self._bn_param()
        out, cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"], bn_param)
        self.running_mean, self.running_var = bn_param["running_mean"], bn_param["running_var"]
        return out, cache

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dx, dgamma, dbeta = batchnorm_backward_alt(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(D,)`` -> ``(D,)``; ValueError unless D equals ``num_features``."""
        if tuple(input_shape) != (self.num_features,):
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects one example of shape "
                f"({self.num_features},), got {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def state(self) -> dict[str, np.ndarray]:
        """Copies of ``running_mean`` and ``running_var``."""
        return {"running_mean": self.running_mean.copy(), "running_var": self.running_var.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore the running statistics saved by :meth:`state` (validated, copied)."""
        if not isinstance(state, dict) or set(state) != {"running_mean", "running_var"}:
            raise ValueError(
                "state must be a dict with exactly the keys 'running_mean' and 'running_var', got "
                f"{sorted(state) if isinstance(state, dict) else describe(state)}"
            )
        for key in ("running_mean", "running_var"):
            arr = check_array(state[key], key, ndim=1)
            if arr.shape != (self.num_features,):
                raise ValueError(f"{key} must have shape ({self.num_features},), got {arr.shape}")
        if np.any(state["running_var"] < 0):
            raise ValueError("running_var contains negative variances")
        dtype = self.params["gamma"].dtype
        self.running_mean = state["running_mean"].astype(dtype, copy=True)
        self.running_var = state["running_var"].astype(dtype, copy=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features}, momentum={self.momentum}, eps={self.eps})"


class SpatialBatchNorm(BatchNorm):
    """Per-channel batch normalisation for (N, C, H, W) inputs; see
    :func:`spatial_batchnorm_forward`. Same parameters and state as :class:`BatchNorm`, shape (C,).
    """

    _what = "num_channels"

    def __init__(
        self,
        num_channels: int,
        *,
        momentum: float = 0.9,
        eps: float = 1e-5,
        dtype: type = np.float64,
    ) -> None:
        super().__init__(num_channels, momentum=momentum, eps=eps, dtype=dtype)

    @property
    def num_channels(self) -> int:
        return self.num_features

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        bn_param = self._bn_param()
        out, cache = spatial_batchnorm_forward(
            x, self.params["gamma"], self.params["beta"], bn_param
        )
        self.running_mean, self.running_var = bn_param["running_mean"], bn_param["running_var"]
        return out, cache

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(C, H, W)`` -> ``(C, H, W)``; ValueError unless C equals ``num_channels``."""
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[0] != self.num_features:
            raise ValueError(
                f"SpatialBatchNorm({self.num_features}) expects one example of shape "
                f"({self.num_features}, H, W), got {shape}"
            )
        return shape
