"""Grading tasks of assignment ch02_loss: mean squared error, softmax cross-entropy, hinge loss."""

from __future__ import annotations

from typing import Any

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
    # row 4: the true class scores −1000 against 1000, so p_y = e^(−2000) underflows to 0 and the
    # example's loss is 2000: log(p + 1e-7) returns 16.1 there, clip(p, 1e-12) 27.6
    s = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0], [5.0, 3.0, 1.0], [1000.0, 0.0, -1000.0]])
    return "scores with entries ±1000, the last example's true class at −1000", {"scores": s, "y": np.array([0, 2, 1, 2])}, {}


def _softmax_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any]) -> dict[str, Any]:
    s, y = inp["scores"], inp["y"]
    n = s.shape[0]
    shifted = s - s.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    bugs: dict[str, Any] = {}
    for eps in (1e-7, 1e-8, 1e-10, 1e-12, 1e-15):
        text = (
            f"log(p + {eps:g}) (or p clipped at {eps:g}) caps an example's loss at −log({eps:g}) = "
            f"{-np.log(eps):.3g}: compute log p_y = s_y − max − log Σ exp(s − max) without forming p"
        )
        bugs[text] = float(-np.mean(np.log(p[np.arange(n), y] + eps)))
    return bugs


loss_task(f"{ASSIGNMENT}.mse", "mean squared error", "mse_loss", _mse_visible, _mse_hidden)
loss_task(
    f"{ASSIGNMENT}.softmax",
    "softmax cross-entropy",
    "softmax_cross_entropy",
    _scores_visible,
    _scores_hidden,
    stable=_scores_huge,
    bugs=_softmax_bugs,
)


def _hinge_hidden(rng: np.random.Generator) -> list[Case]:
    cases = _scores_hidden(rng)
    # scores in steps of 0.25 away from the margins' kinks would be exact; keep random but also a
    # non-default margin
    _, inputs, _ = cases[1]
    cases.append(("margin = 0.5", {k: v.copy() for k, v in inputs.items()}, {"margin": 0.5}))
    return cases


loss_task(f"{ASSIGNMENT}.hinge", "multiclass hinge (SVM) loss", "hinge_loss", _scores_visible, _hinge_hidden)
