"""Grading tasks of assignment ch01_neuron: the activations (forward and backward) and a neuron."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from course_grader.checks import Case, call_pair, first_output, layer_task
from course_grader.engine import (
    TASKS,
    Student,
    compare,
    compare_alternatives,
    describe_case,
    ref,
    rng_for,
    task,
)

ASSIGNMENT = "ch01_neuron"


def _act_visible() -> Case:
    return "x = linspace(-3, 3, 12).reshape(3, 4)", {"x": np.linspace(-3, 3, 12).reshape(3, 4)}, {}


def _act_hidden(rng: np.random.Generator) -> list[Case]:
    def away_from_zero(shape: tuple[int, ...]) -> np.ndarray:
        # keep |x| > 1e-3 so relu's kink never sits inside a finite-difference step
        x = rng.standard_normal(shape) * 2
        return np.where(np.abs(x) < 1e-3, 0.5, x)

    return [
        ("batch of 1", {"x": away_from_zero((1, 5))}, {}),
        ("odd sizes", {"x": away_from_zero((3, 7))}, {}),
        ("a vector", {"x": away_from_zero((9,))}, {}),
        ("a 4-D batch of images", {"x": away_from_zero((2, 3, 4, 5))}, {}),
    ]


def _relu_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any], dout: np.ndarray) -> dict[str, dict[str, Any]]:
    x = inp["x"]
    return {"x": {
        "the mask is missing: the gradient flows where x < 0 too; multiply dout by (x > 0)": dout.copy(),
        "the mask is inverted: the gradient must flow where x > 0 and stop where x < 0": dout * (x < 0),
    }}


_BUGS = {"relu": _relu_bugs}

for _act in ("sigmoid", "tanh", "relu"):
    layer_task(
        f"{ASSIGNMENT}.{_act}",
        f"{_act} forward and backward",
        "neuron",
        f"{_act}_forward",
        f"{_act}_backward",
        _act_visible,
        _act_hidden,
        points=(0.5, 0.5, 0.5, 0.5, 0.5),
        bugs=_BUGS.get(_act),
    )


@TASKS[f"{ASSIGNMENT}.relu"].check("relu_backward at x = 0 passes no gradient (the notebook takes relu'(0) = 0; atol 1e-12)", 0.5)
def _relu_at_zero(S: Student) -> None:
    x = np.array([[-1.0, 0.0, 2.0], [0.0, -0.0, 3.0]])
    dout = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    _, cache = call_pair(S, "relu_forward", {"x": x}, {})
    got = S.fn("relu_backward")(dout.copy(), cache)
    expected = ref("neuron", "relu_backward")(dout.copy(), ref("neuron", "relu_forward")(x.copy())[1])
    compare_alternatives(
        got, expected, "relu_backward(dout, cache)",
        {"the gradient passes at x = 0: the mask must be x > 0, not x >= 0 (relu'(0) is taken as 0)": dout * (x >= 0)},
        context="x = [[-1, 0, 2], [0, -0.0, 3]], dout = [[1, 2, 3], [4, 5, 6]]", rtol=0, atol=1e-12,
    )

_sig = TASKS[f"{ASSIGNMENT}.sigmoid"]


@_sig.check("sigmoid_forward is stable for x = ±1000 (no overflow warning, no NaN)", 0.5, hidden=True, tolerance='rtol 1e-6')
def _sigmoid_stable(S: Student) -> None:
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    got = first_output(S.fn("sigmoid_forward")(x.copy()), "sigmoid_forward")
    compare(got, ref("neuron", "sigmoid_forward")(x.copy())[0], "sigmoid_forward output", context="x = [-1000, -50, 0, 50, 1000]")


_neuron = task(f"{ASSIGNMENT}.neuron", "a neuron and a dense layer of neurons", ["neuron_forward"], needs=["neuron"])


def _neuron_cases(rng: np.random.Generator) -> list[Case]:
    return [
        ("one neuron, a batch of 4", {"x": rng.standard_normal((4, 3)), "w": rng.standard_normal(3), "b": np.array(0.3)}, {"activation": "sigmoid"}),
        ("a layer of 5 neurons, one example", {"x": rng.standard_normal(3), "w": rng.standard_normal((3, 5)), "b": rng.standard_normal(5)}, {"activation": "tanh"}),
        ("a layer of 2 neurons, batch of 1", {"x": rng.standard_normal((1, 7)), "w": rng.standard_normal((7, 2)), "b": rng.standard_normal(2)}, {"activation": "relu"}),
        ("a layer of 3 neurons, batch of 6", {"x": rng.standard_normal((6, 4)), "w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}, {"activation": "sigmoid"}),
    ]


def _neuron_compare(S: Student, cases: list[Case]) -> None:
    for label, inputs, kw in cases:
        ctx = describe_case(label, inputs | kw)
        b = inputs["b"]
        args = (inputs["x"].copy(), inputs["w"].copy(), b.copy() if b.ndim else float(b))
        expected = ref("neuron", "neuron_forward")(*args, **kw)[0]
        got = first_output(S.fn("neuron_forward")(*args, **kw), "neuron_forward")
        bugs = {}
        with contextlib.suppress(Exception):
            x, w = inputs["x"], inputs["w"]
            bugs["the bias b is not added"] = ref("neuron", "neuron_forward")(x.copy(), w.copy(), 0.0 if w.ndim == 1 else np.zeros(w.shape[1]), **kw)[0]
            bugs["the activation is not applied (that is z = x·w + b)"] = x @ w + b
        compare_alternatives(got, expected, "neuron_forward output", bugs, context=ctx)


@_neuron.check("one sigmoid neuron, one example: x = [1, 2, -1], w = [0.5, -0.25, 1], b = 0.1", 1, tolerance='rtol 1e-6')
def _neuron_visible(S: Student) -> None:
    _neuron_compare(S, [("", {"x": np.array([1.0, 2.0, -1.0]), "w": np.array([0.5, -0.25, 1.0]), "b": np.array(0.1)}, {"activation": "sigmoid"})])


@_neuron.check("batches, layers of neurons, batch of 1, other activations", 2, hidden=True, tolerance='rtol 1e-6')
def _neuron_hidden(S: Student) -> None:
    _neuron_compare(S, _neuron_cases(rng_for("neuron")))
