"""Grading of assignment ch06_backprop: gate backward passes, the affine layer, a two-layer net.

Registered in :data:`course_grader.grading.TASKS` when :mod:`course_grader.grading` is imported. The
references are :mod:`course_lib.backprop`'s gate classes, ``affine_forward``/``affine_backward``
and ``TwoLayerNet.loss``; the named mistakes are computed on the same inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_grader.checks import Case, Layer, backward_matches, forward_matches, matches_own_loss
from course_grader.engine import (
    Fail,
    Student,
    as_array,
    check_pair,
    compare,
    compare_alternatives,
    ref,
    rng_for,
    task,
)
from course_lib import gradcheck

ASSIGNMENT = "ch06_backprop"

# =============================================================================================
# Task 1: gates
# =============================================================================================

_gates = task(
    f"{ASSIGNMENT}.gates", "add, multiply and max gates",
    ["add_gate_backward", "multiply_gate_backward", "max_gate_backward"], needs=["backprop"],
)

_GATE_CLASS = {"add": "AddGate", "multiply": "MultiplyGate", "max": "MaxGate"}


def _gate_ref(kind: str, dz: Any, x: Any, y: Any) -> tuple[Any, Any]:
    gate = ref("backprop", _GATE_CLASS[kind])()
    gate.forward(x, y)
    return gate.backward(dz)


def _gate_bugs(kind: str, dz: Any, x: Any, y: Any) -> dict[str, tuple[Any, Any]]:
    dz, x, y = (np.asarray(v, dtype=np.float64) for v in (dz, x, y))
    zero = np.zeros_like(dz)
    if kind == "add":
        return {
            "dy is missing: the add gate copies dz to BOTH inputs (d(x+y)/dy = 1)": (dz, zero),
            "the add gate splits dz in halves: each input gets all of it (d(x+y)/dx = 1)": (dz / 2, dz / 2),
            "dy has the wrong sign: that is the subtract gate": (dz, -dz),
        }
    if kind == "multiply":
        return {
            "the inputs are not swapped: d(xy)/dx = y, so dx = y·dz and dy = x·dz": (x * dz, y * dz),
            "the upstream gradient is missing: dx = y·dz, not y": (y + 0 * dz, x + 0 * dz),
        }
    wins = x >= y
    return {
        "the gradient is routed to both inputs: only the larger input changes the output": (dz, dz),
        "the gradient goes to the smaller input": (dz * ~wins, dz * wins),
        "on a tie (x == y) the gradient goes to y: this course gives it to x (use x >= y)": (dz * (x > y), dz * (x <= y)),
        "on a tie the gradient is split in halves: this course gives all of it to x": (
            dz * np.where(x == y, 0.5, wins), dz * np.where(x == y, 0.5, ~wins)),
        "max passes dz times the winning value instead of dz": (dz * x * wins, dz * y * ~wins),
    }


def _gate_case(S: Student, kind: str, dz: Any, x: Any, y: Any, label: str) -> None:
    fname = f"{kind}_gate_backward"
    copy = (lambda v: v.copy()) if isinstance(x, np.ndarray) else (lambda v: v)
    exp = _gate_ref(kind, copy(dz), copy(x), copy(y))
    got = S.fn(fname)(copy(dz), copy(x), copy(y))
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise Fail(f"{fname} must return a pair (dx, dy), got {type(got).__name__} ({label})")
    dx, dy = (as_array(g, f"{fname}(...)[{i}]") for i, g in enumerate(got))
    bugs = _gate_bugs(kind, dz, x, y)
    for i, name in enumerate(("dx", "dy")):
        value = dx if i == 0 else dy
        alts = {text: pair[i] for text, pair in bugs.items()
                if np.shape(pair[1 - i]) == np.shape((dy, dx)[i]) and np.allclose((dy, dx)[i], pair[1 - i])}
        compare_alternatives(value, exp[i], f"{name} from {fname}", alts, context=label)


@_gates.check("scalars: add (dz=2, x=-2, y=5), multiply (dz=-3, x=2, y=-4), max (dz=1.5, x=4, y=-1) and a tie", 1, tolerance='rtol 1e-6')
def _gates_visible(S: Student) -> None:
    _gate_case(S, "add", 2.0, -2.0, 5.0, "dz=2, x=-2, y=5")
    _gate_case(S, "multiply", -3.0, 2.0, -4.0, "dz=-3, x=2, y=-4")
    _gate_case(S, "max", 1.5, 4.0, -1.0, "dz=1.5, x=4, y=-1")
    _gate_case(S, "max", 1.5, 2.0, 2.0, "a tie: dz=1.5, x=y=2")


@_gates.check("arrays of random shapes and random upstream gradients, max with ties", 1, hidden=True, tolerance='rtol 1e-6')
def _gates_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "gates")
    for shape in [(5,), (3, 4), (2, 3, 2)]:
        x, y, dz = (np.round(rng.standard_normal(shape), 1) for _ in range(3))
        y.flat[::3] = x.flat[::3]  # ties for the max gate
        for kind in ("add", "multiply", "max"):
            _gate_case(S, kind, dz, x, y, f"arrays of shape {shape}")


@_gates.check("chained: the gradients of f = (x·y + max(z, w))·2 at (3, -2, 1, 4) through your gates", 0.5, hidden=True, tolerance='rtol 1e-6')
def _gates_chain(S: Student) -> None:
    x, y, z, w = 3.0, -2.0, 1.0, 4.0
    q, m = x * y, max(z, w)
    s = q + m
    got = {}
    ds, _ = S.fn("multiply_gate_backward")(1.0, s, 2.0)
    dq, dm = S.fn("add_gate_backward")(ds, q, m)
    got["x"], got["y"] = S.fn("multiply_gate_backward")(dq, x, y)
    got["z"], got["w"] = S.fn("max_gate_backward")(dm, z, w)
    expected = {"x": 2 * y, "y": 2 * x, "z": 0.0, "w": 2.0}
    for k, v in expected.items():
        compare(got[k], v, f"df/d{k}", context="f = (x·y + max(z, w))·2 at x=3, y=-2, z=1, w=4, via your three gates")


# =============================================================================================
# Task 2: affine layer
# =============================================================================================

_aff = task(f"{ASSIGNMENT}.affine", "affine forward and backward", ["affine_forward", "affine_backward"], needs=["backprop"])


def _aff_visible() -> Case:
    return (
        "x = linspace(-1, 1, 12).reshape(4, 3), w = linspace(-0.5, 0.5, 15).reshape(3, 5), b = linspace(0, 0.4, 5)",
        {"x": np.linspace(-1, 1, 12).reshape(4, 3), "w": np.linspace(-0.5, 0.5, 15).reshape(3, 5), "b": np.linspace(0, 0.4, 5)},
        {},
    )


def _aff_hidden(rng: np.random.Generator) -> list[Case]:
    def case(label: str, n: int, d: int, m: int) -> Case:
        return label, {"x": rng.standard_normal((n, d)), "w": rng.standard_normal((d, m)), "b": rng.standard_normal(m)}, {}

    return [
        case("square w (D = M)", 6, 4, 4),
        case("batch of 1", 1, 4, 3),
        case("odd sizes", 7, 5, 3),
        case("one output", 5, 3, 1),
    ]


def _aff_fwd_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any]) -> dict[str, Any]:
    x, w, b = inp["x"], inp["w"], inp["b"]
    return {"the bias b is not added": x @ w, "the weights are used transposed: out = x @ w + b": x @ w.T + b}


def _aff_bwd_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any], dout: np.ndarray) -> dict[str, dict[str, Any]]:
    x, w = inp["x"], inp["w"]
    dx_bugs = {}
    if w.shape[0] == w.shape[1]:  # otherwise dout @ w does not even run
        dx_bugs["dx = dout @ w: multiply by w.T, (N, M) @ (M, D) -> (N, D)"] = dout @ w
    return {
        "x": dx_bugs,
        "w": {"dw = dout.T @ x is the transpose: dw = x.T @ dout has the shape of w, (D, M)": dout.T @ x,
              "dw uses only the first example: the sum over the batch is x.T @ dout": np.outer(x[0], dout[0])},
        "b": {"db is summed over the wrong axis: sum over the batch, axis 0, to get shape (M,)": dout.sum(axis=1),
              "db is the mean over the batch: b is added to every example, so db is the sum": dout.mean(axis=0)},
    }


@_aff.check("affine_forward on a fixed 4×3 example", 0.5, tolerance='rtol 1e-6')
def _aff_fwd_visible(S: Student) -> None:
    forward_matches(S, "affine_forward", ref("backprop", "affine_forward"), _aff_visible(), _aff_fwd_bugs)


@_aff.check("affine_backward vs the numerical gradient of your affine_forward (fixed example)", 1, tolerance='relative error ≤ 1e-6')
def _aff_bwd_visible(S: Student) -> None:
    _label, inputs, kw = _aff_visible()
    check_pair(S, "affine_forward", "affine_backward", inputs, kwargs=kw, context="the fixed 4×3 example")


@_aff.check("affine_forward on random shapes (batch of 1, odd sizes, one output)", 0.5, hidden=True, tolerance='rtol 1e-6')
def _aff_fwd_hidden(S: Student) -> None:
    for case in _aff_hidden(rng_for(ASSIGNMENT, "affine forward")):
        forward_matches(S, "affine_forward", ref("backprop", "affine_forward"), case, _aff_fwd_bugs)


@_aff.check("affine_backward vs numerical gradients of your forward (random shapes)", 1, hidden=True, tolerance='relative error ≤ 1e-6')
def _aff_numeric(S: Student) -> None:
    for k, (label, inputs, kw) in enumerate(_aff_hidden(rng_for(ASSIGNMENT, "affine numeric"))):
        check_pair(S, "affine_forward", "affine_backward", inputs, kwargs=kw, seed=k, context=label)


@_aff.check("dx, dw, db match the reference (random shapes, random upstream gradient)", 1, hidden=True, tolerance='rtol 1e-6')
def _aff_reference(S: Student) -> None:
    for k, case in enumerate(_aff_hidden(rng_for(ASSIGNMENT, "affine reference"))):
        layer = Layer("affine_forward", "affine_backward", ref("backprop", "affine_forward"),
                      ref("backprop", "affine_backward"), bugs=_aff_bwd_bugs)
        backward_matches(S, layer, case, seed=k)


# =============================================================================================
# Task 3: a two-layer network
# =============================================================================================

_net = task(f"{ASSIGNMENT}.two_layer_net", "two-layer network: loss and gradients", ["two_layer_net_loss"], needs=["backprop"])

NetCase = tuple[str, np.ndarray, np.ndarray, dict[str, np.ndarray], float]
_PARAMS = ("W1", "b1", "W2", "b2")


def _net_case(rng: np.random.Generator, label: str, n: int, d: int, h: int, c: int, reg: float) -> NetCase:
    """Random inputs whose hidden pre-activations stay 1e-3 away from ReLU's kink."""
    for _ in range(100):
        X = rng.standard_normal((n, d))
        p = {"W1": rng.standard_normal((d, h)) * 0.5, "b1": rng.standard_normal(h) * 0.1,
             "W2": rng.standard_normal((h, c)) * 0.5, "b2": rng.standard_normal(c) * 0.1}
        if np.abs(X @ p["W1"] + p["b1"]).min() > 1e-3:
            break
    return label, X, rng.integers(0, c, n), p, reg


def _net_visible() -> NetCase:
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    p = {"W1": np.linspace(-0.7, 0.6, 15).reshape(3, 5), "b1": np.linspace(-0.1, 0.1, 5),
         "W2": np.linspace(0.5, -0.4, 15).reshape(5, 3), "b2": np.array([0.1, 0.0, -0.1])}
    return ("X = linspace(-1, 1, 12).reshape(4, 3), y = [0, 2, 1, 2], W1 = linspace(-0.7, 0.6, 15).reshape(3, 5), "
            "b1 = linspace(-0.1, 0.1, 5), W2 = linspace(0.5, -0.4, 15).reshape(5, 3), b2 = [0.1, 0, -0.1], reg = 0.05",
            X, np.array([0, 2, 1, 2]), p, 0.05)


def _net_hidden(rng: np.random.Generator) -> list[NetCase]:
    return [
        _net_case(rng, "batch of 1, reg = 0", 1, 4, 3, 3, 0.0),
        _net_case(rng, "odd sizes, reg = 0.1", 7, 5, 6, 4, 0.1),
        _net_case(rng, "two classes, strong reg = 1.5", 6, 3, 4, 2, 1.5),
    ]


def _net_ref(X: np.ndarray, y: np.ndarray, p: dict[str, np.ndarray], reg: float) -> tuple[float, dict[str, np.ndarray]]:
    net = ref("backprop", "TwoLayerNet")(X.shape[1], p["W1"].shape[1], p["W2"].shape[1], reg=reg)
    net.params = {k: v.copy() for k, v in p.items()}
    return net.loss(X.copy(), y.copy())


def _net_parts(X: np.ndarray, y: np.ndarray, p: dict[str, np.ndarray], relu: bool = True) -> dict[str, Any]:
    n = X.shape[0]
    h = X @ p["W1"] + p["b1"]
    a = np.maximum(h, 0) if relu else h
    s = a @ p["W2"] + p["b2"]
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    data = float(-logp[np.arange(n), y].mean())
    ds = np.exp(logp)
    ds[np.arange(n), y] -= 1
    ds /= n
    da = ds @ p["W2"].T
    dh = da * (h > 0)
    return {"data": data, "dW2": a.T @ ds, "db2": ds.sum(0), "dW1": X.T @ dh, "db1": dh.sum(0),
            "dW1_nomask": X.T @ da, "db1_nomask": da.sum(0)}


def _net_loss_bugs(X: np.ndarray, y: np.ndarray, p: dict[str, np.ndarray], reg: float) -> dict[str, float]:
    P = _net_parts(X, y, p)
    sq = float(np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
    bugs = {
        "the ReLU is missing: scores = relu(X @ W1 + b1) @ W2 + b2": _net_parts(X, y, p, relu=False)["data"] + reg * sq,
        "the loss is summed over the batch, not averaged": P["data"] * X.shape[0] + reg * sq,
    }
    if reg:
        bugs["the regularisation term reg·(ΣW1² + ΣW2²) is missing from the loss"] = P["data"]
        bugs["the regularisation term has a ½ (0.5·reg·ΣW²): this course uses reg·ΣW², no ½"] = P["data"] + 0.5 * reg * sq
        bugs["the biases are regularised too: only W1 and W2 are"] = P["data"] + reg * (sq + float(np.sum(p["b1"] ** 2) + np.sum(p["b2"] ** 2)))
    return bugs


def _net_grad_bugs(X: np.ndarray, y: np.ndarray, p: dict[str, np.ndarray], reg: float) -> dict[str, dict[str, Any]]:
    P = _net_parts(X, y, p)
    W1, _W2 = p["W1"], p["W2"]
    out: dict[str, dict[str, Any]] = {k: {} for k in _PARAMS}
    out["W1"]["the ReLU mask is missing in the backward pass: dh = da · (h > 0), with h = X @ W1 + b1"] = P["dW1_nomask"] + 2 * reg * W1
    out["b1"]["the ReLU mask is missing in the backward pass: dh = da · (h > 0), with h = X @ W1 + b1"] = P["db1_nomask"]
    if reg:
        for k, g in (("W1", P["dW1"]), ("W2", P["dW2"])):
            out[k]["the regularisation gradient is missing: reg·Σw² adds 2·reg·w"] = g
            out[k]["the regularisation gradient is reg·w: the derivative of reg·Σw² is 2·reg·w"] = g + reg * p[k]
        for k, g in (("b1", P["db1"]), ("b2", P["db2"])):
            out[k]["the biases are regularised: only W1 and W2 get the 2·reg·w term"] = g + 2 * reg * p[k]
    return out


def _call_net(S: Student, X: np.ndarray, y: np.ndarray, p: dict[str, np.ndarray], reg: float) -> tuple[Any, dict[str, Any]]:
    res = S.fn("two_layer_net_loss")(X.copy(), y.copy(), {k: v.copy() for k, v in p.items()}, reg)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"two_layer_net_loss must return a pair (loss, grads), got {type(res).__name__}")
    loss, grads = res
    if not isinstance(grads, dict):
        raise Fail(f"two_layer_net_loss must return the gradients as a dict {{'W1': ..., 'b1': ..., 'W2': ..., 'b2': ...}}, got {type(grads).__name__}")
    missing = [k for k in _PARAMS if k not in grads]
    if missing:
        raise Fail(f"the grads dict has no {missing}: it needs one entry per parameter, under the parameter's name")
    return loss, grads


def _ctx(case: NetCase) -> str:
    label, X, _, p, reg = case
    return f"{label}: X of shape {X.shape}, W1 {p['W1'].shape}, W2 {p['W2'].shape}, reg={reg:g}"


def _net_value(S: Student, case: NetCase) -> None:
    _, X, y, p, reg = case
    loss, _ = _call_net(S, X, y, p, reg)
    expected, _ = _net_ref(X, y, p, reg)
    got = np.asarray(as_array(loss, "loss")).reshape(()) if np.size(loss) == 1 else loss
    compare_alternatives(got, expected, "loss", _net_loss_bugs(X, y, p, reg), context=_ctx(case), batch_size=X.shape[0])


def _net_numeric(S: Student, case: NetCase) -> None:
    _, X, y, p, reg = case
    _, grads = _call_net(S, X, y, p, reg)
    for k in _PARAMS:
        def f(v: np.ndarray, k: str = k) -> float:
            q = {j: (v if j == k else a).copy() for j, a in p.items()}
            out = S.fn("two_layer_net_loss")(X.copy(), y.copy(), q, reg)
            return float(np.asarray(out[0], dtype=np.float64).reshape(()))

        numerical = S.numerical_gradient("two_layer_net_loss", [X.copy(), y.copy(), {j: a.copy() for j, a in p.items()}, reg],
                                         at=[2, k])
        if numerical is None:
            numerical = gradcheck.numerical_gradient(f, p[k].copy())
        matches_own_loss(grads[k], numerical, f"grads[{k!r}]", _ctx(case), X.shape[0])


def _net_reference(S: Student, case: NetCase) -> None:
    _, X, y, p, reg = case
    _, grads = _call_net(S, X, y, p, reg)
    _, expected = _net_ref(X, y, p, reg)
    bugs = _net_grad_bugs(X, y, p, reg)
    for k in _PARAMS:
        compare_alternatives(grads[k], expected[k], f"grads[{k!r}]", bugs[k], context=_ctx(case), batch_size=X.shape[0])


@_net.check("the loss on a fixed example (N=4, D=3, H=5, C=3, reg=0.05)", 1, tolerance='rtol 1e-6')
def _net_visible_value(S: Student) -> None:
    _net_value(S, _net_visible())


@_net.check("every gradient vs the numerical gradient of your own loss (fixed example)", 1, tolerance='relative error ≤ 1e-6')
def _net_visible_numeric(S: Student) -> None:
    _net_numeric(S, _net_visible())


@_net.check("the loss on random shapes (batch of 1, reg 0, odd sizes, two classes)", 1, hidden=True, tolerance='rtol 1e-6')
def _net_hidden_value(S: Student) -> None:
    for case in _net_hidden(rng_for(ASSIGNMENT, "net value")):
        _net_value(S, case)


@_net.check("every gradient vs numerical gradients of your loss (random shapes)", 1, hidden=True, tolerance='relative error ≤ 1e-6')
def _net_hidden_numeric(S: Student) -> None:
    for case in _net_hidden(rng_for(ASSIGNMENT, "net numeric")):
        _net_numeric(S, case)


@_net.check("every gradient matches the reference TwoLayerNet (random shapes, with regularisation)", 1.5, hidden=True, tolerance='rtol 1e-6')
def _net_hidden_reference(S: Student) -> None:
    for case in _net_hidden(rng_for(ASSIGNMENT, "net reference")):
        _net_reference(S, case)
