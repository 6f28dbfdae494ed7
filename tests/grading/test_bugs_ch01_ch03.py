"""The grader on realistic student code, chapters 1-3: bugs lose points with a pointed message,
correct alternative implementations get full marks. In-process (forked checks), no nbgrader."""

from __future__ import annotations

import numpy as np
import pytest
from grading_helpers import (
    assert_full_marks,
    assert_loses_points,
    assert_reference_full_and_stub_zero,
    notebook_namespace,
)
from grading_helpers import student_namespace as student

from course_grader import grading

NS = notebook_namespace("ch01_neuron")  # for ACTIVATIONS in the versions below


# ------------------------------------------------------------------ chapter 1 buggy versions
def sigmoid_naive(z):
    return 1 / (1 + np.exp(-z))  # overflows for z = -1000


def sigmoid_backward_missing_factor(dout, cache):
    return dout * cache  # forgot (1 - out)


def sigmoid_backward_inplace(dout, cache):
    dout *= cache * (1 - cache)
    return dout


def tanh_backward_factor2(dout, cache):
    return 2 * dout * (1 - cache**2)


def tanh_backward_sign(dout, cache):
    return dout * (cache**2 - 1)


def relu_backward_everywhere(dout, cache):
    return dout.copy()  # the gradient also flows where x < 0


def relu_backward_at_zero(dout, cache):
    return dout * (cache >= 0)  # relu'(0) taken as 1: only x = 0 exactly shows it


def relu_forward_inplace(x):
    x[x < 0] = 0
    return x, x


def neuron_forward_no_bias(x, w, b, activation="sigmoid"):
    f, _ = NS["ACTIVATIONS"][activation]
    out, _ = f(x @ w)
    return out, None


def neuron_forward_no_activation(x, w, b, activation="sigmoid"):
    return x @ w + b, None


def neuron_forward_wrong_order(x, w, b, activation="sigmoid"):
    f, _ = NS["ACTIVATIONS"][activation]
    out, _ = f(w @ x + b)  # w @ x: fine for one example, wrong for a batch or a layer
    return out, None


# ------------------------------------------------------------------ chapter 2 buggy versions
def mse_no_half(pred, target):
    d = pred - target
    return float(np.sum(d * d) / pred.shape[0]), 2 * d / pred.shape[0]


def mse_sum_not_mean(pred, target):
    d = pred - target
    return float(np.sum(d * d) / 2), d


def mse_grad_not_divided(pred, target):
    d = pred - target
    return float(np.sum(d * d) / (2 * pred.shape[0])), d


def softmax_ce_overflow(scores, y):
    e = np.exp(scores)  # no max subtraction
    p = e / e.sum(axis=1, keepdims=True)
    n = scores.shape[0]
    loss = -np.mean(np.log(p[np.arange(n), y]))
    d = p.copy()
    d[np.arange(n), y] -= 1
    return float(loss), d / n


def softmax_ce_wrong_axis(scores, y):
    s = scores - scores.max(axis=0, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=0, keepdims=True)  # normalised over the batch
    n = scores.shape[0]
    d = p.copy()
    d[np.arange(n), y] -= 1
    return float(-np.mean(np.log(p[np.arange(n), y]))), d / n


def softmax_ce_no_onehot(scores, y):
    s = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    n = scores.shape[0]
    return float(-np.mean(np.log(p[np.arange(n), y]))), p / n


def softmax_ce_grad_transposed(scores, y):
    s = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    n = scores.shape[0]
    d = p.copy()
    d[np.arange(n), y] -= 1
    return float(-np.mean(np.log(p[np.arange(n), y]))), (d / n).T


def softmax_ce_inplace(scores, y):
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    n = scores.shape[0]
    d = p.copy()
    d[np.arange(n), y] -= 1
    return float(-np.mean(np.log(p[np.arange(n), y]))), d / n


def hinge_counts_correct_class(scores, y, margin=1.0):
    n = scores.shape[0]
    m = np.maximum(0, scores - scores[np.arange(n), y][:, None] + margin)  # j = y term kept
    d = (m > 0).astype(float)
    d[np.arange(n), y] -= (m > 0).sum(axis=1)
    return float(m.sum() / n), d / n


def hinge_no_correct_class_grad(scores, y, margin=1.0):
    n = scores.shape[0]
    m = np.maximum(0, scores - scores[np.arange(n), y][:, None] + margin)
    m[np.arange(n), y] = 0
    return float(m.sum() / n), (m > 0).astype(float) / n


# ------------------------------------------------------------------ chapter 3 buggy versions
def sgd_momentum_stateless(w, dw, config=None):
    config = dict(config or {})
    lr, mu = config.get("learning_rate", 1e-2), config.get("momentum", 0.9)
    v = mu * config.get("velocity", np.zeros_like(w)) - lr * dw
    return w + v, config  # velocity never stored


def sgd_momentum_sign(w, dw, config=None):
    config = dict(config or {})
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop_no_sqrt(w, dw, config=None):
    config = dict(config or {})
    for k, v in {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}.items():
        config.setdefault(k, v)
    cache = config["decay_rate"] * config.get("cache", np.zeros_like(w)) + (1 - config["decay_rate"]) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (cache + config["epsilon"]), config


def _rmsprop(w, dw, config, *, eps_inside=False, no_one_minus=False, lr=1e-2):
    config = dict(config or {})
    for k, v in {"learning_rate": lr, "decay_rate": 0.99, "epsilon": 1e-8}.items():
        config.setdefault(k, v)
    rho, eps = config["decay_rate"], config["epsilon"]
    cache = rho * config.get("cache", np.zeros_like(w)) + (1 if no_one_minus else 1 - rho) * dw**2
    config["cache"] = cache
    denom = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
    return w - config["learning_rate"] * dw / denom, config


def rmsprop_eps_inside_sqrt(w, dw, config=None):
    return _rmsprop(w, dw, config, eps_inside=True)


def rmsprop_no_one_minus_rho(w, dw, config=None):
    return _rmsprop(w, dw, config, no_one_minus=True)


def rmsprop_default_lr_1e3(w, dw, config=None):
    return _rmsprop(w, dw, config, lr=1e-3)


def _adam(w, dw, config, *, bias_correction=True, early_t=False, inplace=False, eps_inside=False, lr=1e-3, kingma=False):
    config = {} if config is None else config
    for k, v in {"learning_rate": lr, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}.items():
        config.setdefault(k, v)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    if not early_t:
        config["t"] += 1
    b1, b2, t = config["beta1"], config["beta2"], max(config["t"], 1)
    config["m"] = b1 * config["m"] + (1 - b1) * dw
    config["v"] = b2 * config["v"] + (1 - b2) * dw**2
    mh, vh = config["m"], config["v"]
    if kingma:
        # Kingma & Ba's "efficient" form: α_t = α·√(1 − β₂ᵗ)/(1 − β₁ᵗ), ε̂ = ε·√(1 − β₂ᵗ): the same update
        alpha = config["learning_rate"] * np.sqrt(1 - b2**t) / (1 - b1**t)
        step = alpha * mh / (np.sqrt(vh) + config["epsilon"] * np.sqrt(1 - b2**t))
    else:
        if bias_correction:
            mh, vh = mh / (1 - b1**t), vh / (1 - b2**t)
        denom = np.sqrt(vh + config["epsilon"]) if eps_inside else np.sqrt(vh) + config["epsilon"]
        step = config["learning_rate"] * mh / denom
    if early_t:
        config["t"] += 1
    if inplace:
        w -= step
        return w, config
    return w - step, config


def adam_cs231n(w, dw, config=None):
    """Correct, CS231n style: mutates and returns the same config dict."""
    return _adam(w, dw, config)


def adam_no_bias_correction(w, dw, config=None):
    return _adam(w, dw, config, bias_correction=False)


def adam_t_late(w, dw, config=None):
    return _adam(w, dw, config, early_t=True)


def adam_inplace(w, dw, config=None):
    return _adam(w, dw, config, inplace=True)


def adam_eps_inside_sqrt(w, dw, config=None):
    return _adam(w, dw, config, eps_inside=True)  # 0.707× the step at |g| = 1e-4


def adam_default_lr_1e2(w, dw, config=None):
    return _adam(w, dw, config, lr=1e-2)


def adam_kingma(w, dw, config=None):
    """Correct: the paper's efficient form (ε̂ = ε·√(1 − β₂ᵗ) makes it exactly the standard update)."""
    return _adam(w, dw, config, kingma=True)


def softmax_ce_log_eps(scores, y):
    s = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    n = scores.shape[0]
    d = p.copy()
    d[np.arange(n), y] -= 1
    return float(-np.mean(np.log(p[np.arange(n), y] + 1e-7))), d / n  # 16.1 where the loss is 2000


# ------------------------------------------------------------------ correct alternatives
def sigmoid_via_tanh(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def relu_forward_mask(x):
    return x * (x > 0), x


def relu_backward_mask(dout, cache):
    return dout * (cache > 0)


def softmax_ce_logsumexp(scores, y):
    n = scores.shape[0]
    m = scores.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(scores - m).sum(axis=1))
    loss = np.mean(lse - scores[np.arange(n), y])
    p = np.exp(scores - lse[:, None])
    onehot = np.eye(scores.shape[1])[y]
    return float(loss), (p - onehot) / n


def mse_vdot(pred, target):
    d = pred - target
    return float(np.vdot(d, d) / (2 * len(pred))), d / len(pred)


def hinge_loops(scores, y, margin=1.0):
    n, c = scores.shape
    loss, d = 0.0, np.zeros_like(scores)
    for i in range(n):
        for j in range(c):
            if j == y[i]:
                continue
            m = scores[i, j] - scores[i, y[i]] + margin
            if m > 0:
                loss += m
                d[i, j] += 1
                d[i, y[i]] -= 1
    return loss / n, d / n


def neuron_forward_einsum(x, w, b, activation="sigmoid"):
    f, _ = NS["ACTIVATIONS"][activation]
    z = np.einsum("...d,d...->...", x, w) if w.ndim == 1 else np.einsum("...d,dm->...m", x, w)
    out, _ = f(np.asarray(z + b))
    return out, None


BUGS = [
    # (task, overrides, a phrase the report must contain)
    ("ch01_neuron.sigmoid", {"sigmoid": sigmoid_naive}, "overflow"),
    ("ch01_neuron.sigmoid", {"sigmoid_backward": sigmoid_backward_missing_factor}, "disagrees with the numerical gradient"),
    ("ch01_neuron.sigmoid", {"sigmoid_backward": sigmoid_backward_inplace}, "changed its argument `dout` in place"),
    ("ch01_neuron.tanh", {"tanh_backward": tanh_backward_factor2}, "factor 2 too large"),
    ("ch01_neuron.tanh", {"tanh_backward": tanh_backward_sign}, "wrong sign"),
    ("ch01_neuron.relu", {"relu_backward": relu_backward_everywhere}, "the mask is missing"),
    ("ch01_neuron.relu", {"relu_backward": relu_backward_at_zero}, "the gradient passes at x = 0"),
    ("ch01_neuron.relu", {"relu_forward": relu_forward_inplace}, "changed its argument `x` in place"),
    ("ch01_neuron.neuron", {"neuron_forward": neuron_forward_no_bias}, "the bias b is not added"),
    ("ch01_neuron.neuron", {"neuron_forward": neuron_forward_no_activation}, "the activation is not applied"),
    ("ch01_neuron.neuron", {"neuron_forward": neuron_forward_wrong_order}, "neuron_forward raised ValueError"),
    ("ch02_loss.mse", {"mse_loss": mse_no_half}, "factor 2 too large"),
    ("ch02_loss.mse", {"mse_loss": mse_sum_not_mean}, "times too large"),
    ("ch02_loss.mse", {"mse_loss": mse_grad_not_divided}, "disagrees with the numerical gradient"),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_overflow}, "overflow"),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_wrong_axis}, "loss is wrong"),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_no_onehot}, "disagrees with the numerical gradient"),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_inplace}, "changed its argument `scores` in place"),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_grad_transposed},
     "likely cause: transposed: the gradient has shape"),
    ("ch02_loss.hinge", {"hinge_loss": hinge_counts_correct_class}, "loss is wrong"),
    ("ch02_loss.hinge", {"hinge_loss": hinge_no_correct_class_grad}, "disagrees with the numerical gradient"),
    ("ch03_gradient_descent.sgd_momentum", {"sgd_momentum": sgd_momentum_stateless}, "config has no 'velocity'"),
    ("ch03_gradient_descent.sgd_momentum", {"sgd_momentum": sgd_momentum_sign}, "wrong sign"),
    ("ch03_gradient_descent.rmsprop", {"rmsprop": rmsprop_no_sqrt}, "instead of its square root"),
    ("ch03_gradient_descent.adam", {"adam": adam_no_bias_correction}, "the bias correction is missing"),
    ("ch03_gradient_descent.adam", {"adam": adam_t_late}, "step counter t is not incremented"),
    ("ch03_gradient_descent.adam", {"adam": adam_inplace}, "changed its argument `w` in place"),
    ("ch03_gradient_descent.adam", {"adam": adam_eps_inside_sqrt}, "ε is inside the square root"),
    ("ch03_gradient_descent.adam", {"adam": adam_default_lr_1e2}, "documented default learning_rate=0.001; yours steps as with learning_rate=0.01"),
    ("ch03_gradient_descent.rmsprop", {"rmsprop": rmsprop_eps_inside_sqrt}, "ε is inside the square root"),
    ("ch03_gradient_descent.rmsprop", {"rmsprop": rmsprop_no_one_minus_rho}, "not weighted by (1 − decay_rate)"),
    ("ch03_gradient_descent.rmsprop", {"rmsprop": rmsprop_default_lr_1e3}, "documented default learning_rate=0.01; yours steps as with learning_rate=0.001"),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_log_eps}, "log(p + 1e-07) (or p clipped at 1e-07) caps an example's loss"),
]


@pytest.mark.parametrize(("task", "overrides", "phrase"), BUGS, ids=[f"{t}-{next(iter(o.values())).__name__}" for t, o, _ in BUGS])
def test_bug_loses_points_with_pointed_message(task, overrides, phrase):
    assert_loses_points(task, student(task, overrides), phrase)


ALTERNATIVES = [
    ("ch01_neuron.sigmoid", {"sigmoid": sigmoid_via_tanh}),
    ("ch01_neuron.relu", {"relu_forward": relu_forward_mask, "relu_backward": relu_backward_mask}),
    ("ch01_neuron.neuron", {"neuron_forward": neuron_forward_einsum}),
    ("ch02_loss.softmax", {"softmax_cross_entropy": softmax_ce_logsumexp}),
    ("ch02_loss.mse", {"mse_loss": mse_vdot}),
    ("ch02_loss.hinge", {"hinge_loss": hinge_loops}),
    ("ch03_gradient_descent.adam", {"adam": adam_cs231n}),
    ("ch03_gradient_descent.adam", {"adam": adam_kingma}),
]


@pytest.mark.parametrize(("task", "overrides"), ALTERNATIVES, ids=[f"{t}-{next(iter(o.values())).__name__}" for t, o in ALTERNATIVES])
def test_correct_alternative_gets_full_marks(task, overrides):
    assert_full_marks(task, student(task, overrides))


@pytest.mark.parametrize("task", [t for t in grading.TASKS if t.split(".")[0] in ("ch01_neuron", "ch02_loss", "ch03_gradient_descent")])
def test_reference_full_marks_and_stub_zero(task):
    assert_reference_full_and_stub_zero(task, student)
