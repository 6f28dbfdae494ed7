"""Model solutions of assignment ch09_architectures (the solution cells of the notebook).

They call the layer functions the notebook hands out in a locked cell
(generated from course_lib by :func:`course_grader.tasks.ch09_architectures.given_source`) by their global names, exactly as the notebook does,
and are therefore not imported from here but executed next to those functions: the grader builds
its reference namespace with :func:`course_grader.tasks.ch09_architectures.reference_namespace`.
Pure NumPy: the sandbox grading a submission cannot import ``course_lib``.
"""
# ruff: noqa: F821  (the layer functions are globals of the notebook, see the docstring)

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["build_network", "model_backward", "model_forward", "summary", "train_digits", "train_step"]


def summary(arch: list[dict[str, Any]], input_shape: tuple[int, ...]) -> list[tuple[tuple[int, ...], int]]:
    """Output shape and number of parameters of every layer, by arithmetic alone.

    Args:
        arch: a list of layer descriptions (dicts), one of
            ``{"type": "conv", "filters": F, "kernel": k, "stride": s, "pad": p}`` (stride 1 and
            pad 0 when missing; weights (F, C, k, k) and F biases),
            ``{"type": "relu"}``, ``{"type": "pool"}`` (2×2 max pooling, stride 2),
            ``{"type": "dropout", "keep_prob": q}``, ``{"type": "flatten"}``,
            ``{"type": "affine", "units": M}`` (weights (D, M) and M biases).
        input_shape: the shape of ONE example, e.g. (1, 8, 8) = (C, H, W).

    Returns:
        one pair (output shape of one example, number of trainable parameters) per layer.
    """
    rows = []
    shape = tuple(input_shape)
    for layer in arch:
        kind, params = layer["type"], 0
        if kind == "conv":
            c, h, w = shape
            f, k = layer["filters"], layer["kernel"]
            s, p = layer.get("stride", 1), layer.get("pad", 0)
            shape = (f, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            params = f * c * k * k + f
        elif kind == "pool":
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "affine":
            params = shape[0] * layer["units"] + layer["units"]
            shape = (layer["units"],)
        rows.append((shape, params))
    return rows


def build_network(arch: list[dict[str, Any]], input_shape: tuple[int, ...], seed: int = 0) -> list[dict[str, Any]]:
    """The layers of ``arch`` with parameters: He-initialised weights, zero biases.

    Args:
        arch: layer descriptions as for summary.
        input_shape: shape of one example.
        seed: seed of ONE generator, np.random.default_rng(seed), used for all weights in order.

    Returns:
        a list of new dicts, one per layer: a copy of the description, plus ``"w"`` and ``"b"``
        for conv ((F, C, k, k) and (F,)) and affine ((D, M) and (M,)) layers, with weights drawn
        from N(0, 2/fan_in).
    """
    gen = np.random.default_rng(seed)
    layers = []
    shape = tuple(input_shape)
    for layer, (out_shape, _) in zip(arch, summary(arch, input_shape)):
        layer = dict(layer)
        if layer["type"] == "conv":
            c, k, f = shape[0], layer["kernel"], layer["filters"]
            layer["w"] = gen.standard_normal((f, c, k, k)) * np.sqrt(2.0 / (c * k * k))
            layer["b"] = np.zeros(f)
        elif layer["type"] == "affine":
            d, m = shape[0], layer["units"]
            layer["w"] = gen.standard_normal((d, m)) * np.sqrt(2.0 / d)
            layer["b"] = np.zeros(m)
        layers.append(layer)
        shape = out_shape
    return layers


def model_forward(layers: list[dict[str, Any]], x: np.ndarray, mode: str = "train", seed: int = 0) -> tuple[np.ndarray, list[Any]]:
    """Run the network on a batch.

    Args:
        layers: from build_network (conv, relu, pool, dropout, flatten, affine dicts).
        x: a batch (N, C, H, W).
        mode: "train" or "test" (passed to every dropout layer).
        seed: seed of ONE generator, np.random.default_rng(seed), which the dropout layers draw
            from, in order.

    Returns:
        scores (N, K) and a list of caches, one per layer, for model_backward.
    """
    gen = np.random.default_rng(seed)
    caches = []
    for layer in layers:
        kind = layer["type"]
        if kind == "conv":
            x, cache = conv_forward(x, layer["w"], layer["b"], stride=layer.get("stride", 1), pad=layer.get("pad", 0))
        elif kind == "relu":
            x, cache = relu_forward(x)
        elif kind == "pool":
            x, cache = max_pool_forward(x, pool_size=2, stride=2)
        elif kind == "dropout":
            x, cache = dropout_forward(x, layer["keep_prob"], mode=mode, rng=gen)
        elif kind == "flatten":
            x, cache = x.reshape(x.shape[0], -1), x.shape
        elif kind == "affine":
            x, cache = affine_forward(x, layer["w"], layer["b"])
        else:
            raise ValueError(f"unknown layer type {kind!r}")
        caches.append((kind, cache))
    return x, caches


def model_backward(dscores: np.ndarray, caches: list[Any]) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """Backpropagate through the network.

    Args:
        dscores: dL/dscores (N, K).
        caches: from model_forward.

    Returns:
        dx (the gradient for the input batch) and a list with one dict per layer, in the order of
        the layers: ``{"w": dw, "b": db}`` for conv and affine layers, ``{}`` for the others.
    """
    grads: list[dict[str, np.ndarray]] = [{} for _ in caches]
    d = dscores
    for i in reversed(range(len(caches))):
        kind, cache = caches[i]
        if kind == "conv":
            d, dw, db = conv_backward(d, cache)
            grads[i] = {"w": dw, "b": db}
        elif kind == "relu":
            d = relu_backward(d, cache)
        elif kind == "pool":
            d = max_pool_backward(d, cache)
        elif kind == "dropout":
            d = dropout_backward(d, cache)
        elif kind == "flatten":
            d = d.reshape(cache)
        elif kind == "affine":
            d, dw, db = affine_backward(d, cache)
            grads[i] = {"w": dw, "b": db}
    return d, grads


def train_step(
    layers: list[dict[str, Any]], x: np.ndarray, y: np.ndarray, learning_rate: float = 0.1, seed: int = 0
) -> tuple[float, list[dict[str, Any]]]:
    """One step of gradient descent on a batch.

    Forward in TRAIN mode (dropout on, generator from ``seed``), softmax cross-entropy, backward,
    then w ← w − learning_rate·dw for every parameter.

    Args:
        layers: the network (not modified).
        x, y: a batch (N, C, H, W) and its labels (N,).
        learning_rate: step size.
        seed: passed to model_forward.

    Returns:
        the loss on the batch (before the step) and the updated layers (new dicts and arrays).
    """
    scores, caches = model_forward(layers, x, mode="train", seed=seed)
    loss, dscores = softmax_cross_entropy(scores, y)
    _, grads = model_backward(dscores, caches)
    new = []
    for layer, g in zip(layers, grads):
        layer = dict(layer)
        for k, dv in g.items():
            layer[k] = layer[k] - learning_rate * dv
        new.append(layer)
    return loss, new


def train_digits(X: np.ndarray, y: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """Train DIGITS_ARCH on the 8×8 digits.

    Args:
        X: training images (N, 1, 8, 8) with pixels in [0, 1].
        y: labels (N,) in 0..9.
        seed: make the run reproducible (initialisation and batch order).

    Returns:
        the trained layers; they must reach 90 % accuracy on the held-out test split (evaluated
        in test mode), within the grader's time limit (15 s).
    """
    layers = build_network(DIGITS_ARCH, X.shape[1:], seed)
    gen = np.random.default_rng(seed)
    n = X.shape[0]
    step = 0
    for _epoch in range(8):
        order = gen.permutation(n)
        for start in range(0, n, 32):
            idx = order[start:start + 32]
            _, layers = train_step(layers, X[idx], y[idx], learning_rate=0.3, seed=step)
            step += 1
    return layers
