"""Chapter 2 — loss functions.

A loss turns the network's output for a batch into one number to minimise. Every loss here
returns ``(loss, grad)``: the scalar loss (a Python float) and its gradient with respect to the
prediction/scores, with the shape of the prediction — the ``dout`` that starts backpropagation.

Conventions (each stated again in its function):

- Losses are **means over the N examples of a batch** and **sums over the outputs of one
  example**, so a batch's loss does not grow with its size and the learning rate need not change
  with it.
- ``mse_loss`` keeps the thesis' factor ½: ``L = 1/(2N) Σ_n ‖pred_n − target_n‖²``, so that the
  gradient is plainly ``(pred − target)/N``.
- ``l2_penalty`` follows the lecture's ``λ·R(W)`` with ``R(W) = Σ w²`` (no ½), gradient ``2λw``.
- Labels are integer class indices ``y (N,)`` with values in ``[0, C)``, never one-hot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.validate import (
    check_array,
    check_number,
    check_same_shape,
    check_scores_labels,
)

__all__ = [
    "binary_cross_entropy",
    "hinge_loss",
    "l2_penalty",
    "log_softmax",
    "mse_loss",
    "sigmoid_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
]


# ------------------------------------------------------------------------------------------------
# Mean squared error (the thesis' quadratic cost)
# ------------------------------------------------------------------------------------------------

def mse_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Quadratic cost ``L = 1/(2N) · Σ_n ‖pred_n − target_n‖²`` and ``dL/dpred = (pred − target)/N``.

    Sum of squares over the K outputs of an example, mean over the N examples, and a factor ½ that
    cancels the 2 from differentiating the square (the cost of Nielsen's book and of the thesis).

    PyTorch's ``nn.MSELoss()`` (reduction "mean") instead averages over *all* N·K elements and
    has no ½: ``torch_mse = 2·L / K``. For K = 1 (pred of shape (N,)) that is ``2·L``.

    Args:
        pred: (N,) or (N, K) float array, N >= 1.
        target: same shape as ``pred``.

    Returns:
        ``(loss, dpred)``: a float and an array of ``pred.shape``.
    """
    pred = check_array(pred, "pred", ndim=(1, 2))
    target = check_array(target, "target", ndim=(1, 2))
    check_same_shape(pred, target, "pred", "target")
    n = pred.shape[0]
    if n == 0:
        raise ValueError(f"pred must hold at least one example, got shape {pred.shape}")
    diff = pred - target
    return float(np.sum(diff * diff) / (2 * n)), diff / n


# ------------------------------------------------------------------------------------------------
# Softmax and cross-entropy
# ------------------------------------------------------------------------------------------------

def log_softmax(scores: np.ndarray) -> np.ndarray:
    """``log softmax`` along the last axis, computed as ``s − max(s) − log Σ exp(s − max(s))``.

    Subtracting the row maximum changes nothing mathematically (softmax is shift invariant) but
    makes every exponent ≤ 0, so nothing overflows even for scores of ±1000, and the largest term
    of the sum is exactly 1, so the log never sees 0.

    Args:
        scores: float array of rank >= 1, classes on the last axis.

    Returns:
        array of ``scores.shape``, every entry ≤ 0.
    """
    scores = check_array(scores, "scores")
    if scores.ndim == 0 or scores.shape[-1] == 0:
        raise ValueError(f"scores needs a non-empty class axis (the last), got shape {scores.shape}")
    shifted = scores - scores.max(axis=-1, keepdims=True)
    with np.errstate(under="ignore"):  # e^(−2000) -> 0 is intended
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax along the last axis: ``exp(s_j) / Σ_k exp(s_k)``; rows are probabilities.

    Args:
        scores: float array of rank >= 1, classes on the last axis.

    Returns:
        array of ``scores.shape`` with entries in [0, 1], each row summing to 1.
    """
    scores = check_array(scores, "scores")
    if scores.ndim == 0 or scores.shape[-1] == 0:
        raise ValueError(f"scores needs a non-empty class axis (the last), got shape {scores.shape}")
    with np.errstate(under="ignore"):
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax (cross-entropy) loss ``L = −1/N Σ_n log softmax(s_n)[y_n]`` and its gradient.

    ``dL/ds = (softmax(s) − onehot(y)) / N``: the predicted probabilities minus the true ones.

    Args:
        scores: (N, C) float logits, N >= 1.
        y: (N,) integer labels in [0, C).

    Returns:
        ``(loss, dscores)``; ``loss >= 0``, ``dscores`` of shape (N, C).
    """
    scores, y = check_scores_labels(scores, y)
    n = scores.shape[0]
    logp = log_softmax(scores)
    loss = -float(logp[np.arange(n), y].mean())
    with np.errstate(under="ignore"):
        dscores = np.exp(logp)
    dscores[np.arange(n), y] -= 1
    return loss, dscores / n


# ------------------------------------------------------------------------------------------------
# Multiclass SVM (hinge) loss
# ------------------------------------------------------------------------------------------------

def hinge_loss(scores: np.ndarray, y: np.ndarray, margin: float = 1.0) -> tuple[float, np.ndarray]:
    """Multiclass SVM loss (Weston–Watkins, as in CS231n), mean over the batch.

    ``L_n = Σ_{j ≠ y_n} max(0, s_nj − s_n,y_n + margin)`` and ``L = (1/N) Σ_n L_n``: every wrong
    class whose score comes within ``margin`` of the correct one costs the shortfall.

    Gradient: each violated class j (a positive term) gets ``+1/N``, the correct class gets
    ``−(number of violated classes)/N``. At a kink (a term exactly 0) we take 0.

    Args:
        scores: (N, C) float, N >= 1.
        y: (N,) integer labels in [0, C).
        margin: Δ >= 0.

    Returns:
        ``(loss, dscores)``; ``loss >= 0``, ``dscores`` of shape (N, C).
    """
    scores, y = check_scores_labels(scores, y)
    margin = check_number(margin, "margin", low=0.0)
    n = scores.shape[0]
    rows = np.arange(n)
    margins = scores - scores[rows, y][:, None] + margin
    margins[rows, y] = 0  # the j = y_n term is not part of the sum
    violated = margins > 0
    loss = float(np.where(violated, margins, 0).sum() / n)
    dscores = violated.astype(scores.dtype)
    dscores[rows, y] = -violated.sum(axis=1)
    return loss, dscores / n


# ------------------------------------------------------------------------------------------------
# Binary cross-entropy for sigmoid neurons
# ------------------------------------------------------------------------------------------------

def binary_cross_entropy(p: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of sigmoid outputs: ``L = −1/N Σ_n Σ_k [y ln p + (1 − y) ln(1 − p)]``.

    ``dL/dp = (p − y) / (p(1 − p)) / N``. Through a sigmoid, ``dp/dz = p(1 − p)`` cancels that
    denominator: ``dL/dz = (p − y)/N`` — no σ' factor, so a saturated, badly wrong neuron still
    learns fast (with the quadratic cost its gradient carries σ'(z) ≈ 0). Computing from
    probabilities fails where p rounds to 0 or 1; :func:`sigmoid_cross_entropy` takes the logits
    and never does.

    Args:
        p: (N,) or (N, K) probabilities, strictly inside (0, 1).
        y: same shape, targets in [0, 1] (usually 0 or 1).

    Returns:
        ``(loss, dp)``.
    """
    p = check_array(p, "p", ndim=(1, 2))
    y = check_array(y, "y", ndim=(1, 2))
    check_same_shape(p, y, "p", "y")
    if p.shape[0] == 0:
        raise ValueError(f"p must hold at least one example, got shape {p.shape}")
    if ((p <= 0) | (p >= 1)).any():
        raise ValueError(
            "p must lie strictly inside (0, 1): ln 0 is −inf; pass the logits to "
            "sigmoid_cross_entropy instead"
        )
    if ((y < 0) | (y > 1)).any():
        raise ValueError("y must hold targets in [0, 1]")
    n = p.shape[0]
    loss = -float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)) / n)
    return loss, (p - y) / (p * (1 - p)) / n


def sigmoid_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """:func:`binary_cross_entropy` of ``σ(z)``, from the logits ``z``; gradient ``(σ(z) − y)/N``.

    Uses ``−[y ln σ(z) + (1 − y) ln(1 − σ(z))] = max(z, 0) − y·z + ln(1 + e^(−|z|))``, which
    is exact and finite for every finite z (no ln 0, no overflow).

    Args:
        z: (N,) or (N, K) float logits.
        y: same shape, targets in [0, 1].

    Returns:
        ``(loss, dz)``.
    """
    from course_lib.neuron import sigmoid  # local: neuron is the next chapter down

    z = check_array(z, "z", ndim=(1, 2))
    y = check_array(y, "y", ndim=(1, 2))
    check_same_shape(z, y, "z", "y")
    if z.shape[0] == 0:
        raise ValueError(f"z must hold at least one example, got shape {z.shape}")
    if ((y < 0) | (y > 1)).any():
        raise ValueError("y must hold targets in [0, 1]")
    n = z.shape[0]
    with np.errstate(under="ignore"):
        loss = float(np.sum(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))) / n)
    return loss, (sigmoid(z) - y) / n


# ------------------------------------------------------------------------------------------------
# L2 regularisation
# ------------------------------------------------------------------------------------------------

def l2_penalty(
    w: np.ndarray | Sequence[np.ndarray], reg: float
) -> tuple[float, np.ndarray | list[np.ndarray]]:
    """L2 weight penalty ``reg · Σ w²`` (no ½) and its gradient ``2 · reg · w``.

    This is the lecture's ``λ·R(W)`` with ``R(W) = Σ_k Σ_l W_kl²``. PyTorch's
    ``weight_decay=wd`` adds ``wd·w`` to the gradient, which is this penalty with ``reg = wd/2``.

    Args:
        w: one float array of any shape, or a list/tuple of them (e.g. every layer's weights;
            biases are usually left out).
        reg: λ >= 0.

    Returns:
        ``(loss, grad)`` for one array; ``(loss, [grad, ...])`` (summed loss, one gradient per
        array, same order) for a list/tuple.
    """
    reg = check_number(reg, "reg", low=0.0)
    if isinstance(w, list | tuple):
        ws = [check_array(wi, f"w[{i}]") for i, wi in enumerate(w)]
        return float(sum(reg * np.sum(wi * wi) for wi in ws)), [2 * reg * wi for wi in ws]
    w = check_array(w, "w")
    return float(reg * np.sum(w * w)), 2 * reg * w
