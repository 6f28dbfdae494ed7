"""Weight initialisation (chapter 8), shared by every layer class that owns weights.

Why the scale matters: a layer computes z = Σ_i w_i x_i over ``fan_in`` inputs, so
Var(z) = fan_in · Var(w) · E[x²]. To keep activations from shrinking or exploding through depth,
choose Var(w) so that the factor is 1:

- Xavier/Glorot (tanh, sigmoid, linear): Var(w) = 2 / (fan_in + fan_out), a compromise between
  keeping the forward (fan_in) and the backward (fan_out) variance.
- He/Kaiming (ReLU): ReLU zeroes half of its inputs, so E[relu(z)²] = Var(z)/2; Var(w) = 2/fan_in
  compensates.

For a conv weight of shape (F, C, HH, WW), fan_in = C·HH·WW and fan_out = F·HH·WW; for an affine
weight of shape (D, M), fan_in = D and fan_out = M.
"""

from __future__ import annotations

import numpy as np

from course_lib.validate import as_rng, check_float_dtype, check_int

__all__ = ["INITS", "as_rng", "check_init", "fans", "he_init", "init_weights", "xavier_init"]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of an affine weight (D, M) or a conv weight (F, C, HH, WW).

    Args:
        shape: (D, M) for an affine layer ``x @ w``, or (F, C, HH, WW) for a convolution.

    Returns:
        (fan_in, fan_out): (D, M) for an affine weight; (C·HH·WW, F·HH·WW) for a conv weight
        (each output sees C·HH·WW inputs; each input reaches F·HH·WW outputs).

    Raises:
        ValueError: another number of axes, or an entry < 1.
    """
    shape = tuple(shape)
    for i, s in enumerate(shape):
        check_int(s, f"shape[{i}]", low=1)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        f, c, hh, ww = shape
        return c * hh * ww, f * hh * ww
    raise ValueError(f"shape must be 2-D (D, M) or 4-D (F, C, HH, WW), got {shape}")


def he_init(
    shape: tuple[int, ...],
    rng: np.random.Generator | int | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """He (Kaiming) normal initialisation: independent N(0, 2 / fan_in) entries.

    Args:
        shape: (D, M) or (F, C, HH, WW); fan_in as in :func:`fans`.
        rng: an integer seed, a ``np.random.Generator`` or None.
        dtype: a floating dtype of the result.

    Returns:
        array of the given shape and dtype.
    """
    check_float_dtype(dtype)
    fan_in, _ = fans(shape)
    return (as_rng(rng).standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_init(
    shape: tuple[int, ...],
    rng: np.random.Generator | int | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """Xavier (Glorot) normal initialisation: independent N(0, 2 / (fan_in + fan_out)) entries.

    Arguments and result as in :func:`he_init`: shape (D, M) or (F, C, HH, WW) in, an array of
    that shape and ``dtype`` out.
    """
    check_float_dtype(dtype)
    fan_in, fan_out = fans(shape)
    return (as_rng(rng).standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


#: The initialisations a layer's ``init`` argument can name.
INITS = ("he", "xavier")


def init_weights(
    shape: tuple[int, ...],
    init: str,
    rng: np.random.Generator | int | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """Weights of ``shape`` drawn by the initialisation named ``init`` (``"he"`` or ``"xavier"``).

    What the layer classes call with their ``init`` argument; shapes and result as in
    :func:`he_init`. Raises ``ValueError`` for another name.
    """
    if check_init(init) == "he":
        return he_init(shape, rng, dtype)
    return xavier_init(shape, rng, dtype)


def check_init(init: object) -> str:
    """Return ``init`` if it names an initialisation of :data:`INITS`, else raise ``ValueError``."""
    if init not in INITS:
        raise ValueError(f"init must be 'he' or 'xavier', got {init!r}")
    return str(init)
