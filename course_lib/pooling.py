"""Chapter 5 — Pooling: max, average and global average pooling, naive and fast.

A pooling layer slides a ``ph × pw`` window over each channel separately with step
``(sh, sw)`` (default: the window size, i.e. non-overlapping windows) and replaces the window by
one number. It has no parameters. Output size per axis: ``(H − ph) // sh + 1`` — the convolution
formula without padding (:func:`course_lib.conv.conv_output_size`); rows or columns that no
window reaches are ignored and get zero gradient.

Max pooling: ``out[n, c, i, j] = max_{p<ph, q<pw} x[n, c, i·sh + p, j·sw + q]``. Its gradient is
*routed*: the whole upstream gradient of a window goes to the input that was the maximum; every
other input of the window gets 0 from it.

**Tie rule.** When several entries of a window share the maximum, the max is not
differentiable there, and a rule must pick one: here the *first* maximum in row-major window
order (smallest p, then smallest q) receives all of the gradient, exactly like ``np.argmax`` on
the flattened window (and PyTorch's CPU max_pool2d). Giving each tied entry the full gradient
— what "∂max/∂x_d = 1 if x_d ≥ all others" literally says — would count the gradient twice.

**Overlapping windows** (stride < window): an input can be the maximum of several windows; its
gradient is the *sum* of what those windows route to it.

Average pooling: ``out = mean of the window``; every input of a window receives
``dout / (ph·pw)``, summed over the windows that contain it. Global average pooling averages
each channel over all of H × W: (N, C, H, W) -> (N, C).

The fast versions loop only over the ``ph·pw`` offsets inside a window (4 for 2 × 2), each
step handling all examples, channels and windows at once through strided views (for exactly
tiling windows, slices of the reshape (N, C, Ho, ph, Wo, pw)). Reducing that reshape with
``.max(axis=(3, 5))`` is the textbook one-liner, but NumPy's reductions over short axes are
6–50× slower than ph·pw elementwise maxima (measured), so the fast versions avoid it.

Caches (the convention of :mod:`course_lib.validate`): the naive max pooling keeps the input
(:class:`~course_lib.validate.MaxPoolNaiveCache`), the fast one the input and its output, whose
entries it compares with (:class:`~course_lib.validate.MaxPoolCache`); average pooling needs only
shapes (:class:`~course_lib.validate.AvgPoolCache`, the same for both versions, and
:class:`~course_lib.validate.GlobalAvgPoolCache`).

The layer class :class:`MaxPool2D` runs a tuned version for (N, C, H, W) views of channels-last
memory (what :class:`course_lib.conv.Conv2D` returns) with exactly tiling windows,
:mod:`course_lib.fast.pooling`; the tests hold it equal to :func:`max_pool_forward` /
:func:`max_pool_backward`, ties included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.conv import conv_output_size
from course_lib.fast import pooling as fast_pooling
from course_lib.layers import Layer
from course_lib.validate import (
    AvgPoolCache,
    GlobalAvgPoolCache,
    MaxPoolCache,
    MaxPoolNaiveCache,
    check_array,
    check_cache,
    check_dout,
    check_int_pair,
)

__all__ = [
    "AvgPool2D",
    "GlobalAvgPool2D",
    "MaxPool2D",
    "avg_pool_backward",
    "avg_pool_backward_naive",
    "avg_pool_forward",
    "avg_pool_forward_naive",
    "global_avg_pool_backward",
    "global_avg_pool_forward",
    "max_pool_backward",
    "max_pool_backward_naive",
    "max_pool_forward",
    "max_pool_forward_naive",
]


def _geometry(
    x_shape: tuple[int, ...], pool_size: Any, stride: Any
) -> tuple[int, int, int, int, int, int]:
    """(ph, pw, sh, sw, Ho, Wo) for an input of shape (N, C, H, W); ValueError if it does not fit."""
    ph, pw = check_int_pair(pool_size, "pool_size")
    sh, sw = (ph, pw) if stride is None else check_int_pair(stride, "stride")
    _, _, H, W = x_shape
    try:
        Ho = conv_output_size(H, ph, 0, sh)
        Wo = conv_output_size(W, pw, 0, sw)
    except ValueError as e:
        raise ValueError(
            f"pooling window {ph}×{pw} with stride {sh}×{sw} does not fit x of shape "
            f"{tuple(x_shape)}: {e}"
        ) from None
    return ph, pw, sh, sw, Ho, Wo


def _check_x(x: Any) -> np.ndarray:
    x = check_array(x, "x", ndim=4)
    if x.size == 0:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    return x


def _window_view(a: np.ndarray, p: int, q: int, sh: int, sw: int, Ho: int, Wo: int) -> np.ndarray:
    """View of entry (p, q) of every window: shape (N, C, Ho, Wo), element [.., i, j] = a[.., i·sh+p, j·sw+q]."""
    return a[:, :, p:p + sh * (Ho - 1) + 1:sh, q:q + sw * (Wo - 1) + 1:sw]


def _tiles_exactly(x_shape: tuple[int, ...], ph: int, pw: int, sh: int, sw: int) -> bool:
    """Non-overlapping windows that cover every pixel: the reshape trick applies."""
    return sh == ph and sw == pw and x_shape[2] % ph == 0 and x_shape[3] % pw == 0


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------

def max_pool_forward_naive(
    x: np.ndarray, *, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, MaxPoolNaiveCache]:
    """Max pooling with explicit loops.

    Args:
        x: (N, C, H, W).
        pool_size: window ph × pw (int or pair).
        stride: step (int or pair); None means the window size (non-overlapping).

    Returns:
        out (N, C, Ho, Wo) with Ho = (H − ph)//sh + 1, Wo = (W − pw)//sw + 1; a
        :class:`~course_lib.validate.MaxPoolNaiveCache` ``(x, (ph, pw, sh, sw, Ho, Wo))``.
    """
    x = _check_x(x)
    ph, pw, sh, sw, Ho, Wo = _geometry(x.shape, pool_size, stride)
    N, C, _, _ = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = x[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw].max()
    return out, MaxPoolNaiveCache(x, (ph, pw, sh, sw, Ho, Wo))


def max_pool_backward_naive(dout: np.ndarray, cache: MaxPoolNaiveCache) -> np.ndarray:
    """Backward pass of max pooling with explicit loops: route each gradient to its window's arg-max.

    Ties: the first maximum in row-major window order gets everything (``np.argmax``).
    Overlapping windows add their contributions.

    Args:
        dout: (N, C, Ho, Wo) upstream gradient (not modified).
        cache: the :class:`~course_lib.validate.MaxPoolNaiveCache` ``(x, (ph, pw, sh, sw, Ho, Wo))``
            of :func:`max_pool_forward_naive`.

    Returns:
        dx, shape (N, C, H, W).
    """
    x, (ph, pw, sh, sw, Ho, Wo) = check_cache(cache, MaxPoolNaiveCache, "max_pool_forward_naive")
    N, C, _, _ = x.shape
    dout = check_dout(dout, (N, C, Ho, Wo))
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw]
                    p, q = divmod(int(np.argmax(window)), pw)
                    dx[n, c, i * sh + p, j * sw + q] += dout[n, c, i, j]
    return dx


def max_pool_forward(
    x: np.ndarray, *, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, MaxPoolCache]:
    """Fast max pooling; same arguments and output as :func:`max_pool_forward_naive`.

    The elementwise maximum of the ph·pw strided views "entry (p, q) of every window" (for
    non-overlapping windows that tile the input, slices of the reshape (N, C, Ho, ph, Wo, pw)).
    float32 stays float32; the memory layout of ``x`` is kept. The cache, a
    :class:`~course_lib.validate.MaxPoolCache`, also holds the output, which backward compares with.
    """
    x = _check_x(x)
    geom = ph, pw, sh, sw, Ho, Wo = _geometry(x.shape, pool_size, stride)
    N, C, _, _ = x.shape
    if _tiles_exactly(x.shape, ph, pw, sh, sw):
        # Reshape trick: x6[:, :, i, p, j, q] = x[:, :, i·ph + p, j·pw + q] (a view, no copy).
        x6 = x.reshape(N, C, Ho, ph, Wo, pw)
        def entry(p: int, q: int) -> np.ndarray:
            return x6[:, :, :, p, :, q]
    else:
        def entry(p: int, q: int) -> np.ndarray:
            return _window_view(x, p, q, sh, sw, Ho, Wo)
    # ph·pw elementwise maxima rather than x6.max(axis=(3, 5)): NumPy reduces short inner axes
    # slowly (measured on (64, 16, 24, 24) float32: 0.39 ms against 2.3 ms, and 30 ms when x is
    # C-ordered).
    # order="K": the output keeps x's memory layout, so that backward compares x with out along
    # matching strides.
    out = entry(0, 0).copy(order="K")
    for p in range(ph):
        for q in range(pw):
            if p or q:
                np.maximum(out, entry(p, q), out=out)
    return out, MaxPoolCache(x, out, geom)


def _in_layout_of(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A copy of ``a`` (same shape as ``like``) stored in ``like``'s memory order."""
    b = np.empty_like(like, dtype=a.dtype)
    b[...] = a
    return b


def max_pool_backward(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """Fast backward pass of :func:`max_pool_forward` (same tie rule as the naive one).

    Walks the window offsets in row-major order; ``free`` marks windows whose maximum has not yet
    been claimed, so only the first entry equal to the maximum receives the gradient.

    Returns:
        dx, shape (N, C, H, W), in the memory layout of the forward input.
    """
    x, out, (ph, pw, sh, sw, Ho, Wo) = check_cache(cache, MaxPoolCache, "max_pool_forward")
    dout = check_dout(dout, out.shape)
    if dout.strides != out.strides:
        # One cheap copy into out's memory layout (e.g. an (N, C, H, W) gradient from Flatten
        # against an (N, H, W, C) forward buffer): the ph·pw passes below then run along
        # matching strides, 3-4× faster than with mixed layouts.
        dout = _in_layout_of(dout, out)
    overlapping = sh < ph or sw < pw
    # Exact tiling writes every entry of dx below, so it needs no zero fill.
    dx = np.empty_like(x) if _tiles_exactly(x.shape, ph, pw, sh, sw) else np.zeros_like(x)
    free = None
    for p in range(ph):
        for q in range(pw):
            hit = _window_view(x, p, q, sh, sw, Ho, Wo) == out
            last = p == ph - 1 and q == pw - 1
            if free is None:
                if not last:
                    free = ~hit
            else:
                hit &= free
                if not last:
                    free ^= hit  # hit ⊆ free here, so XOR removes the windows just claimed
            target = _window_view(dx, p, q, sh, sw, Ho, Wo)
            if overlapping:
                target += dout * hit
            else:
                np.multiply(dout, hit, out=target)
    return dx


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------

def avg_pool_forward_naive(
    x: np.ndarray, *, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, AvgPoolCache]:
    """Average pooling with explicit loops. Shapes as in :func:`max_pool_forward_naive`; the cache
    is a :class:`~course_lib.validate.AvgPoolCache`, as :func:`avg_pool_forward`'s."""
    x = _check_x(x)
    ph, pw, sh, sw, Ho, Wo = _geometry(x.shape, pool_size, stride)
    N, C, _, _ = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = x[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw].mean()
    return out, AvgPoolCache(x.shape, x.dtype, (ph, pw, sh, sw, Ho, Wo))


def avg_pool_backward_naive(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Backward pass of average pooling with loops: each window spreads dout/(ph·pw) evenly."""
    x_shape, dtype, (ph, pw, sh, sw, Ho, Wo) = check_cache(cache, AvgPoolCache, "avg_pool_forward_naive")
    N, C, _, _ = x_shape
    dout = check_dout(dout, (N, C, Ho, Wo))
    dx = np.zeros(x_shape, dtype=np.result_type(dtype, dout.dtype))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    dx[n, c, i * sh:i * sh + ph, j * sw:j * sw + pw] += dout[n, c, i, j] / (ph * pw)
    return dx


def avg_pool_forward(
    x: np.ndarray, *, pool_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, AvgPoolCache]:
    """Fast average pooling; same contract (and cache) as :func:`avg_pool_forward_naive`."""
    x = _check_x(x)
    geom = ph, pw, sh, sw, Ho, Wo = _geometry(x.shape, pool_size, stride)
    # Summing ph·pw strided views beats x.reshape(N, C, Ho, ph, Wo, pw).mean(axis=(3, 5)) in
    # NumPy for the same reason as in max_pool_forward; it also handles every geometry.
    out = _window_view(x, 0, 0, sh, sw, Ho, Wo).copy()
    for p in range(ph):
        for q in range(pw):
            if p or q:
                out += _window_view(x, p, q, sh, sw, Ho, Wo)
    out /= ph * pw
    return out, AvgPoolCache(x.shape, x.dtype, geom)


def avg_pool_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Fast backward pass of :func:`avg_pool_forward`: one slice-add per window offset."""
    x_shape, dtype, (ph, pw, sh, sw, Ho, Wo) = check_cache(cache, AvgPoolCache, "avg_pool_forward")
    N, C, _, _ = x_shape
    dout = check_dout(dout, (N, C, Ho, Wo))
    share = dout / (ph * pw)
    dx = np.zeros(x_shape, dtype=np.result_type(dtype, dout.dtype))
    for p in range(ph):
        for q in range(pw):
            _window_view(dx, p, q, sh, sw, Ho, Wo)[...] += share
    return dx


def global_avg_pool_forward(x: np.ndarray) -> tuple[np.ndarray, GlobalAvgPoolCache]:
    """Global average pooling: the mean of each channel over H × W.

    Args:
        x: (N, C, H, W).

    Returns:
        out (N, C), and a :class:`~course_lib.validate.GlobalAvgPoolCache`.
    """
    x = _check_x(x)
    return x.mean(axis=(2, 3)), GlobalAvgPoolCache(x.shape, x.dtype)


def global_avg_pool_backward(dout: np.ndarray, cache: GlobalAvgPoolCache) -> np.ndarray:
    """Backward pass of :func:`global_avg_pool_forward`: every pixel gets dout / (H·W).

    Returns:
        dx (N, C, H, W).
    """
    x_shape, dtype = check_cache(cache, GlobalAvgPoolCache, "global_avg_pool_forward")
    N, C, H, W = x_shape
    dout = check_dout(dout, (N, C))
    dx = np.empty(x_shape, dtype=np.result_type(dtype, dout.dtype))
    dx[...] = (dout / (H * W))[:, :, None, None]
    return dx


# --------------------------------------------------------------------------------------------
# Layer classes
# --------------------------------------------------------------------------------------------

class _Pool2D(Layer):
    """Window and stride checks, output shapes and the repr shared by the pooling layers;
    subclasses set ``_forward_fn``/``_backward_fn`` or override ``_forward``/``_backward``."""

    per_example = True

    _forward_fn: Any = None
    _backward_fn: Any = None

    def __init__(self, pool_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.pool_size = check_int_pair(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else check_int_pair(stride, "stride")

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return type(self)._forward_fn(x, pool_size=self.pool_size, stride=self.stride)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return type(self)._backward_fn(dout, cache), {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__}.output_shape takes one example's (C, H, W), got {tuple(input_shape)}"
            )
        C = input_shape[0]
        *_, Ho, Wo = _geometry((1, *input_shape), self.pool_size, self.stride)
        return (C, Ho, Wo)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool_size={self.pool_size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    """Max pooling layer, (N, C, H, W) -> (N, C, Ho, Wo); see :func:`max_pool_forward`.

    On (N, C, H, W) views of channels-last memory with exactly tiling windows (after a
    :class:`~course_lib.conv.Conv2D`) it runs the tuned :mod:`course_lib.fast.pooling`, which
    gives the same numbers; otherwise :func:`max_pool_forward` itself.
    """

    def __init__(self, pool_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__(pool_size, stride)
        # Internal buffers of the tuned path, reused from step to step; the cache refers to
        # some of them until the next forward pass, and Layer keeps only the latest cache.
        self._workspace: dict[str, np.ndarray] = {}

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        x = _check_x(x)
        geom = _geometry(x.shape, self.pool_size, self.stride)
        if fast_pooling.applies(x, geom):
            return fast_pooling.max_pool_forward(x, geom, self._workspace)
        return max_pool_forward(x, pool_size=self.pool_size, stride=self.stride)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if isinstance(cache, fast_pooling.MaxPoolCache):
            return fast_pooling.max_pool_backward(dout, cache, self._workspace), {}
        return max_pool_backward(dout, cache), {}


class AvgPool2D(_Pool2D):
    """Average pooling layer, (N, C, H, W) -> (N, C, Ho, Wo); see :func:`avg_pool_forward`."""

    _forward_fn = staticmethod(avg_pool_forward)
    _backward_fn = staticmethod(avg_pool_backward)


class GlobalAvgPool2D(Layer):
    """Global average pooling, (N, C, H, W) -> (N, C)."""

    per_example = True

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return global_avg_pool_forward(x)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return global_avg_pool_backward(dout, cache), {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D.output_shape takes one example's (C, H, W), got {tuple(input_shape)}")
        return (input_shape[0],)
