"""Input validation shared by every chapter module.

Every public function of ``course_lib`` checks its inputs with these helpers so that a bad input
fails *early* with a message naming the argument, its shape and what was expected, instead of a
NumPy broadcasting error three lines later (or, worse, a silently wrong answer).

Conventions:
- wrong *type* or *dtype* (a list where an array is needed, an integer image, a complex array)
  raises ``TypeError``;
- wrong *value* (rank, shape mismatch, NaN/inf, non-positive stride, probability outside its
  range) raises ``ValueError``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "check_array",
    "check_int",
    "check_labels",
    "check_number",
    "check_same_shape",
    "describe",
]


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
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)} ({value!r})")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return v


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
