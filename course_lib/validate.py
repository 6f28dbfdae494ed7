"""Input validation and the forward/backward contracts shared by every chapter module.

This module holds no graded answer: it is the one part of ``course_lib`` that the exercise
notebooks' model solutions import (and the only one the grader's sandbox offers to student code).
It contains the generic checks (arrays, numbers, labels), the per-layer input checks
(convolution arrays, upstream gradients, loss inputs, optimizer configs, BatchNorm parameters,
dropout probabilities) and the cache types that forward passes hand to backward passes.

Every public function of ``course_lib`` checks its inputs with these helpers so that a bad input
fails *early* with a message naming the argument, its shape and what was expected, instead of a
NumPy broadcasting error three lines later (or, worse, a silently wrong answer).

Conventions:
- wrong *type* or *dtype* (a list where an array is needed, an integer image, a complex array)
  raises ``TypeError``;
- wrong *value* (rank, shape mismatch, NaN/inf, non-positive stride, probability outside its
  range) raises ``ValueError``.

Caches, one style for every chapter. ``out, cache = layer_forward(...)`` hands the backward pass
what it will read, and nothing else:

- one array when one array is all it reads (sigmoid and tanh keep their output, ReLU its input);
- otherwise a ``NamedTuple`` defined in this module and named after its forward function
  (``conv_forward_naive`` -> :class:`ConvNaiveCache`, ``affine_forward`` -> :class:`AffineCache`),
  one field per thing the backward pass reads. It unpacks like the tuple it is
  (``x, w, b, stride, pad = cache``) and names its fields (``cache.x``), and it lives here, beside
  the checks, because the exercises' model solutions build it and the grading sandbox offers
  this module and no other part of ``course_lib``.

A backward pass takes its cache through :func:`check_cache`: the cache type itself, or a plain
tuple of the same fields in the same order (what a reader's own forward pass naturally returns),
which it converts; anything else is a ``TypeError`` naming the type and the forward pass that
returns it. The tuned paths of :mod:`course_lib.fast` follow the same rule with caches of their
own (one array, or a NamedTuple of workspace buffers in channels-last layouts), read only by the
layer classes that made them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

__all__ = [
    "BN_MODES",
    "DROPOUT_MODES",
    "OPTIMIZER_DEFAULTS",
    "OPTIMIZER_STATE",
    "AffineCache",
    "AvgPoolCache",
    "BatchNormCache",
    "Config",
    "ConvCache",
    "ConvDilatedCache",
    "ConvNaiveCache",
    "ConvTransposeCache",
    "DropoutCache",
    "ELUCache",
    "GlobalAvgPoolCache",
    "LeakyReLUCache",
    "MaxPoolCache",
    "MaxPoolNaiveCache",
    "NeuronCache",
    "SpatialBatchNormCache",
    "as_rng",
    "check_array",
    "check_bn_param",
    "check_bn_params",
    "check_cache",
    "check_conv_arrays",
    "check_dout",
    "check_float_dtype",
    "check_int",
    "check_int_pair",
    "check_keep_prob",
    "check_labels",
    "check_number",
    "check_optimizer_hyper",
    "check_same_shape",
    "check_scores_labels",
    "describe",
    "prepare_optimizer_config",
]

_C = TypeVar("_C", bound=tuple)  # a cache type (a NamedTuple)


def describe(x: object) -> str:
    """Short human description of ``x`` for error messages (type, shape, dtype)."""
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_array(
    x: object,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
    float_only: bool = True,
) -> np.ndarray:
    """Check that ``x`` is a real floating NumPy array of the expected rank and return it.

    Args:
        x: the value to check.
        name: the argument's name, used in the error message (e.g. ``"x"`` or ``"dout"``).
        ndim: the allowed rank(s), or None for any.
        finite: if True, NaN and ±inf are rejected.
        float_only: if True the dtype must be floating (float16/32/64); else any real number type.

    Returns:
        ``x`` itself (never a copy), so callers can write ``x = check_array(x, "x", ndim=4)``.

    Raises:
        TypeError: ``x`` is not an ndarray, or has a non-float (or complex/object) dtype.
        ValueError: wrong rank, or non-finite values when ``finite``.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array, got {describe(x)}; wrap it with np.asarray(..., dtype=float)"
        )
    # dtype.kind is np.issubdtype's answer without its overhead ("f" floating, "iu" integer);
    # this runs dozens of times per training step.
    kind = x.dtype.kind
    if float_only:
        if kind != "f":
            raise TypeError(
                f"{name} must have a floating dtype (float32 or float64), got {x.dtype}; "
                f"convert it with {name}.astype(np.float64)"
            )
    elif kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got {x.ndim}-D array of shape {x.shape}")
    if finite and x.size and not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return x


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have exactly the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number in the given interval and return it as float.

    ``check_number(lr, "learning_rate", low=0, low_inclusive=False)`` demands ``lr > 0``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {v}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}, got {v}")
    return v


def check_int(value: object, name: str, *, low: int | None = None) -> int:
    """Check that ``value`` is an integer (Python or NumPy, not bool) ``>= low`` and return it."""
    # An exact int first: the ABC check of numbers.Integral costs ~10× more, and this runs
    # dozens of times per training step (geometry of every convolution and pooling layer).
    if type(value) is int:
        v = value
    elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)} ({value!r})")
    else:
        v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return v


def check_int_pair(v: object, name: str) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= 1, as a pair (kernel sizes, pooling windows, strides)."""
    if isinstance(v, tuple | list):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {v!r}")
        return check_int(v[0], f"{name}[0]", low=1), check_int(v[1], f"{name}[1]", low=1)
    k = check_int(v, name, low=1)
    return k, k


def check_labels(y: object, n: int, num_classes: int, name: str = "y") -> np.ndarray:
    """Check integer class labels ``y`` of shape ``(n,)`` with values in ``[0, num_classes)``."""
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of integer labels, got {describe(y)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the scores, got {y.shape}")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} must hold labels in [0, {num_classes}), got values from {y.min()} to {y.max()}"
        )
    return y


# ------------------------------------------------------------------------------------------------
# Upstream gradients and caches (every layer's backward pass)
# ------------------------------------------------------------------------------------------------

def check_dout(dout: object, shape: Sequence[int]) -> np.ndarray:
    """Check an upstream gradient against the shape of the forward output it belongs to.

    Args:
        dout: the upstream gradient dL/dout.
        shape: the forward output's shape.

    Returns:
        ``dout`` itself (a float array of exactly ``shape``).

    Raises:
        TypeError: not a float array.
        ValueError: another rank or shape, or NaN/inf.
    """
    shape = tuple(shape)
    dout = check_array(dout, "dout", ndim=len(shape))
    if dout.shape != shape:
        raise ValueError(f"dout must have the shape of the forward output {shape}, got {dout.shape}")
    return dout


def check_cache(cache: object, kind: type[_C], forward: str) -> _C:
    """``cache`` as the NamedTuple ``kind`` that the forward pass ``forward`` returns.

    A ``kind`` passes through; a plain tuple of ``kind``'s fields in the same order (what a
    reader's own forward pass naturally returns) is converted to ``kind``.

    Raises:
        TypeError: anything else (another cache type, a tuple of another length, an array),
            naming ``forward`` and the fields.
    """
    if isinstance(cache, kind):
        return cache
    fields = kind._fields  # type: ignore[attr-defined]
    if type(cache) is tuple and len(cache) == len(fields):
        return kind._make(cache)  # type: ignore[attr-defined,no-any-return]
    got = describe(cache) + (f" of length {len(cache)}" if isinstance(cache, tuple) else "")
    raise TypeError(
        f"cache must be the {kind.__name__} that {forward} returns (or a tuple of its "
        f"{len(fields)} fields {fields}), got {got}"
    )


# Chapter 1: the neuron. (sigmoid and tanh cache their output, relu its input: one array each.)

class LeakyReLUCache(NamedTuple):
    """What ``leaky_relu_backward`` needs: the input and the slope for negative inputs."""

    x: np.ndarray
    alpha: float


class ELUCache(NamedTuple):
    """What ``elu_backward`` needs: the input, the slope ``alpha·e^min(x, 0)`` and alpha."""

    x: np.ndarray
    slope: np.ndarray
    alpha: float


class NeuronCache(NamedTuple):
    """What ``neuron_backward`` needs from ``neuron_forward``."""

    x: np.ndarray  # (D,) or (N, D)
    w: np.ndarray  # (D,) or (D, M)
    b: np.ndarray  # 0-d or (M,)
    activation: str  # a key of course_lib.neuron.ACTIVATIONS
    activation_cache: Any  # the activation's own cache
    out_shape: tuple[int, ...]


# Chapter 4: convolution.

class ConvNaiveCache(NamedTuple):
    """What ``conv_backward_naive`` needs: the forward pass's inputs and hyperparameters."""

    x: np.ndarray  # (N, C, H, W)
    w: np.ndarray  # (F, C, HH, WW)
    b: np.ndarray  # (F,)
    stride: int
    pad: int


class ConvCache(NamedTuple):
    """What ``conv_backward`` needs: im2col's matrix instead of x, so backward does not redo it."""

    cols: np.ndarray  # (N·Ho·Wo, C·HH·WW), rows (n, i, j), columns (c, p, q)
    x_shape: tuple[int, int, int, int]
    w: np.ndarray  # (F, C, HH, WW)
    stride: int
    pad: int


class ConvTransposeCache(NamedTuple):
    """What ``conv_transpose_backward`` needs (from either transposed-convolution forward pass)."""

    g: np.ndarray  # (N·H·W, C_in): x with one row per input pixel
    x_shape: tuple[int, int, int, int]
    w: np.ndarray  # (C_in, F_out, HH, WW)
    stride: int
    pad: int


class ConvDilatedCache(NamedTuple):
    """What ``conv_backward_dilated`` needs: the cache of the convolution with the spread-out
    kernel, and the dilation."""

    conv_cache: ConvCache
    dilation: int


# Chapter 5: pooling. ``geometry`` is (ph, pw, sh, sw, Ho, Wo): window, stride, output size.

class MaxPoolNaiveCache(NamedTuple):
    """What ``max_pool_backward_naive`` needs: the input (each window's arg-max is found again)."""

    x: np.ndarray  # (N, C, H, W)
    geometry: tuple[int, int, int, int, int, int]


class MaxPoolCache(NamedTuple):
    """What ``max_pool_backward`` needs: the input and the output (the maxima it compares with)."""

    x: np.ndarray  # (N, C, H, W)
    out: np.ndarray  # (N, C, Ho, Wo)
    geometry: tuple[int, int, int, int, int, int]


class AvgPoolCache(NamedTuple):
    """What both average-pooling backward passes need: only shapes (the gradient is spread evenly)."""

    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    geometry: tuple[int, int, int, int, int, int]


class GlobalAvgPoolCache(NamedTuple):
    """What ``global_avg_pool_backward`` needs: the input's shape and dtype."""

    x_shape: tuple[int, int, int, int]
    dtype: np.dtype


# Chapter 6: the affine layer.

class AffineCache(NamedTuple):
    """What ``affine_backward`` needs: the forward pass's inputs."""

    x: np.ndarray  # (N, D)
    w: np.ndarray  # (D, M)
    b: np.ndarray  # (M,)


# Chapter 7: BatchNorm.

class BatchNormCache(NamedTuple):
    """What the BatchNorm backward passes need from the forward pass (2-D view: rows are samples)."""

    mode: str
    x: np.ndarray  # (M, D) input
    xmu: np.ndarray  # (M, D) x − mean
    var: np.ndarray  # (D,) variance used to normalise (batch σ² in train mode, running in test)
    sqrtvar: np.ndarray  # (D,) sqrt(var + eps)
    ivar: np.ndarray  # (D,) 1 / sqrtvar
    xhat: np.ndarray  # (M, D) normalised input
    gamma: np.ndarray  # (D,)
    eps: float


class SpatialBatchNormCache(NamedTuple):
    """The 2-D BatchNorm cache plus the original (N, C, H, W) shape."""

    inner: BatchNormCache
    shape: tuple[int, int, int, int]


# Chapter 8: dropout.

class DropoutCache(NamedTuple):
    """The mask used by the dropout forward pass (None in test mode, where dropout is the identity)."""

    mask: np.ndarray | None
    shape: tuple[int, ...]


# ------------------------------------------------------------------------------------------------
# Convolution (chapter 4)
# ------------------------------------------------------------------------------------------------

def check_conv_arrays(
    x: Any, w: Any, b: Any, stride: Any, pad: Any, *, transposed: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Validate a convolution's inputs except the fit of the kernel; one common float dtype.

    Args:
        x: (N, C, H, W) input.
        w: (F, C, HH, WW) filters, or (C_in, F_out, HH, WW) when ``transposed``.
        b: (F,) biases.
        stride: positive int.
        pad: int >= 0.
        transposed: read ``w`` in the transposed convolution's layout; the checks are the same,
            the error messages name the axes of that layout.

    Returns:
        ``(x, w, b, stride, pad)`` with the arrays in their common float dtype.
    """
    x = check_array(x, "x", ndim=4)
    w = check_array(w, "w", ndim=4)
    b = check_array(b, "b", ndim=1)
    stride = check_int(stride, "stride", low=1)
    pad = check_int(pad, "pad", low=0)
    C = x.shape[1]
    if transposed:
        (Cw, F), c, f, w_axes = w.shape[:2], "C_in", "F_out", "(C_in, F_out, HH, WW)"
    else:
        (F, Cw), c, f, w_axes = w.shape[:2], "C", "F", "(F, C, HH, WW)"
    if C != Cw:
        raise ValueError(
            f"channel mismatch: x of shape {x.shape} (N, {c}, H, W) has {c}={C} channels but w of "
            f"shape {w.shape} {w_axes} expects {c}={Cw}"
        )
    if b.shape != (F,):
        raise ValueError(
            f"b must have shape ({f},) = ({F},) to match w of shape {w.shape}, got {b.shape}"
        )
    if min(x.shape) == 0 or min(w.shape) == 0:
        raise ValueError(f"empty input: x has shape {x.shape}, w has shape {w.shape}")
    dt = np.result_type(x.dtype, w.dtype, b.dtype)
    return x.astype(dt, copy=False), w.astype(dt, copy=False), b.astype(dt, copy=False), stride, pad


# ------------------------------------------------------------------------------------------------
# Losses (chapter 2)
# ------------------------------------------------------------------------------------------------

def check_scores_labels(scores: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    """Check class scores (N, C) and integer labels (N,) in [0, C); return them as arrays."""
    scores = check_array(scores, "scores", ndim=2)
    n, c = scores.shape
    if isinstance(y, np.ndarray) and np.issubdtype(y.dtype, np.integer) and y.shape != (n,):
        raise ValueError(
            f"y has shape {y.shape} but scores has shape {scores.shape}: "
            f"y needs one integer label per row of scores, shape ({n},)"
        )
    y = check_labels(y, n, c, "y")
    if n == 0:
        raise ValueError(f"scores must hold at least one example, got shape {scores.shape}")
    return scores, y


# ------------------------------------------------------------------------------------------------
# Optimizers (chapter 3): the one definition of their hyperparameters and state keys
# ------------------------------------------------------------------------------------------------

#: An optimizer's config: hyperparameters plus the state it keeps between steps.
Config = dict[str, Any]

#: Default hyperparameters of each rule (CS231n's defaults; Adam's are those of Kingma & Ba).
OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}

#: State each rule keeps between steps (arrays of w's shape, except Adam's step counter t).
OPTIMIZER_STATE: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "sgd_momentum": ("velocity",),
    "nesterov": ("velocity",),
    "rmsprop": ("cache",),
    "adam": ("m", "v", "t"),
}


def check_optimizer_hyper(rule: str, hyper: Mapping[str, Any]) -> None:
    """Validate hyperparameter values; reject unknown keys (a typo like ``lr`` would be ignored)."""
    allowed = set(OPTIMIZER_DEFAULTS[rule]) | set(OPTIMIZER_STATE[rule])
    unknown = sorted(set(hyper) - allowed)
    if unknown:
        raise ValueError(
            f"{rule}: unknown config key(s) {unknown}; allowed are {sorted(allowed)} "
            "(the learning rate is called 'learning_rate')"
        )
    if "learning_rate" in hyper:
        check_number(hyper["learning_rate"], "learning_rate", low=0, low_inclusive=False)
    if "momentum" in hyper:
        # μ = 1 never forgets old gradients (the velocity does not decay); μ < 0 is not momentum.
        check_number(hyper["momentum"], "momentum", low=0, high=1, high_inclusive=False)
    if "decay_rate" in hyper:
        check_number(hyper["decay_rate"], "decay_rate", low=0, high=1, high_inclusive=False)
    for beta in ("beta1", "beta2"):
        if beta in hyper:
            # β = 1 would make the bias correction 1 / (1 − βᵗ) divide by zero.
            check_number(hyper[beta], beta, low=0, high=1, high_inclusive=False)
    if "epsilon" in hyper:
        check_number(hyper["epsilon"], "epsilon", low=0, low_inclusive=False)


def prepare_optimizer_config(rule: str, w: object, dw: object, config: Mapping[str, Any] | None) -> Config:
    """Check ``w``/``dw``/``config`` of an update rule; return a *new* config with defaults and state.

    Args:
        rule: a key of :data:`OPTIMIZER_DEFAULTS` (``"sgd"``, ``"adam"``, …).
        w: parameters, float array of any shape.
        dw: gradient of ``w``'s shape (finite).
        config: hyperparameters and state from the previous step, or None.

    Returns:
        a new dict: the given keys, the rule's defaults for the missing hyperparameters, zero
        arrays of ``w``'s shape for missing state (and ``t = 0`` for Adam).
    """
    w = check_array(w, "w")
    dw = check_array(dw, "dw")  # NaN/inf in the gradient -> ValueError (a diverged run)
    check_same_shape(w, dw, "w", "dw")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict or None, got {type(config).__name__}")
    cfg: Config = dict(config or {})
    check_optimizer_hyper(rule, cfg)
    for key, value in OPTIMIZER_DEFAULTS[rule].items():
        cfg.setdefault(key, value)
    for key in OPTIMIZER_STATE[rule]:
        if key == "t":
            cfg["t"] = check_int(cfg.get("t", 0), "t", low=0)
            continue
        if key not in cfg:
            cfg[key] = np.zeros_like(w)
        else:
            state = check_array(cfg[key], f"config[{key!r}]")
            if state.shape != w.shape:
                raise ValueError(
                    f"config[{key!r}] has shape {state.shape} but w has shape {w.shape}: "
                    "was this config made for another parameter?"
                )
    return cfg


# ------------------------------------------------------------------------------------------------
# BatchNorm (chapter 7)
# ------------------------------------------------------------------------------------------------

#: The modes of BatchNorm (running statistics updated in train mode, used in test mode).
BN_MODES = ("train", "test")
_BN_KEYS = frozenset({"mode", "eps", "momentum", "running_mean", "running_var"})


def check_bn_params(gamma: object, beta: object, d: int, x_shape: tuple[int, ...], what: str) -> None:
    """Check that ``gamma`` and ``beta`` are (d,) float arrays, one entry per ``what`` of x."""
    gamma = check_array(gamma, "gamma", ndim=1)
    beta = check_array(beta, "beta", ndim=1)
    if gamma.shape != (d,) or beta.shape != (d,):
        raise ValueError(
            f"gamma and beta must have shape ({d},), one entry per {what} of x {x_shape}; "
            f"got gamma {gamma.shape} and beta {beta.shape}"
        )


def check_bn_param(bn_param: object, d: int) -> tuple[str, float, float]:
    """Check BatchNorm's ``bn_param`` dict for d features; return ``(mode, eps, momentum)``.

    Defaults: mode ``"train"``, eps 1e-5, momentum 0.9 (the weight of the *old* running average).
    """
    if not isinstance(bn_param, MutableMapping):
        raise TypeError(
            f"bn_param must be a dict (it stores the running statistics), got {describe(bn_param)}"
        )
    unknown = set(bn_param) - _BN_KEYS
    if unknown:
        raise ValueError(
            f"bn_param has unknown key(s) {sorted(map(str, unknown))}; allowed: {sorted(_BN_KEYS)}"
        )
    mode = bn_param.get("mode", "train")
    if mode not in BN_MODES:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    eps = check_number(bn_param.get("eps", 1e-5), "eps", low=0, low_inclusive=False)
    # momentum = 1 would freeze the running averages at their initial values forever.
    momentum = check_number(bn_param.get("momentum", 0.9), "momentum", low=0, high=1, high_inclusive=False)
    for key in ("running_mean", "running_var"):
        if key in bn_param:
            arr = check_array(bn_param[key], f"bn_param['{key}']", ndim=1)
            if arr.shape != (d,):
                raise ValueError(
                    f"bn_param['{key}'] must have shape ({d},) to match x, got {arr.shape}"
                )
    if "running_var" in bn_param and np.any(bn_param["running_var"] < 0):
        raise ValueError("bn_param['running_var'] contains negative variances")
    return mode, eps, momentum


# ------------------------------------------------------------------------------------------------
# Dropout and initialisation (chapter 8)
# ------------------------------------------------------------------------------------------------

#: The modes of dropout (train: drop and rescale; test: identity).
DROPOUT_MODES = ("train", "test")


def check_keep_prob(keep_prob: object) -> float:
    """Check a dropout keep probability in (0, 1] (0 would drop everything and divide by zero)."""
    return check_number(keep_prob, "keep_prob", low=0, low_inclusive=False, high=1)


def check_float_dtype(dtype: object) -> None:
    """Raise ``TypeError`` unless ``dtype`` is a floating dtype (an integer one rounds weights to 0)."""
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating type (float32 or float64), got {dtype}")


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Turn a seed (or None) into a Generator; pass a Generator through unchanged."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an integer seed or None, got {type(rng).__name__}")
