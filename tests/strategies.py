"""Shared hypothesis strategies for the course's tests (minitorch style: ``@given(arrays(...))``).

Everything generated here is small on purpose: gradient checks cost two forward passes per input
entry, and the whole suite shares two CPU cores.

- :func:`batch_sizes` — batch sizes N >= 1, with N = 1 (a classic broadcasting trap) always likely.
- :func:`shapes` — shapes of a given rank (or range of ranks) with small sides.
- :func:`float_arrays` — float64 arrays of a given shape, or of a random shape of a given rank.
- :func:`arrays_away_from` — float64 arrays whose entries keep a distance from given kinks
  (e.g. 0 for ReLU), so that a finite difference never straddles one.
- :func:`labels` / :func:`scores_and_labels` — integer class labels, and (scores, labels) pairs.
- :func:`seeds` — integer seeds for ``np.random.default_rng`` (for arrays too big to shrink well).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "arrays_away_from",
    "batch_sizes",
    "finite_floats",
    "float_arrays",
    "labels",
    "scores_and_labels",
    "seeds",
    "shapes",
]


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``np.random.default_rng``."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def batch_sizes(max_size: int = 5) -> st.SearchStrategy[int]:
    """Batch sizes ``1..max_size``; N = 1 is listed first so hypothesis shrinks towards it."""
    return st.integers(min_value=1, max_value=max_size)


def shapes(rank: int | tuple[int, int] = 2, *, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of the given rank, or of a rank in the inclusive range ``(lo, hi)``."""
    lo, hi = (rank, rank) if isinstance(rank, int) else rank
    return hnp.array_shapes(min_dims=lo, max_dims=hi, min_side=min_side, max_side=max_side)


def finite_floats(bound: float = 10.0) -> st.SearchStrategy[float]:
    """Finite float64 values in ``[-bound, bound]``."""
    return st.floats(min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False, width=64)


def float_arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    *,
    rank: int | tuple[int, int] = 2,
    bound: float = 10.0,
    max_side: int = 4,
) -> st.SearchStrategy[np.ndarray]:
    """Float64 arrays with entries in ``[-bound, bound]``.

    ``shape`` may be a fixed tuple or a strategy; without it a random shape of rank ``rank`` is
    drawn (sides 1..``max_side``).
    """
    if shape is None:
        shape = shapes(rank, max_side=max_side)
    return hnp.arrays(np.float64, shape, elements=finite_floats(bound))


@st.composite
def arrays_away_from(
    draw: st.DrawFn,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    *,
    kinks: Sequence[float] = (0.0,),
    margin: float = 1e-2,
    rank: int | tuple[int, int] = 2,
    bound: float = 5.0,
) -> np.ndarray:
    """Float64 arrays whose entries are at least ``margin`` away from every kink.

    Entries too close to a kink are pushed out to ``kink ± margin`` (on their own side), so the
    arrays still shrink nicely. Use a margin well above the finite-difference step.
    """
    if shape is None:
        shape = shapes(rank)
    x = draw(float_arrays(shape, bound=bound))
    for k in kinks:
        near = np.abs(x - k) < margin
        x = np.where(near, k + np.where(x >= k, margin, -margin), x)
    return x


def labels(n: int, num_classes: int) -> st.SearchStrategy[np.ndarray]:
    """Integer labels of shape ``(n,)`` with values in ``[0, num_classes)``."""
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, num_classes - 1))


@st.composite
def scores_and_labels(
    draw: st.DrawFn, *, max_n: int = 5, max_classes: int = 5, min_classes: int = 2, bound: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """A pair ``(scores (N, C) float64, y (N,) int64)`` with N >= 1 and C >= ``min_classes``."""
    n = draw(batch_sizes(max_n))
    c = draw(st.integers(min_classes, max_classes))
    scores = draw(float_arrays((n, c), bound=bound))
    return scores, draw(labels(n, c))
