"""Grading tasks of assignment ch09_architectures: describe, build, run, backpropagate through and
train a small CNN made of the layer functions the notebook hands out.

Everything crossing between grader and student code is plain data (lists of dicts of arrays), so
the checks work in-process, in a forked child and in the sandbox. The reference is the model
solution executed next to the handed-out layers (:func:`reference_namespace`), the way a notebook
runs it; the handed-out layers and ``summary`` are checked against :mod:`course_lib` in the tests.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from typing import Any

import numpy as np

from course_grader.course import load_course_module
from course_grader.engine import (
    REF,
    Fail,
    Student,
    as_array,
    compare,
    compare_alternatives,
    diagnose,
    rng_for,
    task,
)
from course_grader.library_source import library_source
from course_lib import gradcheck

ASSIGNMENT = "ch09_architectures"

#: The network trained on the digits (also defined in the notebook's given cell).
DIGITS_ARCH: list[dict[str, Any]] = [
    {"type": "conv", "filters": 8, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "pool"},
    {"type": "flatten"},
    {"type": "affine", "units": 10},
]
TARGET_ACCURACY = 0.90
TRAIN_SECONDS = 15.0

#: The library layers the notebook hands out (generated from course_lib: one source of truth).
GIVEN_LAYERS = (
    "course_lib.conv:conv_forward",
    "course_lib.conv:conv_backward",
    "course_lib.neuron:relu_forward",
    "course_lib.neuron:relu_backward",
    "course_lib.pooling:max_pool_forward",
    "course_lib.pooling:max_pool_backward",
    "course_lib.dropout:dropout_forward",
    "course_lib.dropout:dropout_backward",
    "course_lib.backprop:affine_forward",
    "course_lib.backprop:affine_backward",
    "course_lib.loss:softmax_cross_entropy",
)


def given_source() -> str:
    """The source of the notebook's locked cell: the library's layer functions (with the helpers
    they use, so the cell runs where only ``course_lib.validate`` is importable) and DIGITS_ARCH."""
    body = ",\n".join(f"    {d!r}" for d in DIGITS_ARCH)
    return (library_source(GIVEN_LAYERS).rstrip("\n")
            + f"\n\n\n# the network of task 4 (8×8 digits -> 10 classes)\nDIGITS_ARCH = [\n{body},\n]")


def reference_namespace() -> dict[str, Any]:
    """Given layers + model solutions, executed together like the notebook's cells."""
    ns: dict[str, Any] = {"__name__": "ch09_reference"}
    flags = __import__("__future__").annotations.compiler_flag
    exec(compile(given_source(), "<given layers>", "exec", flags=flags, dont_inherit=True), ns)
    solutions = load_course_module("solutions/ch09_architectures.py")
    for name in solutions.__all__:
        src = inspect.getsource(getattr(solutions, name))
        exec(compile(src, f"<solution {name}>", "exec", flags=flags, dont_inherit=True), ns)
    return ns


@functools.cache
def _reference() -> dict[str, Any]:
    """The reference namespace, built on first use (it needs the course directory)."""
    return reference_namespace()


def _copy_layers(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in layer.items()} for layer in layers]


def _arch_text(arch: list[dict[str, Any]]) -> str:
    def one(d: dict[str, Any]) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("type", "w", "b"))
        return f"{d['type']}({opts})" if opts else d["type"]

    return " -> ".join(one(d) for d in arch)


# ---------------------------------------------------------------------------------------------
# Networks used by the checks
# ---------------------------------------------------------------------------------------------

_ARCH_VISIBLE = [
    {"type": "conv", "filters": 4, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "pool"},
    {"type": "flatten"},
    {"type": "affine", "units": 5},
]

HIDDEN_ARCHS: list[tuple[list[dict[str, Any]], tuple[int, ...]]] = [
    ([{"type": "conv", "filters": 6, "kernel": 5}, {"type": "relu"}, {"type": "pool"},
      {"type": "conv", "filters": 16, "kernel": 5}, {"type": "relu"}, {"type": "pool"}, {"type": "flatten"},
      {"type": "affine", "units": 120}, {"type": "relu"}, {"type": "affine", "units": 84}, {"type": "relu"},
      {"type": "affine", "units": 10}], (1, 32, 32)),  # LeNet-5-like: 61,706 parameters
    ([{"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "pad": 1}, {"type": "relu"}, {"type": "pool"},
      {"type": "dropout", "keep_prob": 0.5}, {"type": "flatten"}, {"type": "affine", "units": 7}], (2, 11, 9)),
    ([{"type": "flatten"}, {"type": "affine", "units": 3}], (3, 1, 5)),
]

_NET_ARCH = [
    {"type": "conv", "filters": 3, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "pool"},
    {"type": "dropout", "keep_prob": 0.7},
    {"type": "flatten"},
    {"type": "affine", "units": 4},
]


def _net(rng: np.random.Generator, arch: list[dict[str, Any]], in_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    layers = _reference()["build_network"](arch, in_shape, int(rng.integers(1 << 30)))
    for layer in layers:  # nonzero biases, so that a forgotten bias shows
        if "b" in layer:
            layer["b"] = rng.standard_normal(layer["b"].shape) * 0.1
    return layers


# ---------------------------------------------------------------------------------------------
# Task 1: summary and build_network
# ---------------------------------------------------------------------------------------------

_t1 = task(f"{ASSIGNMENT}.build", "summary (shapes, parameter counts) and build_network", ["summary", "build_network"], needs=["architectures"])


def _check_summary(S: Student, arch: list[dict[str, Any]], shape: tuple[int, ...]) -> None:
    expected = _reference()["summary"](arch, shape)
    got = S.fn("summary")([dict(d) for d in arch], tuple(shape))
    ctx = f"{_arch_text(arch)} on input {tuple(shape)}"
    if not isinstance(got, list | tuple) or len(got) != len(expected):
        raise Fail(f"summary must return one (shape, parameters) pair per layer: {len(expected)} pairs, got {got!r:.200} ({ctx})")
    for i, (g, (es, ep)) in enumerate(zip(got, expected)):
        try:
            gs, gp = tuple(int(v) for v in g[0]), int(g[1])
        except (TypeError, ValueError, IndexError):
            raise Fail(f"summary entry {i} must be a pair (shape tuple, number of parameters), got {g!r:.100}") from None
        layer = arch[i]
        if gs != es:
            hint = ""
            if layer["type"] == "conv":
                hint = ("\n  output size of a convolution: floor((H + 2·pad − kernel) / stride) + 1"
                        " (pad on both sides)")
            elif layer["type"] == "flatten":
                hint = "\n  flatten keeps all C·H·W numbers of an example"
            raise Fail(f"layer {i} ({_arch_text([layer])}): output shape {gs}, expected {es} ({ctx}){hint}")
        if gp != ep:
            f = layer.get("filters") or layer.get("units") or 0
            if gp == ep - f:
                hint = "the biases are not counted (one per filter or unit)"
            elif layer["type"] == "conv" and gp in (f * layer["kernel"] ** 2 + f, f * layer["kernel"] ** 2):
                hint = "the input channels are missing: a filter has C·k·k weights"
            else:  # nothing recognised: how the count is made, not a guess at the cause
                raise Fail(
                    f"layer {i} ({_arch_text([layer])}): {gp} parameters, expected {ep} ({ctx})\n"
                    "  how it is counted: conv: F·C·k·k + F; affine: D·M + M; every other layer: 0"
                )
            raise Fail(f"layer {i} ({_arch_text([layer])}): {gp} parameters, expected {ep} ({ctx})\n  recognised mistake: {hint}")


def _check_build(S: Student, arch: list[dict[str, Any]], shape: tuple[int, ...], seed: int) -> None:
    ctx = f"{_arch_text(arch)} on input {tuple(shape)}, seed {seed}"
    got = S.fn("build_network")([dict(d) for d in arch], tuple(shape), seed)
    again = S.fn("build_network")([dict(d) for d in arch], tuple(shape), seed)
    expected = _reference()["build_network"](arch, shape, seed)
    if not isinstance(got, list) or len(got) != len(expected):
        raise Fail(f"build_network must return a list with one dict per layer ({len(expected)}), got {type(got).__name__} ({ctx})")
    for i, (g, e) in enumerate(zip(got, expected)):
        if not isinstance(g, dict) or g.get("type") != e["type"]:
            raise Fail(f"layer {i} of build_network's result must be a dict with the description's keys (type {e['type']!r}) ({ctx})")
        for key in ("w", "b"):
            if key not in e:
                continue
            if key not in g:
                raise Fail(f"layer {i} ({e['type']}) has no {key!r} ({ctx})")
            a = as_array(g[key], f"layer {i} {key!r}")
            if a.shape != e[key].shape:
                hint = "\n  recognised mistake: transposed: an affine weight is (D, M) for x @ w" if a.shape == e[key].shape[::-1] else ""
                raise Fail(f"layer {i} ({e['type']}) {key!r} has shape {a.shape}, expected {e[key].shape} ({ctx}){hint}")
            if key == "b" and np.any(a != 0):
                raise Fail(f"layer {i} ({e['type']}): the biases must start at zero ({ctx})")
            if key == "w":
                fan_in = e["w"].shape[0] if e["type"] == "affine" else int(np.prod(e["w"].shape[1:]))
                var, target = float(np.mean(a**2)), 2.0 / fan_in
                bound = 6 * math.sqrt(2.0 / a.size)
                if abs(var / target - 1) > bound:
                    raise Fail(
                        f"layer {i} ({e['type']}): the weights have mean square {var:.4g}, expected He's 2/fan_in = "
                        f"{target:.4g} with fan_in = {fan_in} (allowed relative error {bound:.2f}) ({ctx})"
                    )
                if not np.array_equal(a, np.asarray(again[i][key])):
                    raise Fail(f"build_network with the same seed gave different weights ({ctx}): use np.random.default_rng(seed)")


@_t1.check("summary of a small CNN on (1, 8, 8): output shapes and parameter counts", 1, tolerance='exact')
def _t1_summary_visible(S: Student) -> None:
    _check_summary(S, _ARCH_VISIBLE, (1, 8, 8))


@_t1.check("build_network of the same CNN: shapes, zero biases, He variance, reproducible", 1, tolerance='exact shapes and biases; mean square of the weights within 6 standard errors of 2/fan_in')
def _t1_build_visible(S: Student) -> None:
    _check_build(S, [{"type": "conv", "filters": 16, "kernel": 3, "pad": 1}, *_ARCH_VISIBLE[1:]], (1, 8, 8), 0)


@_t1.check("summary of LeNet-5 (61,706 parameters), a strided conv, odd sizes, an MLP", 1, hidden=True, tolerance='exact')
def _t1_summary_hidden(S: Student) -> None:
    for arch, shape in HIDDEN_ARCHS:
        _check_summary(S, arch, shape)


@_t1.check("build_network of LeNet-5 and a strided conv net", 0.5, hidden=True, tolerance='exact shapes and biases; mean square of the weights within 6 standard errors of 2/fan_in')
def _t1_build_hidden(S: Student) -> None:
    for arch, shape in HIDDEN_ARCHS[:2]:
        _check_build(S, arch, shape, 5)


# ---------------------------------------------------------------------------------------------
# Task 2: model_forward / model_backward
# ---------------------------------------------------------------------------------------------

_t2 = task(f"{ASSIGNMENT}.model", "model_forward and model_backward", ["model_forward", "model_backward"], needs=["architectures"])


def _forward(S: Student, layers: list[dict[str, Any]], x: np.ndarray, mode: str, seed: int) -> tuple[np.ndarray, Any]:
    res = S.fn("model_forward")(_copy_layers(layers), x.copy(), mode=mode, seed=seed)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"model_forward must return a pair (scores, caches), got {type(res).__name__}")
    return as_array(res[0], "scores from model_forward"), res[1]


def _check_forward(S: Student, layers: list[dict[str, Any]], x: np.ndarray, mode: str, seed: int) -> None:
    ctx = f"{_arch_text(layers)}, x of shape {x.shape}, mode={mode!r}, seed={seed}"
    expected, _ = _reference()["model_forward"](_copy_layers(layers), x.copy(), mode=mode, seed=seed)
    got, _ = _forward(S, layers, x, mode, seed)
    other = "test" if mode == "train" else "train"
    alt = {f"the dropout layers run in {other} mode: pass `mode` on to dropout_forward": _reference()["model_forward"](_copy_layers(layers), x.copy(), mode=other, seed=seed)[0]}
    compare_alternatives(got, expected, "scores from model_forward", alt, context=ctx)


def _check_backward(S: Student, layers: list[dict[str, Any]], x: np.ndarray, seed: int, dseed: int) -> None:
    ctx = f"{_arch_text(layers)}, x of shape {x.shape}, mode='train', seed={seed}, random dscores"
    scores, caches = _reference()["model_forward"](_copy_layers(layers), x.copy(), mode="train", seed=seed)
    dscores = np.random.default_rng(dseed).standard_normal(scores.shape)
    edx, egrads = _reference()["model_backward"](dscores.copy(), caches)
    _, mine = _forward(S, layers, x, "train", seed)
    res = _backward(S, dscores, mine)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"model_backward must return a pair (dx, grads), got {type(res).__name__}")
    dx, grads = res
    if not isinstance(grads, list | tuple) or len(grads) != len(layers):
        raise Fail(f"model_backward must return one gradient dict per layer ({len(layers)}), got {type(grads).__name__} of length {len(grads) if isinstance(grads, list | tuple) else '?'} ({ctx})")
    for i, (g, e) in enumerate(zip(grads, egrads)):
        for key, ev in e.items():
            if not isinstance(g, dict) or key not in g:
                raise Fail(
                    f"grads[{i}] (layer {i}, {layers[i]['type']}) has no {key!r} ({ctx}): grads must follow the "
                    "order of the layers, {} for layers without parameters"
                )
            wrong_layer = [j for j, ee in enumerate(egrads) if j != i and key in ee and np.shape(ee[key]) == np.shape(g[key]) and np.allclose(g[key], ee[key])]
            try:
                compare(g[key], ev, f"d{key} of layer {i} ({layers[i]['type']})", context=ctx, batch_size=x.shape[0])
            except Fail as err:
                if wrong_layer:
                    raise Fail(f"{err}\n  recognised mistake: these are the gradients of layer {wrong_layer[0]}: the "
                               "grads list is out of order (backward visits the layers in reverse, but grads[i] "
                               "belongs to layer i)") from None
                raise
    if dx is None:
        raise Fail(f"model_backward returned dx = None ({ctx})")
    a = np.asarray(dx, dtype=np.float64)
    if a.shape != x.shape:
        hint = ""
        if a.size == x.size:
            hint = ("\n  recognised mistake: the flatten layer's backward must reshape the gradient back to the "
                    "shape its input had (keep that shape in the cache)")
        raise Fail(f"dx from model_backward has shape {a.shape}, expected {x.shape} ({ctx}){hint}")
    compare(a, edx, "dx from model_backward", context=ctx, batch_size=x.shape[0])


def _backward(S: Student, dscores: np.ndarray, caches: Any) -> Any:
    """The student's model_backward; a layer refusing a gradient of the wrong shape gets the hint."""
    try:
        return S.fn("model_backward")(dscores.copy(), caches)
    except Fail as err:
        if "dout must" not in str(err):
            raise
        raise Fail(
            f"{err}\n  a layer received a gradient of the wrong shape: backward must visit the layers in "
            "reverse order, give each layer the gradient of ITS output, and reshape the gradient back "
            "where forward flattened"
        ) from None


def _check_numeric(S: Student, layers: list[dict[str, Any]], x: np.ndarray, seed: int, dseed: int) -> None:
    """Gradients of the student's backward vs central differences of the student's own forward."""
    ctx = f"{_arch_text(layers)}, x of shape {x.shape}, seed={seed}"
    fwd = S.fn("model_forward")
    base = _copy_layers(layers)
    scores, caches = _forward(S, base, x, "train", seed)
    dscores = np.random.default_rng(dseed).standard_normal(scores.shape)
    res = _backward(S, dscores, caches)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"model_backward must return a pair (dx, grads), got {type(res).__name__}")
    dx, grads = res
    # (label, the array, the gradient returned, where it is in model_forward's arguments)
    targets: list[tuple[str, np.ndarray, Any, list[int | str]]] = [("x", x.copy(), dx, [1])]
    for i, layer in enumerate(base):
        for key in ("w", "b"):
            if key in layer:
                g = grads[i].get(key) if isinstance(grads, list | tuple) and len(grads) > i and isinstance(grads[i], dict) else None
                targets.append((f"layer {i} {key}", layer[key], g, [0, i, key]))
    for label, arr, analytic, at in targets:
        def f(v: np.ndarray, label: str = label, arr: np.ndarray = arr) -> np.ndarray:
            if label == "x":
                return as_array(fwd(_copy_layers(base), v.copy(), mode="train", seed=seed)[0], "scores")
            saved = arr.copy()
            arr[...] = v
            try:
                return as_array(fwd(_copy_layers(base), x.copy(), mode="train", seed=seed)[0], "scores")
            finally:
                arr[...] = saved

        num = S.numerical_gradient("model_forward", [_copy_layers(base), x.copy()], {"mode": "train", "seed": seed},
                                   at=at, dout=dscores)
        if num is None:
            num = gradcheck.numerical_gradient_array(f, arr.copy(), dscores)
        if analytic is None:
            raise Fail(f"model_backward returned no gradient for {label} ({ctx})")
        a = np.asarray(analytic, dtype=np.float64)
        if a.shape != num.shape or gradcheck.rel_error(a, num) > 1e-6:
            hint = diagnose(a, num, x.shape[0])
            err = gradcheck.rel_error(a, num) if a.shape == num.shape else float("nan")
            raise Fail(
                f"the gradient for {label} disagrees with the numerical gradient of your model_forward ({ctx}): "
                f"relative error {err:.2e}" + (f"\n  likely cause: {hint}" if hint else "")
            )


@_t2.check("model_forward on a small CNN (x (2, 1, 6, 6)), train and test mode", 1, tolerance='rtol 1e-6')
def _t2_fwd_visible(S: Student) -> None:
    rng = np.random.default_rng(0)
    layers = _net(rng, _NET_ARCH, (1, 6, 6))
    x = rng.standard_normal((2, 1, 6, 6))
    _check_forward(S, layers, x, "train", 0)
    _check_forward(S, layers, x, "test", 0)


@_t2.check("model_backward vs the reference gradients (same CNN, random dscores)", 1, tolerance='rtol 1e-6')
def _t2_bwd_visible(S: Student) -> None:
    rng = np.random.default_rng(0)
    layers = _net(rng, _NET_ARCH, (1, 6, 6))
    _check_backward(S, layers, rng.standard_normal((2, 1, 6, 6)), 0, 1)


@_t2.check("model_forward on random nets (batch of 1, odd sizes, strided conv, two dropout layers)", 0.5, hidden=True, tolerance='rtol 1e-6')
def _t2_fwd_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "forward")
    arch = [{"type": "dropout", "keep_prob": 0.8}, *HIDDEN_ARCHS[1][0]]
    for n in (1, 3):
        layers = _net(rng, arch, (2, 11, 9))
        _check_forward(S, layers, rng.standard_normal((n, 2, 11, 9)), "train", 4)
    layers = _net(rng, HIDDEN_ARCHS[2][0], (3, 1, 5))
    _check_forward(S, layers, rng.standard_normal((2, 3, 1, 5)), "test", 0)


@_t2.check("model_backward vs numerical gradients of your model_forward and vs the reference (random nets)", 1.5, hidden=True, tolerance='relative error ≤ 1e-6; rtol 1e-6')
def _t2_bwd_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "backward")
    arch = [{"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "pad": 1}, {"type": "relu"}, {"type": "pool"},
            {"type": "dropout", "keep_prob": 0.6}, {"type": "flatten"}, {"type": "affine", "units": 3}]
    layers = _net(rng, arch, (1, 5, 6))
    x = rng.standard_normal((2, 1, 5, 6))
    _check_numeric(S, layers, x, 3, 5)
    _check_backward(S, layers, x, 3, 6)
    layers = _net(rng, _NET_ARCH, (1, 6, 6))
    _check_backward(S, layers, rng.standard_normal((1, 1, 6, 6)), 9, 7)


# ---------------------------------------------------------------------------------------------
# Task 3: train_step
# ---------------------------------------------------------------------------------------------

_t3 = task(f"{ASSIGNMENT}.train_step", "one training step (forward, loss, backward, SGD update)", ["train_step"], needs=["architectures"])


def _check_steps(S: Student, layers: list[dict[str, Any]], batches: list[tuple[np.ndarray, np.ndarray]], lr: float) -> None:
    mine, theirs = _copy_layers(layers), _copy_layers(layers)
    prev_grads: list[dict[str, np.ndarray]] | None = None
    for k, (x, y) in enumerate(batches):
        ctx = f"{_arch_text(layers)}, step {k + 1} of {len(batches)}, x of shape {x.shape}, learning_rate={lr}, seed={k}"
        exp_loss, exp_layers = _reference()["train_step"](_copy_layers(theirs), x.copy(), y.copy(), learning_rate=lr, seed=k)
        # the mistakes, from the state both runs share at this step
        scores, caches = _reference()["model_forward"](_copy_layers(theirs), x.copy(), mode="train", seed=k)
        _, dsc = _reference()["softmax_cross_entropy"](scores, y)
        _, grads = _reference()["model_backward"](dsc, caches)
        s_eval, c_eval = _reference()["model_forward"](_copy_layers(theirs), x.copy(), mode="test", seed=k)
        eval_loss, d_eval = _reference()["softmax_cross_entropy"](s_eval, y)
        _, g_eval = _reference()["model_backward"](d_eval, c_eval)
        res = S.fn("train_step")(_copy_layers(mine), x.copy(), y.copy(), learning_rate=lr, seed=k)
        if not isinstance(res, tuple | list) or len(res) != 2:
            raise Fail(f"train_step must return a pair (loss, new_layers), got {type(res).__name__}")
        loss, new = res
        compare_alternatives(
            np.asarray(loss, dtype=np.float64).reshape(()) if np.size(loss) == 1 else loss, exp_loss, "loss",
            {"the forward pass runs in test mode (dropout off): a training step uses mode='train'": eval_loss}, context=ctx,
        )
        if not isinstance(new, list) or len(new) != len(layers):
            raise Fail(f"train_step must return the updated layers as a list of {len(layers)} dicts ({ctx})")
        for i, (g, e) in enumerate(zip(new, exp_layers)):
            for key in ("w", "b"):
                if key not in e:
                    continue
                if not isinstance(g, dict) or key not in g:
                    raise Fail(f"layer {i} of the returned layers has no {key!r} ({ctx})")
                w0 = theirs[i][key]
                bugs = {
                    "the update has the wrong sign (w + learning_rate·dw climbs the loss)": w0 + lr * grads[i][key],
                    "the gradients come from a test-mode forward pass (dropout off): train in mode='train'": w0 - lr * g_eval[i][key],
                    "the learning rate is missing (w − dw)": w0 - grads[i][key],
                }
                if prev_grads is not None:
                    bugs["the gradients of the previous step are added to this step's (accumulated, never reset): "
                         "use only this batch's gradients"] = w0 - lr * (grads[i][key] + prev_grads[i][key])
                compare_alternatives(g[key], e[key], f"layer {i} {key!r} after the step", bugs, context=ctx)
        prev_grads = grads
        mine, theirs = _copy_layers(new), exp_layers


def _batches(rng: np.random.Generator, n: int, shape: tuple[int, ...], k: int, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rng.standard_normal((n, *shape)), rng.integers(0, k, n)) for _ in range(steps)]


@_t3.check("one step on a small CNN with dropout (batch of 4, learning_rate 0.1)", 1, tolerance='rtol 1e-6')
def _t3_visible(S: Student) -> None:
    rng = np.random.default_rng(3)
    _check_steps(S, _net(rng, _NET_ARCH, (1, 6, 6)), _batches(rng, 4, (1, 6, 6), 4, 1), 0.1)


@_t3.check("three steps in a row (the state carries over, nothing accumulates); other nets and rates", 1.5, hidden=True, tolerance='rtol 1e-6')
def _t3_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "train_step")
    _check_steps(S, _net(rng, _NET_ARCH, (1, 6, 6)), _batches(rng, 5, (1, 6, 6), 4, 3), 0.05)
    arch, shape = HIDDEN_ARCHS[1]
    _check_steps(S, _net(rng, arch, shape), _batches(rng, 1, shape, 7, 2), 0.2)


# ---------------------------------------------------------------------------------------------
# Task 4: train on the digits
# ---------------------------------------------------------------------------------------------

_t4 = task(f"{ASSIGNMENT}.digits", f"train DIGITS_ARCH on the 8×8 digits to {TARGET_ACCURACY:.0%} test accuracy", ["train_digits"], needs=["architectures", "data"])


def _digits() -> Any:
    return REF["data"].load_digits(dtype=np.float64)


def _train_and_score(S: Student, seed: int) -> float:
    data = _digits()
    t0 = time.perf_counter()
    layers = S.fn("train_digits")(data.X_train.copy(), data.y_train.copy(), seed)
    seconds = time.perf_counter() - t0
    expected = _reference()["build_network"](DIGITS_ARCH, data.X_train.shape[1:], 0)
    if not isinstance(layers, list) or len(layers) != len(expected):
        raise Fail(f"train_digits must return the trained layers of DIGITS_ARCH (a list of {len(expected)} dicts)")
    for i, (g, e) in enumerate(zip(layers, expected)):
        for key in ("w", "b"):
            if key in e and (not isinstance(g, dict) or key not in g or np.shape(g[key]) != e[key].shape):
                raise Fail(f"layer {i} of the result must have {key!r} of shape {e[key].shape} (the DIGITS_ARCH network)")
    scores, _ = _reference()["model_forward"](_copy_layers(layers), data.X_test.copy(), mode="test", seed=0)
    acc = float(np.mean(scores.argmax(axis=1) == data.y_test))
    if acc < TARGET_ACCURACY:
        raise Fail(
            f"test accuracy {acc:.1%} after training (seed {seed}, {seconds:.1f} s), below the required "
            f"{TARGET_ACCURACY:.0%}. Is the loss going down? Try more epochs or another learning rate, and "
            "check train_step on a batch first."
        )
    return acc


@_t4.check(f"train_digits(X_train, y_train, seed=0) reaches {TARGET_ACCURACY:.0%} on the test split (time limit {TRAIN_SECONDS:g} s)", 2, timeout=TRAIN_SECONDS, tolerance=f"accuracy ≥ {TARGET_ACCURACY:.0%}")
def _t4_visible(S: Student) -> None:
    _train_and_score(S, 0)


@_t4.check(f"the same with seed=1 (no luck involved): {TARGET_ACCURACY:.0%}", 1, hidden=True, timeout=TRAIN_SECONDS, tolerance=f"accuracy ≥ {TARGET_ACCURACY:.0%}")
def _t4_hidden(S: Student) -> None:
    _train_and_score(S, 1)
