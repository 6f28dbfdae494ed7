"""Model solutions of assignment ch08_dropout (the solution cells of the notebook).

Pure NumPy, like every solution module here: submissions are graded in a sandbox where
``course_lib`` cannot be imported. The grader checks them against :mod:`course_lib.dropout` and
:mod:`course_lib.init` (``tests/grading/test_bugs_ch07_ch09.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dropout_backward", "dropout_forward", "fans", "he_init", "xavier_init"]


def dropout_forward(
    x: np.ndarray, keep_prob: float = 0.5, *, mode: str = "train", rng: Any = None
) -> tuple[np.ndarray, Any]:
    """Inverted dropout.

    Args:
        x: input of any shape, e.g. (N, D) or (N, C, H, W).
        keep_prob: probability of KEEPING a unit, in (0, 1]; 1 means no dropout.
        mode: "train" (drop and rescale) or "test" (the identity).
        rng: an integer seed, a np.random.Generator, or None; the same seed must give the same
            mask. np.random.default_rng(rng) accepts all three.

    Returns:
        out: same shape as x; in train mode x·mask with mask = 1/keep_prob for a kept unit and 0
            for a dropped one, in test mode a copy of x.
        cache: what dropout_backward needs.
    """
    if mode == "test":
        return x.copy(), None
    if mode != "train":
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    gen = np.random.default_rng(rng)
    mask = (gen.random(x.shape) < keep_prob) / keep_prob
    return x * mask, mask


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Backward pass of dropout_forward.

    Args:
        dout: upstream gradient, shape of the forward output.
        cache: from dropout_forward.

    Returns:
        dx, same shape as dout.
    """
    if cache is None:  # test mode: the identity
        return dout.copy()
    return dout * cache


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight array.

    Args:
        shape: (D, M) for an affine layer x @ w, or (F, C, HH, WW) for a convolution.

    Returns:
        (fan_in, fan_out): (D, M) for an affine weight; (C·HH·WW, F·HH·WW) for a conv weight.
    """
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    if len(shape) == 4:
        f, c, hh, ww = shape
        return int(c * hh * ww), int(f * hh * ww)
    raise ValueError(f"shape must be (D, M) or (F, C, HH, WW), got {shape}")


def he_init(shape: tuple[int, ...], rng: Any = None) -> np.ndarray:
    """He (Kaiming) normal initialisation: independent N(0, 2 / fan_in) entries.

    Args:
        shape: (D, M) or (F, C, HH, WW).
        rng: integer seed, Generator or None.

    Returns:
        float64 array of the given shape.
    """
    fan_in, _ = fans(shape)
    return np.random.default_rng(rng).standard_normal(shape) * np.sqrt(2.0 / fan_in)


def xavier_init(shape: tuple[int, ...], rng: Any = None) -> np.ndarray:
    """Xavier (Glorot) normal initialisation: independent N(0, 2 / (fan_in + fan_out)) entries.

    Args:
        shape: (D, M) or (F, C, HH, WW).
        rng: integer seed, Generator or None.

    Returns:
        float64 array of the given shape.
    """
    fan_in, fan_out = fans(shape)
    return np.random.default_rng(rng).standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))
