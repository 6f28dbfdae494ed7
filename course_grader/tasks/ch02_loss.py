"""Grading tasks of assignment ch02_loss: mean squared error, softmax cross-entropy, hinge loss."""

from __future__ import annotations

import numpy as np

from course_grader.checks import Case, loss_task

ASSIGNMENT = "ch02_loss"


def _mse_visible() -> Case:
    return (
        "pred = [[1, 2], [3, 4], [0, -1]], target = [[1, 0], [2, 4], [1, 1]]",
        {"pred": np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]]), "target": np.array([[1.0, 0.0], [2.0, 4.0], [1.0, 1.0]])},
        {},
    )


def _mse_hidden(rng: np.random.Generator) -> list[Case]:
    return [
        ("batch of 1", {"pred": rng.standard_normal((1, 3)), "target": rng.standard_normal((1, 3))}, {}),
        ("a vector of 7 predictions", {"pred": rng.standard_normal(7), "target": rng.standard_normal(7)}, {}),
        ("odd sizes", {"pred": rng.standard_normal((5, 3)), "target": rng.standard_normal((5, 3))}, {}),
    ]


def _scores_visible() -> Case:
    return (
        "scores = linspace(-2, 2, 12).reshape(4, 3), y = [0, 2, 1, 2]",
        {"scores": np.linspace(-2, 2, 12).reshape(4, 3), "y": np.array([0, 2, 1, 2])},
        {},
    )


def _scores_hidden(rng: np.random.Generator) -> list[Case]:
    return [
        ("batch of 1", {"scores": rng.standard_normal((1, 4)), "y": np.array([2])}, {}),
        ("odd sizes", {"scores": rng.standard_normal((7, 5)) * 3, "y": rng.integers(0, 5, 7)}, {}),
        ("two classes", {"scores": rng.standard_normal((6, 2)), "y": rng.integers(0, 2, 6)}, {}),
    ]


def _scores_huge() -> Case:
    s = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0], [5.0, 3.0, 1.0]])
    return "scores with entries ±1000", {"scores": s, "y": np.array([0, 2, 1])}, {}


loss_task(f"{ASSIGNMENT}.mse", "mean squared error", "mse_loss", _mse_visible, _mse_hidden)
loss_task(
    f"{ASSIGNMENT}.softmax",
    "softmax cross-entropy",
    "softmax_cross_entropy",
    _scores_visible,
    _scores_hidden,
    stable=_scores_huge,
)


def _hinge_hidden(rng: np.random.Generator) -> list[Case]:
    cases = _scores_hidden(rng)
    # scores in steps of 0.25 away from the margins' kinks would be exact; keep random but also a
    # non-default margin
    _, inputs, _ = cases[1]
    cases.append(("margin = 0.5", {k: v.copy() for k, v in inputs.items()}, {"margin": 0.5}))
    return cases


loss_task(f"{ASSIGNMENT}.hinge", "multiclass hinge (SVM) loss", "hinge_loss", _scores_visible, _hinge_hidden)
