"""Chapter 1 — the neuron and its activation functions.

A neuron computes a weighted sum of its inputs plus a bias and passes it through an activation
function: ``a = f(x · w + b)``. With the step function ``f(z) = [z > 0]`` it is Rosenblatt's
*perceptron*; with the logistic sigmoid ``σ(z) = 1 / (1 + e^(−z))`` it is the smooth *sigmoid
neuron*, whose output changes a little when a weight changes a little — the property gradient
descent needs.

Every activation comes as the functional pair of the whole course::

    out, cache = relu_forward(x)
    dx = relu_backward(dout, cache)          # dout = dL/dout, dx = dL/dx, both of x.shape

They act elementwise on arrays of any shape and keep the dtype (float32 in, float32 out).

Derivatives (all checked numerically in ``tests/test_neuron.py``):

============  ===============================  ==========================================
activation    f(z)                             f'(z)
============  ===============================  ==========================================
sigmoid       1 / (1 + e^(−z)), range (0, 1)   σ(z)·(1 − σ(z)), at most 1/4 (at z = 0)
tanh          (e^z − e^(−z)) / (e^z + e^(−z))  1 − tanh²(z); tanh(z) = 2σ(2z) − 1
relu          max(0, z)                        1 if z > 0 else 0 (we take 0 at z = 0)
leaky_relu    z if z > 0 else α·z              1 if z > 0 else α
elu           z if z > 0 else α·(e^z − 1)      1 if z > 0 else α·e^z  (= f(z) + α)
============  ===============================  ==========================================

Kinks: relu, leaky_relu (and elu unless α = 1) have no derivative at 0; like PyTorch we use the
left derivative there (0 for relu, α for the others). Gradient checks must keep away from 0.

:data:`ACTIVATIONS` is the one list of activations (name -> :class:`Activation`: the functional
pair, the layer class, the initialisation that suits it); every other module reads it.

Caches hold only what the backward pass reads: one array where one suffices (the output for
sigmoid and tanh, the input for relu), else a NamedTuple of :mod:`course_lib.validate`
(:class:`~course_lib.validate.LeakyReLUCache`, :class:`~course_lib.validate.ELUCache`,
:class:`~course_lib.validate.NeuronCache`), the convention of every chapter (see there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from course_lib.fast import activations as fast_activations
from course_lib.layers import Layer
from course_lib.validate import (
    ELUCache,
    LeakyReLUCache,
    NeuronCache,
    check_array,
    check_cache,
    check_dout,
    check_number,
    describe,
)

__all__ = [
    "ACTIVATIONS",
    "AND_PERCEPTRON",
    "BOOLEAN_INPUTS",
    "ELU",
    "NAND_PERCEPTRON",
    "OR_PERCEPTRON",
    "XOR_NOT_SEPARABLE_MULTIPLIERS",
    "Activation",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "certifies_not_linearly_separable",
    "elu_backward",
    "elu_forward",
    "grid_search_perceptrons",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "neuron_backward",
    "neuron_forward",
    "perceptron",
    "relu_backward",
    "relu_forward",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
    "xor_network",
]


# ------------------------------------------------------------------------------------------------
# Sigmoid
# ------------------------------------------------------------------------------------------------

def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function ``σ(z) = 1 / (1 + e^(−z))``, elementwise, without overflow.

    The textbook formula overflows for z < −709 in float64 (e^(−z) = inf; NumPy warns, and our
    tests treat warnings as errors). We only ever exponentiate ``−|z| <= 0``:
    ``σ(z) = 1 / (1 + e^(−z))`` for z >= 0 and ``σ(z) = e^z / (1 + e^z)`` for z < 0. The limits
    come out exact: σ(1000) == 1.0 and σ(−1000) == 0.0.

    Args:
        z: float array of any shape (finite).

    Returns:
        array of ``z.shape`` and dtype with values in [0, 1].
    """
    z = check_array(z, "z")
    with np.errstate(under="ignore"):  # e^(−745) rounding to 0 is exactly what we want
        e = np.exp(-np.abs(z))  # in [0, 1]: never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid activation. ``x``: any shape -> ``out`` same shape; ``cache`` is ``out``."""
    out = sigmoid(check_array(x, "x"))
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout · σ(x)(1 − σ(x))``, from the cached output (no second exp needed)."""
    out = cache
    dout = check_dout(dout, out.shape)
    return dout * out * (1 - out)


# ------------------------------------------------------------------------------------------------
# tanh
# ------------------------------------------------------------------------------------------------

def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh activation, range (−1, 1). ``x``: any shape -> ``out`` same shape; cache ``out``.

    ``np.tanh`` is stable for any finite input; tanh(z) = 2σ(2z) − 1 is a rescaled sigmoid.
    """
    out = np.tanh(check_array(x, "x"))
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout · (1 − tanh²(x))``."""
    out = cache
    dout = check_dout(dout, out.shape)
    return dout * (1 - out * out)


# ------------------------------------------------------------------------------------------------
# ReLU family
# ------------------------------------------------------------------------------------------------

def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max(0, x)`` elementwise. ``x``: any shape -> ``out`` same shape; cache ``x``."""
    x = check_array(x, "x")
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dx = dout`` where ``x > 0``, else 0 (also at x = 0)."""
    x = cache
    dout = check_dout(dout, x.shape)
    # dout · [x > 0], the mask written as 1.0/0.0 straight into the result (no boolean
    # temporary): ~10× faster than np.where(x > 0, dout, 0), and the same numbers (dout is
    # finite, so no NaN·0). The result keeps dout's dtype and memory layout.
    dx = np.empty_like(dout)
    np.greater(x, 0, out=dx)
    dx *= dout
    return dx


def _check_alpha(alpha: object, *, high: float | None = None) -> float:
    return check_number(alpha, "alpha", low=0.0, high=high)


def leaky_relu_forward(x: np.ndarray, alpha: float = 0.01) -> tuple[np.ndarray, LeakyReLUCache]:
    """Leaky ReLU: ``x`` if x > 0 else ``alpha·x``.

    Args:
        x: float array of any shape.
        alpha: slope for negative inputs, ``0 <= alpha <= 1`` (0 gives ReLU, 1 the identity;
            above 1 the formula max(αx, x) that sources use would no longer describe it).

    Returns:
        ``out`` of ``x.shape`` and a :class:`LeakyReLUCache` ``(x, alpha)``.
    """
    x = check_array(x, "x")
    alpha = _check_alpha(alpha, high=1.0)
    return np.where(x > 0, x, alpha * x).astype(x.dtype, copy=False), LeakyReLUCache(x, alpha)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """``dx = dout`` where x > 0, else ``alpha·dout``."""
    x, alpha = check_cache(cache, LeakyReLUCache, "leaky_relu_forward")
    dout = check_dout(dout, x.shape)
    return np.where(x > 0, dout, alpha * dout).astype(dout.dtype, copy=False)


def elu_forward(x: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, ELUCache]:
    """ELU: ``x`` if x > 0 else ``alpha·(e^x − 1)``, which tends to −alpha as x -> −inf.

    Args:
        x: float array of any shape.
        alpha: ``>= 0`` (0 gives ReLU).

    Returns:
        ``out`` of ``x.shape`` and an :class:`ELUCache` ``(x, alpha·e^min(x, 0), alpha)``.
    """
    x = check_array(x, "x")
    alpha = _check_alpha(alpha)
    # np.where evaluates both branches: exponentiate min(x, 0) so that large positive x cannot
    # overflow; expm1 keeps e^x − 1 accurate for tiny |x|.
    with np.errstate(under="ignore"):
        neg = alpha * np.expm1(np.minimum(x, 0))
        # the slope α·e^x, kept for backward: recomputing it as out + α would cancel to 0
        slope = alpha * np.exp(np.minimum(x, 0))
    out = np.where(x > 0, x, neg).astype(x.dtype, copy=False)
    return out, ELUCache(x, slope.astype(x.dtype, copy=False), alpha)


def elu_backward(dout: np.ndarray, cache: ELUCache) -> np.ndarray:
    """``dx = dout`` where x > 0, else ``dout·alpha·e^x`` (which equals ``dout·(out + alpha)``)."""
    x, slope, _alpha = check_cache(cache, ELUCache, "elu_forward")
    dout = check_dout(dout, x.shape)
    with np.errstate(under="ignore"):
        return np.where(x > 0, dout, dout * slope).astype(dout.dtype, copy=False)


# ------------------------------------------------------------------------------------------------
# One neuron, or a layer of them
# ------------------------------------------------------------------------------------------------

def neuron_forward(
    x: np.ndarray, w: np.ndarray, b: float | np.ndarray, activation: str = "sigmoid"
) -> tuple[np.ndarray, NeuronCache]:
    """A sigmoid (or other) neuron ``a = f(x · w + b)``, or a dense layer of them.

    Shapes (D inputs, N examples, M neurons):

    ==========  ===========  ===========  ===========
    x           w            b            out
    ==========  ===========  ===========  ===========
    (D,)        (D,)         scalar       ()  one neuron, one example
    (N, D)      (D,)         scalar       (N,)  one neuron, a batch
    (D,)        (D, M)       (M,)         (M,)  a layer, one example
    (N, D)      (D, M)       (M,)         (N, M)  a layer, a batch
    ==========  ===========  ===========  ===========

    A scalar ``b`` may be a Python number or a 0-d float array.

    Args:
        activation: one of ``ACTIVATIONS`` ("sigmoid", "tanh", "relu", "leaky_relu", "elu",
            "identity"); leaky_relu and elu use their default alpha.

    Returns:
        ``out`` (shape above, the dtype of x) and a :class:`~course_lib.validate.NeuronCache` for
        :func:`neuron_backward`.

    Raises:
        TypeError: non-array or non-float x/w, non-number b.
        ValueError: wrong ranks, ``x.shape[-1] != w.shape[0]``, b of the wrong shape, NaN/inf,
            unknown activation.
    """
    x = check_array(x, "x", ndim=(1, 2))
    w = check_array(w, "w", ndim=(1, 2))
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"x has shape {x.shape} and w has shape {w.shape}: the last axis of x (D inputs) must "
            f"equal the first axis of w, got {x.shape[-1]} and {w.shape[0]}"
        )
    if w.ndim == 1:
        if isinstance(b, np.ndarray):
            b = check_array(b, "b", ndim=0)
        else:
            b = np.asarray(check_number(b, "b"), dtype=x.dtype)
    else:
        b = check_array(b, "b", ndim=1)
        if b.shape != (w.shape[1],):
            raise ValueError(
                f"b has shape {b.shape} but w has shape {w.shape}: a layer of {w.shape[1]} neurons "
                f"needs b of shape ({w.shape[1]},)"
            )
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    f_forward, _ = ACTIVATIONS[activation]
    z = x @ w + b
    z = np.asarray(z, dtype=x.dtype)
    out, act_cache = f_forward(z)
    return out, NeuronCache(x, w, b, activation, act_cache, out.shape)


def neuron_backward(dout: np.ndarray, cache: NeuronCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`neuron_forward`: ``(dx, dw, db)`` with the shapes of ``x, w, b``.

    With ``dz = dout · f'(z)``: ``dx = dz wᵀ``, ``dw = xᵀ dz`` and ``db = Σ dz`` over the batch
    (a bias is shared by every example, so its gradient sums their contributions).
    A Python-number ``b`` gets a 0-d array gradient.
    """
    x, w, b, activation, act_cache, out_shape = check_cache(cache, NeuronCache, "neuron_forward")
    dout = check_array(dout, "dout")
    if dout.shape != out_shape:
        raise ValueError(f"dout must have the forward output's shape {out_shape}, got {dout.shape}")
    _, f_backward = ACTIVATIONS[activation]
    dz = np.asarray(f_backward(dout, act_cache))
    if w.ndim == 1:
        dx = np.multiply.outer(dz, w)  # (D,) or (N, D)
        dw = dz @ x if x.ndim == 2 else dz * x
        db = np.asarray(dz.sum(), dtype=dz.dtype)
    else:
        dx = dz @ w.T  # (M,)@(M, D) or (N, M)@(M, D)
        dw = x.T @ dz if x.ndim == 2 else np.outer(x, dz)
        db = dz.sum(axis=0) if dz.ndim == 2 else dz.copy()
    return dx, dw, db.reshape(np.shape(b))


# ------------------------------------------------------------------------------------------------
# The perceptron, AND / OR, and why XOR needs two layers
# ------------------------------------------------------------------------------------------------

BOOLEAN_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
"""The four inputs of a two-input boolean function, one per row."""

# (w, b): fires iff x·w + b > 0. Any b in (−2, −1) gives AND, any b in (−1, 0) gives OR.
AND_PERCEPTRON = (np.array([1.0, 1.0]), -1.5)
OR_PERCEPTRON = (np.array([1.0, 1.0]), -0.5)
NAND_PERCEPTRON = (np.array([-1.0, -1.0]), 1.5)


def perceptron(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Rosenblatt's perceptron: outputs 1 if ``x · w + b > 0``, else 0.

    Args:
        x: (D,) or (N, D), real numbers (integers allowed: boolean inputs are 0/1).
        w: (D,).
        b: real number.

    Returns:
        int64 array: shape () for one example, (N,) for a batch, values 0 or 1.
    """
    x = check_array(x, "x", ndim=(1, 2), float_only=False)
    w = check_array(w, "w", ndim=1, float_only=False)
    b = check_number(b, "b")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"x has shape {x.shape} and w has shape {w.shape}: the last axis of x must equal "
            f"the length of w"
        )
    return (x @ w + b > 0).astype(np.int64)


def xor_network(x: np.ndarray) -> np.ndarray:
    """XOR from three perceptrons in two layers: ``XOR(a, b) = AND(OR(a, b), NAND(a, b))``.

    The hidden layer computes OR and NAND (each linearly separable); the output perceptron ANDs
    them. ``x``: (2,) or (N, 2) -> int64 of shape () or (N,).
    """
    x = check_array(x, "x", ndim=(1, 2), float_only=False)
    if x.shape[-1] != 2:
        raise ValueError(f"xor_network takes two inputs per example, got x of shape {x.shape}")
    hidden = np.stack([perceptron(x, *OR_PERCEPTRON), perceptron(x, *NAND_PERCEPTRON)], axis=-1)
    return perceptron(hidden, *AND_PERCEPTRON)


def grid_search_perceptrons(x: np.ndarray, targets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """All perceptrons ``(w_1, …, w_D, b)`` with every entry from ``values`` that compute ``targets``.

    An exhaustive search, ``len(values) ** (D + 1)`` candidates, vectorised.

    Args:
        x: (N, D) inputs; targets: (N,) of 0/1; values: 1-D grid of candidate weights/biases.

    Returns:
        (K, D + 1) array, one solution ``(w..., b)`` per row (K = 0 if none on the grid).
    """
    x = check_array(x, "x", ndim=2, float_only=False)
    targets = check_array(targets, "targets", ndim=1, float_only=False)
    values = check_array(values, "values", ndim=1, float_only=False)
    if targets.shape[0] != x.shape[0]:
        raise ValueError(f"targets has shape {targets.shape} but x has shape {x.shape}")
    d = x.shape[1]
    grid = np.stack(np.meshgrid(*([values] * (d + 1)), indexing="ij"), axis=-1).reshape(-1, d + 1)
    fires = (grid[:, :d] @ x.T + grid[:, d:]) > 0  # (K, N)
    return grid[(fires == targets.astype(bool)).all(axis=1)]


XOR_NOT_SEPARABLE_MULTIPLIERS = np.array([1, 1, 1, 1])
"""Gordan multipliers proving XOR is not linearly separable (see the function below)."""


def certifies_not_linearly_separable(x: np.ndarray, targets: np.ndarray, multipliers: np.ndarray) -> bool:
    """Check a proof that no perceptron computes ``targets`` on the points ``x``.

    Write s_i = +1 where target_i = 1 and −1 where it is 0, and x̃_i = (x_i, 1). A perceptron
    (w, b) computes the targets iff s_i · (w, b)·x̃_i > 0 for every i (for finitely many points
    "≤ 0" on the zeros can be made "< 0" by lowering b a little). By Gordan's theorem of the
    alternative such (w, b) exists **unless** there are multipliers λ_i ≥ 0, not all zero, with
    Σ λ_i s_i x̃_i = 0 — and then none can: summing the inequalities with weights λ_i would give
    0 > 0. This function checks such a certificate exactly (integers, no rounding).

    For XOR on (0,0), (0,1), (1,0), (1,1) (s = −, +, +, −), λ = (1, 1, 1, 1) works:
    −(0,0,1) + (0,1,1) + (1,0,1) − (1,1,1) = (0,0,0). In words: the two "1" points and the two
    "0" points have the same midpoint (½, ½), which a line cannot put on both sides at once.

    Args:
        x: (N, D) integer inputs; targets: (N,) of 0/1; multipliers: (N,) non-negative integers.

    Returns:
        True iff ``multipliers`` is a valid certificate.
    """
    x = check_array(x, "x", ndim=2, float_only=False)
    targets = check_array(targets, "targets", ndim=1, float_only=False)
    lam = check_array(multipliers, "multipliers", ndim=1, float_only=False)
    for name, a in (("x", x), ("targets", targets), ("multipliers", lam)):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be integers so the check is exact, got {describe(a)}")
    if not (targets.shape[0] == lam.shape[0] == x.shape[0]):
        raise ValueError(f"x {x.shape}, targets {targets.shape} and multipliers {lam.shape} must have the same length")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("targets must be 0 or 1")
    if (lam < 0).any() or not lam.any():
        return False
    s = 2 * targets - 1
    x_tilde = np.concatenate([x, np.ones((x.shape[0], 1), dtype=x.dtype)], axis=1)
    return not ((lam * s) @ x_tilde).any()


# ------------------------------------------------------------------------------------------------
# Thin layer classes (the protocol is in course_lib.layers)
# ------------------------------------------------------------------------------------------------

class _Activation(Layer):
    """An activation layer: no parameters, any shape in, the same shape out.

    ``activation`` names the entry of :data:`ACTIVATIONS` whose functional pair the layer runs.
    """

    per_example = True

    activation: ClassVar[str]

    def _options(self) -> dict[str, float]:
        return {}

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return ACTIVATIONS[self.activation].forward(x, **self._options())

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return ACTIVATIONS[self.activation].backward(dout, cache), {}


class Sigmoid(_Activation):
    """Sigmoid layer (no parameters): any shape in, the same shape out."""

    activation = "sigmoid"


class Tanh(_Activation):
    """tanh layer (no parameters): any shape in, the same shape out."""

    activation = "tanh"


class ReLU(_Activation):
    """ReLU layer (no parameters): any shape in, the same shape out.

    It runs the tuned :mod:`course_lib.fast.activations` (the numbers of :func:`relu_forward` /
    :func:`relu_backward`, into memory reused from step to step once nobody holds it).
    """

    activation = "relu"

    def __init__(self) -> None:
        super().__init__()
        self._workspace: dict[str, np.ndarray] = {}

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return fast_activations.relu_forward(x, self._workspace)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return fast_activations.relu_backward(dout, cache, self._workspace), {}


class LeakyReLU(_Activation):
    """Leaky ReLU layer with fixed slope ``alpha`` (0 <= alpha <= 1) for negative inputs."""

    activation = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha, high=1.0)

    def _options(self) -> dict[str, float]:
        return {"alpha": self.alpha}

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class ELU(_Activation):
    """ELU layer with ``alpha >= 0`` (the value it tends to for very negative inputs is −alpha)."""

    activation = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha)

    def _options(self) -> dict[str, float]:
        return {"alpha": self.alpha}

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha})"


# ------------------------------------------------------------------------------------------------
# The activation registry: the one list of activations every other module reads
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Activation:
    """Everything the course knows about one activation function.

    Attributes:
        name: its key in :data:`ACTIVATIONS` (``"relu"``); for a layer, the layer's ``activation``.
        forward: ``forward(x, **options) -> (out, cache)``, elementwise, any shape.
        backward: ``backward(dout, cache) -> dx`` of ``dout``'s shape.
        layer: the layer class running the pair (None for ``"identity"``, which needs no layer).
        init: the weight initialisation that keeps the signal's variance through it (chapter 8):
            ``"he"`` for the ReLU family, ``"xavier"`` for the saturating (and linear) ones.
        alpha: True if it takes a slope/scale ``alpha`` (leaky ReLU, ELU).

    An entry unpacks as its functional pair: ``forward, backward = ACTIVATIONS["relu"]``.
    """

    name: str
    forward: Callable[..., tuple[np.ndarray, Any]]
    backward: Callable[[np.ndarray, Any], np.ndarray]
    layer: type[_Activation] | None
    init: str
    alpha: bool = False

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter((self.forward, self.backward))


def _identity_forward(x: np.ndarray) -> tuple[np.ndarray, None]:
    return check_array(x, "x"), None


def _identity_backward(dout: np.ndarray, cache: None) -> np.ndarray:
    return dout


def _entry(layer: type[_Activation], forward: Any, backward: Any, init: str, alpha: bool = False) -> Activation:
    return Activation(layer.activation, forward, backward, layer, init, alpha)


#: The activations of the course, by name: the one list that neuron_forward, the layer classes,
#: the architectures of chapter 9, the initialisation experiment of chapter 8 and the widgets read.
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    _entry(Sigmoid, sigmoid_forward, sigmoid_backward, "xavier"),
    _entry(Tanh, tanh_forward, tanh_backward, "xavier"),
    _entry(ReLU, relu_forward, relu_backward, "he"),
    _entry(LeakyReLU, leaky_relu_forward, leaky_relu_backward, "he", alpha=True),
    _entry(ELU, elu_forward, elu_backward, "he", alpha=True),
    Activation("identity", _identity_forward, _identity_backward, None, "xavier"),
)}
