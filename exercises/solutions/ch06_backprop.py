"""Model solutions of assignment ch06_backprop (the solution cells of the notebook).

Functional versions of the gates and the two-layer network of :mod:`course_lib.backprop` (whose
gates are classes and whose network is a class with a ``loss`` method): a notebook task is a
function. The affine layer has a functional counterpart, so the notebook takes
``course_lib.backprop.affine_forward``/``affine_backward`` themselves; ``two_layer_net_loss``
imports them here only to run outside a notebook (in the notebook it calls the student's). The grader compares them with :mod:`course_lib.backprop`
(``tests/grading/test_bugs_ch04_ch06.py`` proves they score full marks). ``relu_forward``,
``relu_backward`` and ``softmax_cross_entropy`` are given to the students in the notebook.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.backprop import affine_backward, affine_forward

__all__ = [
    "add_gate_backward",
    "max_gate_backward",
    "multiply_gate_backward",
    "relu_backward",
    "relu_forward",
    "softmax_cross_entropy",
    "two_layer_net_loss",
]


def add_gate_backward(dz: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """Backward pass of the add gate ``z = x + y``.

    Args:
        dz: upstream gradient dL/dz (a float, or an array of the shape of x and y).
        x, y: the gate's inputs (floats or arrays of one shape).

    Returns:
        (dx, dy), each of the shape of dz.
    """
    return dz * np.ones_like(x), dz * np.ones_like(y)


def multiply_gate_backward(dz: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """Backward pass of the multiply gate ``z = x · y`` (elementwise for arrays).

    Args:
        dz: upstream gradient dL/dz (a float, or an array of the shape of x and y).
        x, y: the gate's inputs.

    Returns:
        (dx, dy): dz/dx = y and dz/dy = x, each times the upstream gradient.
    """
    return y * dz, x * dz


def max_gate_backward(dz: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """Backward pass of the max gate ``z = max(x, y)`` (elementwise for arrays).

    The gradient goes to the larger input; on a tie (x == y) all of it goes to x.

    Args:
        dz: upstream gradient dL/dz (a float, or an array of the shape of x and y).
        x, y: the gate's inputs.

    Returns:
        (dx, dy).
    """
    x_wins = np.greater_equal(x, y)
    return dz * x_wins, dz * np.logical_not(x_wins)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(0, x) elementwise; the cache is x."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dout where x > 0, else 0."""
    return np.where(cache > 0, dout, 0.0)


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of scores (N, C) with labels y (N,), and dL/dscores."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1
    return float(-log_p[np.arange(n), y].mean()), dscores / n


def two_layer_net_loss(
    X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray], reg: float = 0.0
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients of the network affine – ReLU – affine – softmax cross-entropy.

    ``scores = relu(X @ W1 + b1) @ W2 + b2``; the loss is the mean softmax cross-entropy plus
    ``reg · (ΣW1² + ΣW2²)`` (no ½; the biases are not regularised).

    Args:
        X: (N, D) inputs.
        y: (N,) integer labels in [0, C).
        params: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,). Do not modify them.
        reg: the regularisation strength λ >= 0.

    Returns:
        (loss, grads): a float, and a dict with the gradient of the loss with respect to each
        parameter under the parameter's name (same shapes).
    """
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h, cache1 = affine_forward(X, W1, b1)
    a, cache_relu = relu_forward(h)
    scores, cache2 = affine_forward(a, W2, b2)
    data_loss, dscores = softmax_cross_entropy(scores, y)
    loss = data_loss + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    # backward: the same three layers in reverse order
    da, dW2, db2 = affine_backward(dscores, cache2)
    dh = relu_backward(da, cache_relu)
    _, dW1, db1 = affine_backward(dh, cache1)
    grads = {"W1": dW1 + 2 * reg * W1, "b1": db1, "W2": dW2 + 2 * reg * W2, "b2": db2}
    return float(loss), grads
