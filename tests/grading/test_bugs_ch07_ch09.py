"""The grader on realistic student code, chapters 7-9: bugs lose points with a message naming the
bug, correct alternative implementations get full marks. In-process (forked checks), no nbgrader."""

from __future__ import annotations

import numpy as np
import pytest
from grading_helpers import grade_both, notebook_namespace

from course_lib import grading

_NS_CACHE: dict[str, dict] = {}


def student(task: str, overrides: dict) -> dict:
    """The solution notebook's namespace with some functions replaced, as a student would."""
    a = task.split(".")[0]
    if a not in _NS_CACHE:
        _NS_CACHE[a] = notebook_namespace(a)
    ns = notebook_namespace(a)
    ns.update(overrides)
    return ns


# ============================================================== chapter 7: batch normalisation
def _bn_stats(x, bn_param, *, unbiased=True, reverse=False, axis=0, test_uses_batch=False):
    mode = bn_param.get("mode", "train")
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    n, d = x.shape
    rm, rv = bn_param.get("running_mean", np.zeros(d)), bn_param.get("running_var", np.ones(d))
    if mode == "train" or test_uses_batch:
        mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
        if mode == "train":
            bv = x.var(axis=0) * (n / (n - 1) if unbiased else 1)
            a, b = (1 - m, m) if reverse else (m, 1 - m)
            bn_param["running_mean"] = a * rm + b * x.mean(axis=0)
            bn_param["running_var"] = a * rv + b * bv
    else:
        mu, var = rm, rv
    return mu, var, eps


def _bn_forward(x, gamma, beta, bn_param, **kw):
    mu, var, eps = _bn_stats(x, bn_param, **kw)
    ivar = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * ivar
    return gamma * xhat + beta, {"x": x, "xhat": xhat, "ivar": ivar, "gamma": gamma, "mu": mu, "var": var, "eps": eps, "mode": bn_param.get("mode", "train")}


def bn_forward_biased_running_var(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, unbiased=False)


def bn_forward_pytorch_momentum(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, reverse=True)


def bn_forward_wrong_axis(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, axis=1)


def bn_forward_test_uses_batch(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, test_uses_batch=True)


def bn_forward_inplace(x, gamma, beta, bn_param):
    out, cache = _bn_forward(x.copy(), gamma, beta, bn_param)
    x -= x.mean(axis=0)  # "centre first": changes the caller's array
    return out, cache


def _bn_backward(dout, cache, *, mean_term=True, var_term=True, param_mean=False):
    xhat, ivar, gamma = cache["xhat"], cache["ivar"], cache["gamma"]
    n = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * xhat).sum(axis=0)
    if param_mean:
        dbeta, dgamma = dbeta / n, dgamma / n
    dxhat = dout * gamma
    if cache["mode"] == "test":
        return dxhat * ivar, dgamma, dbeta
    dx = n * dxhat
    if mean_term:
        dx = dx - dxhat.sum(axis=0)
    if var_term:
        dx = dx - xhat * (dxhat * xhat).sum(axis=0)
    return ivar / n * dx, dgamma, dbeta


def bn_backward_no_mean_term(dout, cache):
    return _bn_backward(dout, cache, mean_term=False)


def bn_backward_no_var_term(dout, cache):
    return _bn_backward(dout, cache, var_term=False)


def bn_backward_params_mean(dout, cache):
    return _bn_backward(dout, cache, param_mean=True)


def bn_backward_staged(dout, cache):
    """Correct: the computational graph node by node (CS231n style), from x, mu, var, eps."""
    x, mu, var, eps, gamma = cache["x"], cache["mu"], cache["var"], cache["eps"], cache["gamma"]
    n = x.shape[0]
    xmu = x - mu
    sqrtvar = np.sqrt(var + eps)
    ivar = 1 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    if cache["mode"] == "test":
        return dxhat * ivar, dgamma, dbeta
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar**2
    dvar = 0.5 * dsqrtvar / sqrtvar
    dsq = np.ones_like(x) * dvar / n
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dx1, axis=0)
    return dx1 + dmu / n, dgamma, dbeta


def bn_forward_loops(x, gamma, beta, bn_param):
    """Correct, with explicit loops over the features."""
    n, d = x.shape
    mode = bn_param.get("mode", "train")
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm = np.array(bn_param.get("running_mean", np.zeros(d)), dtype=float)
    rv = np.array(bn_param.get("running_var", np.ones(d)), dtype=float)
    out = np.empty_like(x)
    xhat = np.empty_like(x)
    ivar = np.empty(d)
    for j in range(d):
        col = x[:, j]
        if mode == "train":
            mu = sum(col) / n
            var = sum((c - mu) ** 2 for c in col) / n
            rm[j] = m * rm[j] + (1 - m) * mu
            rv[j] = m * rv[j] + (1 - m) * var * n / (n - 1)
        else:
            mu, var = rm[j], rv[j]
        ivar[j] = 1 / np.sqrt(var + eps)
        xhat[:, j] = (col - mu) * ivar[j]
        out[:, j] = gamma[j] * xhat[:, j] + beta[j]
    if mode == "train":
        bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return out, {"x": x, "xhat": xhat, "ivar": ivar, "gamma": gamma, "mode": mode}


def spatial_forward_no_transpose(x, gamma, beta, bn_param):
    ns = _NS_CACHE["ch07_batchnorm"]
    c = x.shape[1]
    out, cache = ns["batchnorm_forward"](x.reshape(-1, c), gamma, beta, bn_param)
    return out.reshape(x.shape), (cache, x.shape)


def spatial_backward_no_transpose(dout, cache):
    ns = _NS_CACHE["ch07_batchnorm"]
    inner, shape = cache
    dx, dg, db = ns["batchnorm_backward"](dout.reshape(-1, shape[1]), inner)
    return dx.reshape(shape), dg, db


def spatial_forward_moveaxis(x, gamma, beta, bn_param):
    """Correct alternative: np.moveaxis instead of transpose."""
    ns = _NS_CACHE["ch07_batchnorm"]
    c = x.shape[1]
    rows = np.moveaxis(x, 1, -1).reshape(-1, c)
    out, cache = ns["batchnorm_forward"](rows, gamma, beta, bn_param)
    return np.moveaxis(out.reshape(np.moveaxis(x, 1, -1).shape), -1, 1), (cache, x.shape)


def spatial_backward_moveaxis(dout, cache):
    ns = _NS_CACHE["ch07_batchnorm"]
    inner, shape = cache
    c = shape[1]
    dx, dg, db = ns["batchnorm_backward"](np.moveaxis(dout, 1, -1).reshape(-1, c), inner)
    return np.moveaxis(dx.reshape(np.moveaxis(dout, 1, -1).shape), -1, 1), dg, db


_BN_ALT = {"batchnorm_forward": lambda *a: _bn_forward(*a)}

BUGS = [
    # (task, overrides, a phrase the report must contain)
    ("ch07_batchnorm.backward", {"batchnorm_backward": bn_backward_no_mean_term}, "the mean term is missing"),
    ("ch07_batchnorm.backward", {"batchnorm_backward": bn_backward_no_var_term}, "the variance term is missing"),
    ("ch07_batchnorm.backward", {"batchnorm_backward": bn_backward_params_mean}, "dgamma is divided by N"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_biased_running_var}, "updated with the biased"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_pytorch_momentum}, "PyTorch's convention"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_test_uses_batch}, "test mode uses the batch statistics"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_wrong_axis}, "normalised over the wrong axis"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_inplace}, "changed its argument `x` in place"),
    ("ch07_batchnorm.spatial", {"spatial_batchnorm_forward": spatial_forward_no_transpose,
                                "spatial_batchnorm_backward": spatial_backward_no_transpose}, "without first moving the channel axis last"),
]

ALTERNATIVES = [
    ("ch07_batchnorm.backward", {"batchnorm_forward": _BN_ALT["batchnorm_forward"], "batchnorm_backward": bn_backward_staged}),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_loops}),
    ("ch07_batchnorm.backward", {"batchnorm_forward": bn_forward_loops}),
    ("ch07_batchnorm.spatial", {"spatial_batchnorm_forward": spatial_forward_moveaxis,
                                "spatial_batchnorm_backward": spatial_backward_moveaxis}),
]


# ============================================================== chapter 8: dropout, initialisation
def _dropout(x, keep_prob, mode, rng, *, scale="inverse", invert=False, test_drops=False):
    if mode == "test" and not test_drops:
        return x.copy(), None
    u = np.random.default_rng(rng).random(x.shape)
    keep = (u >= keep_prob) if invert else (u < keep_prob)
    factor = {"inverse": 1 / keep_prob, "none": 1.0, "times": keep_prob}[scale]
    mask = keep * factor
    return x * mask, {"mask": mask, "keep_prob": keep_prob}


def dropout_forward_unscaled(x, keep_prob=0.5, *, mode="train", rng=None):
    return _dropout(x, keep_prob, mode, rng, scale="none")


def dropout_forward_times_keep(x, keep_prob=0.5, *, mode="train", rng=None):
    return _dropout(x, keep_prob, mode, rng, scale="times")


def dropout_forward_inverted_comparison(x, keep_prob=0.5, *, mode="train", rng=None):
    return _dropout(x, keep_prob, mode, rng, invert=True)


def dropout_forward_test_drops(x, keep_prob=0.5, *, mode="train", rng=None):
    return _dropout(x, keep_prob, mode, rng, test_drops=True)


def dropout_forward_dict_cache(x, keep_prob=0.5, *, mode="train", rng=None):
    return _dropout(x, keep_prob, mode, rng)


def dropout_backward_fresh_mask(dout, cache):
    if cache is None:
        return dout.copy()
    p = cache["keep_prob"]
    return dout * (np.random.default_rng().random(dout.shape) < p) / p  # a new mask


def dropout_backward_dict_cache(dout, cache):
    return dout.copy() if cache is None else dout * cache["mask"]


def dropout_forward_binomial(x, keep_prob=0.5, *, mode="train", rng=None):
    """Correct alternative: another way to draw the mask (not the same numbers as rng.random)."""
    if mode == "test":
        return x.copy(), None
    mask = np.random.default_rng(rng).binomial(1, keep_prob, size=x.shape) / keep_prob
    return x * mask, mask


def _init(shape, rng, var):
    return np.random.default_rng(rng).normal(0.0, np.sqrt(var), size=shape)


def _fans_ok(shape):
    if len(shape) == 2:
        return shape[0], shape[1]
    f, c, hh, ww = shape
    return c * hh * ww, f * hh * ww


def he_init_fan_out(shape, rng=None):
    return _init(shape, rng, 2 / _fans_ok(shape)[1])


def he_init_lecun(shape, rng=None):
    return _init(shape, rng, 1 / _fans_ok(shape)[0])


def he_init_std_as_var(shape, rng=None):
    return np.random.default_rng(rng).standard_normal(shape) * (2 / _fans_ok(shape)[0])


def fans_channels_only(shape):
    return (shape[0], shape[1]) if len(shape) == 2 else (shape[1], shape[0])


def he_init_uniform(shape, rng=None):
    """Correct in variance (uniform on ±sqrt(6/fan_in)): the task asks for variance 2/fan_in."""
    a = np.sqrt(6 / _fans_ok(shape)[0])
    return np.random.default_rng(rng).uniform(-a, a, size=shape)


BUGS += [
    ("ch08_dropout.forward", {"dropout_forward": dropout_forward_unscaled}, "not divided by keep_prob"),
    ("ch08_dropout.forward", {"dropout_forward": dropout_forward_times_keep}, "multiplied by keep_prob"),
    ("ch08_dropout.forward", {"dropout_forward": dropout_forward_inverted_comparison}, "DROP with probability keep_prob"),
    ("ch08_dropout.forward", {"dropout_forward": dropout_forward_test_drops}, "test mode still drops"),
    ("ch08_dropout.backward", {"dropout_forward": dropout_forward_dict_cache, "dropout_backward": dropout_backward_fresh_mask}, "a fresh mask drawn in backward"),
    ("ch08_dropout.init", {"he_init": he_init_fan_out}, "fan_out instead of fan_in"),
    ("ch08_dropout.init", {"he_init": he_init_lecun}, "1/fan_in (LeCun)"),
    ("ch08_dropout.init", {"he_init": he_init_std_as_var}, "standard deviation is set to the variance"),
    ("ch08_dropout.init", {"fans": fans_channels_only}, "kernel size is missing"),
]

ALTERNATIVES += [
    ("ch08_dropout.forward", {"dropout_forward": dropout_forward_binomial}),
    ("ch08_dropout.backward", {"dropout_forward": dropout_forward_binomial}),
    ("ch08_dropout.backward", {"dropout_forward": dropout_forward_dict_cache, "dropout_backward": dropout_backward_dict_cache}),
    ("ch08_dropout.init", {"he_init": he_init_uniform}),
]


# ============================================================== the tests
def _id(t: str, o: dict) -> str:
    return f"{t}-{'+'.join(getattr(f, '__name__', k) for k, f in o.items())}"


@pytest.mark.parametrize(("task", "overrides", "phrase"), BUGS, ids=[_id(t, o) for t, o, _ in BUGS])
def test_bug_loses_points_with_pointed_message(task, overrides, phrase):
    earned, possible, report = grade_both(task, student(task, overrides))
    assert earned < possible, report
    assert phrase in report, report


@pytest.mark.parametrize(("task", "overrides"), ALTERNATIVES, ids=[_id(t, o) for t, o in ALTERNATIVES])
def test_correct_alternative_gets_full_marks(task, overrides):
    earned, possible, report = grade_both(task, student(task, overrides))
    assert earned == possible, report


_MINE = ("ch07_batchnorm", "ch08_dropout", "ch09_architectures")


@pytest.mark.parametrize("task", [t for t in grading.TASKS if t.split(".")[0] in _MINE])
def test_reference_full_marks_and_stub_zero(task):
    earned, possible, report = grade_both(task, student(task, {}))
    assert earned == possible > 0, report

    def stub(*args, **kwargs):
        raise NotImplementedError()

    stubs = {f: stub for f in grading.TASKS[task].functions}
    earned, possible, report = grade_both(task, student(task, stubs))
    assert earned == 0, report
    assert "not implemented yet" in report
