"""The grader on realistic student code, chapters 7-9: bugs lose points with a message naming the
bug, correct alternative implementations get full marks. In-process (forked checks), no nbgrader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from grading_helpers import (
    COURSE,
    assert_full_marks,
    assert_loses_points,
    assert_reference_full_and_stub_zero,
    notebook_namespace,
    student_namespace,
)

from course_grader import grading

_NS_CACHE: dict[str, dict] = {}


def student(task: str, overrides: dict) -> dict:
    """A fresh solution namespace with some functions replaced, as a student would; also keeps
    one untouched namespace per assignment in ``_NS_CACHE`` for the versions below to call."""
    a = task.split(".")[0]
    if a not in _NS_CACHE:
        _NS_CACHE[a] = notebook_namespace(a)
    return student_namespace(task, overrides)


# ============================================================== chapter 7: batch normalisation
def _bn_stats(x, bn_param, *, unbiased=True, reverse=False, axis=0, test_uses_batch=False, var_init=1.0):
    mode = bn_param.get("mode", "train")
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    n, d = x.shape
    rm, rv = bn_param.get("running_mean", np.zeros(d)), bn_param.get("running_var", np.full(d, var_init))
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


def _bn_forward(x, gamma, beta, bn_param, eps_outside=False, **kw):
    mu, var, eps = _bn_stats(x, bn_param, **kw)
    ivar = 1 / (np.sqrt(var) + eps) if eps_outside else 1 / np.sqrt(var + eps)
    xhat = (x - mu) * ivar
    return gamma * xhat + beta, {"x": x, "xhat": xhat, "ivar": ivar, "gamma": gamma, "mu": mu, "var": var, "eps": eps, "mode": bn_param.get("mode", "train")}


def bn_forward_biased_running_var(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, unbiased=False)


def bn_forward_pytorch_momentum(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, reverse=True)


def bn_forward_eps_outside_sqrt(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, eps_outside=True)


def bn_forward_running_var_zeros(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, var_init=0.0)


def bn_forward_wrong_axis(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, axis=1)


def bn_forward_test_uses_batch(x, gamma, beta, bn_param):
    return _bn_forward(x, gamma, beta, bn_param, test_uses_batch=True)


def bn_forward_inplace(x, gamma, beta, bn_param):
    out, cache = _bn_forward(x.copy(), gamma, beta, bn_param)
    x -= x.mean(axis=0)  # "centre first": changes the caller's array
    return out, cache


class BatchNormalization:
    """A layer object as in Deep Learning from Scratch: forward keeps what backward needs on self."""

    def __init__(self, gamma, beta, bn_param):
        self.gamma, self.beta, self.bn_param = gamma, beta, bn_param

    def forward(self, x):
        mode = self.bn_param.get("mode", "train")
        eps, m = self.bn_param.get("eps", 1e-5), self.bn_param.get("momentum", 0.9)
        d = x.shape[1]
        if mode == "train":
            mu, var = x.mean(axis=0), x.var(axis=0)
            rm, rv = self.bn_param.get("running_mean", np.zeros(d)), self.bn_param.get("running_var", np.ones(d))
            self.bn_param["running_mean"] = m * rm + (1 - m) * mu
            self.bn_param["running_var"] = m * rv + (1 - m) * x.var(axis=0, ddof=1)
        else:
            mu, var = self.bn_param["running_mean"], self.bn_param["running_var"]
        self.train = mode == "train"
        self.xc = x - mu
        self.std = np.sqrt(var + eps)
        self.xn = self.xc / self.std
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        if not self.train:
            return dxc, dgamma, dbeta
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / n, dgamma, dbeta


def bn_forward_class(x, gamma, beta, bn_param):
    layer = BatchNormalization(gamma, beta, bn_param)
    return layer.forward(x), layer  # the cache is the layer object itself


def bn_backward_class(dout, cache):
    return cache.backward(dout)


def _bn_backward(dout, cache, *, mean_term=True, var_term=True, param_mean=False, test_as_train=False, dmu_sign=-1):
    xhat, ivar, gamma = cache["xhat"], cache["ivar"], cache["gamma"]
    n = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * xhat).sum(axis=0)
    if param_mean:
        dbeta, dgamma = dbeta / n, dgamma / n
    dxhat = dout * gamma
    if cache["mode"] == "test" and not test_as_train:
        return dxhat * ivar, dgamma, dbeta
    dx = n * dxhat
    if mean_term:
        dx = dx + dmu_sign * dxhat.sum(axis=0)
    if var_term:
        dx = dx - xhat * (dxhat * xhat).sum(axis=0)
    return ivar / n * dx, dgamma, dbeta


def bn_backward_no_mean_term(dout, cache):
    return _bn_backward(dout, cache, mean_term=False)


def bn_backward_dmu_sign(dout, cache):
    return _bn_backward(dout, cache, dmu_sign=+1)


def bn_backward_test_as_train(dout, cache):
    return _bn_backward(dout, cache, test_as_train=True)


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


def bn_backward_dict(dout, cache):
    """Correct closed form, for the dict caches of the forward passes above."""
    return _bn_backward(dout, cache)


# The model solution's cache is the library's BatchNormCache, which the dict-cache versions above
# cannot read: a forward or backward of theirs is always paired with a dict-cache counterpart.
_BN_ALT = {"batchnorm_forward": lambda *a: _bn_forward(*a)}

BUGS = [
    # (task, overrides, a phrase the report must contain)
    ("ch07_batchnorm.backward", {**_BN_ALT, "batchnorm_backward": bn_backward_no_mean_term}, "the mean term is missing"),
    ("ch07_batchnorm.backward", {**_BN_ALT, "batchnorm_backward": bn_backward_no_var_term}, "the variance term is missing"),
    ("ch07_batchnorm.backward", {**_BN_ALT, "batchnorm_backward": bn_backward_params_mean}, "dgamma is divided by N"),
    ("ch07_batchnorm.backward", {**_BN_ALT, "batchnorm_backward": bn_backward_test_as_train}, "test-mode backward uses the train-mode formula"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_biased_running_var}, "updated with the biased"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_eps_outside_sqrt}, "eps is added outside the square root"),
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_running_var_zeros}, "the running variance starts at zeros"),
    ("ch07_batchnorm.backward", {**_BN_ALT, "batchnorm_backward": bn_backward_dmu_sign}, "the sign of dμ is wrong"),
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
    ("ch07_batchnorm.forward", {"batchnorm_forward": bn_forward_class}),
    ("ch07_batchnorm.backward", {"batchnorm_forward": bn_forward_class, "batchnorm_backward": bn_backward_class}),
    ("ch07_batchnorm.backward", {"batchnorm_forward": bn_forward_loops, "batchnorm_backward": bn_backward_dict}),
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


def dropout_backward_mask(dout, cache):
    """Correct, for a forward whose cache is the mask itself (None in test mode)."""
    return dout.copy() if cache is None else dout * cache


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
    ("ch08_dropout.backward", {"dropout_forward": dropout_forward_binomial, "dropout_backward": dropout_backward_mask}),
    ("ch08_dropout.backward", {"dropout_forward": dropout_forward_dict_cache, "dropout_backward": dropout_backward_dict_cache}),
    ("ch08_dropout.init", {"he_init": he_init_uniform}),
]


# ============================================================== chapter 9: a CNN from the parts
def _ns9():
    if "ch09_architectures" not in _NS_CACHE:
        _NS_CACHE["ch09_architectures"] = notebook_namespace("ch09_architectures")
    return _NS_CACHE["ch09_architectures"]


def summary_no_bias(arch, input_shape):
    return [(s, p - (layer.get("filters") or layer.get("units") or 0) if p else 0) for (s, p), layer in zip(_ns9()["summary"](arch, input_shape), arch)]


def summary_one_sided_pad(arch, input_shape):
    rows, shape = [], tuple(input_shape)
    for layer in arch:
        if layer["type"] == "conv":
            c, h, w = shape
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("pad", 0)
            shape = (layer["filters"], (h + p - k) // s + 1, (w + p - k) // s + 1)  # pad counted once
            rows.append((shape, layer["filters"] * (c * k * k + 1)))
        else:
            (shape, n), = _ns9()["summary"]([layer], shape)
            rows.append((shape, n))
    return rows


def _model_backward_variant(dscores, caches, *, reshape_back=True, grads_reversed=False):
    ns = _ns9()
    d, grads = dscores, []
    for kind, cache in reversed(caches):
        g = {}
        if kind == "conv":
            d, dw, db = ns["conv_backward"](d, cache)
            g = {"w": dw, "b": db}
        elif kind == "relu":
            d = ns["relu_backward"](d, cache)
        elif kind == "pool":
            d = ns["max_pool_backward"](d, cache)
        elif kind == "dropout":
            d = ns["dropout_backward"](d, cache)
        elif kind == "flatten":
            d = d.reshape(cache) if reshape_back else d
        elif kind == "affine":
            d, dw, db = ns["affine_backward"](d, cache)
            g = {"w": dw, "b": db}
        grads.append(g)
    return d, (grads if grads_reversed else grads[::-1])


def model_backward_no_unflatten(dscores, caches):
    return _model_backward_variant(dscores, caches, reshape_back=False)


def model_backward_grads_reversed(dscores, caches):
    return _model_backward_variant(dscores, caches, grads_reversed=True)


def model_backward_append_reverse(dscores, caches):
    """Correct alternative: collect in reverse, then reverse the list."""
    return _model_backward_variant(dscores, caches)


def model_backward_forward_order(dscores, caches):
    ns = _ns9()
    d, grads = dscores, []
    for kind, cache in caches:  # the layers in forward order
        fn = {"conv": ns["conv_backward"], "relu": ns["relu_backward"], "pool": ns["max_pool_backward"],
              "dropout": ns["dropout_backward"], "affine": ns["affine_backward"]}.get(kind)
        if fn is None:
            d = d.reshape(cache)
            grads.append({})
            continue
        res = fn(d, cache)
        d, g = (res[0], {"w": res[1], "b": res[2]}) if isinstance(res, tuple) else (res, {})
        grads.append(g)
    return d, grads


def model_forward_ignores_mode(layers, x, mode="train", seed=0):
    return _ns9()["model_forward"](layers, x, mode="train", seed=seed)


def _train_step_variant(layers, x, y, learning_rate=0.1, seed=0, *, sign=-1, mode="train", acc=None):
    ns = _ns9()
    scores, caches = ns["model_forward"](layers, x, mode=mode, seed=seed)
    loss, dscores = ns["softmax_cross_entropy"](scores, y)
    _, grads = ns["model_backward"](dscores, caches)
    new = []
    for i, (layer, g) in enumerate(zip(layers, grads)):
        layer = dict(layer)
        for k, dv in g.items():
            if acc is not None:  # a running sum of gradients that is never reset
                acc[(i, k)] = acc.get((i, k), 0) + dv
                dv = acc[(i, k)]
            layer[k] = layer[k] + sign * learning_rate * dv
        new.append(layer)
    return loss, new


def train_step_wrong_sign(layers, x, y, learning_rate=0.1, seed=0):
    return _train_step_variant(layers, x, y, learning_rate, seed, sign=+1)


def train_step_eval_mode(layers, x, y, learning_rate=0.1, seed=0):
    return _train_step_variant(layers, x, y, learning_rate, seed, mode="test")


_ACC: dict = {}


def train_step_accumulates(layers, x, y, learning_rate=0.1, seed=0):
    return _train_step_variant(layers, x, y, learning_rate, seed, acc=_ACC)


def train_step_inplace(layers, x, y, learning_rate=0.1, seed=0):
    ns = _ns9()
    scores, caches = ns["model_forward"](layers, x, mode="train", seed=seed)
    loss, dscores = ns["softmax_cross_entropy"](scores, y)
    _, grads = ns["model_backward"](dscores, caches)
    for layer, g in zip(layers, grads):
        for k, dv in g.items():
            layer[k] -= learning_rate * dv
    return loss, layers


def train_digits_one_epoch(X, y, seed=0):
    ns = _ns9()
    layers = ns["build_network"](ns["DIGITS_ARCH"], X.shape[1:], seed)
    for s in range(0, 64, 32):  # two mini-batches: far from trained
        _, layers = ns["train_step"](layers, X[s:s + 32], y[s:s + 32], learning_rate=0.01, seed=s)
    return layers


BUGS += [
    ("ch09_architectures.build", {"summary": summary_no_bias}, "the biases are not counted"),
    ("ch09_architectures.build", {"summary": summary_one_sided_pad}, "(H + 2·pad − kernel) / stride"),
    ("ch09_architectures.model", {"model_backward": model_backward_no_unflatten}, "reshape the gradient back where forward flattened"),
    ("ch09_architectures.model", {"model_backward": model_backward_grads_reversed}, "the grads list is out of order"),
    ("ch09_architectures.model", {"model_backward": model_backward_forward_order}, "visit the layers in reverse order"),
    ("ch09_architectures.model", {"model_forward": model_forward_ignores_mode}, "pass `mode` on to dropout_forward"),
    ("ch09_architectures.train_step", {"train_step": train_step_wrong_sign}, "the update has the wrong sign"),
    ("ch09_architectures.train_step", {"train_step": train_step_eval_mode}, "test mode"),
    ("ch09_architectures.train_step", {"train_step": train_step_accumulates}, "accumulated, never reset"),
    ("ch09_architectures.train_step", {"train_step": train_step_inplace}, "changed its argument `layers` in place"),
    ("ch09_architectures.digits", {"train_digits": train_digits_one_epoch}, "below the required 90%"),
]

ALTERNATIVES += [
    ("ch09_architectures.model", {"model_backward": model_backward_append_reverse}),
]


def test_given_layers_are_the_librarys():
    """The notebook's locked cell is generated from course_lib and computes what course_lib computes
    (random inputs, random dout); a gradient of the wrong shape is refused with a clear message."""
    from course_grader.tasks.ch09_architectures import given_source
    from course_lib import backprop, conv, dropout, loss, neuron, pooling

    g: dict = {}
    exec(compile(given_source(), "<given>", "exec"), g)
    nb = json.loads((COURSE / "source" / "ch09_architectures" / "ch09_architectures.ipynb").read_text(encoding="utf-8"))
    assert any("".join(c["source"]).strip() == given_source().strip() for c in nb["cells"])
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    for stride, pad in [(1, 1), (2, 1), (1, 0)]:
        out, c1 = g["conv_forward"](x, w, b, stride=stride, pad=pad)
        ref, c2 = conv.conv_forward(x, w, b, stride=stride, pad=pad)
        np.testing.assert_array_equal(out, ref)
        dout = rng.standard_normal(out.shape)
        for a, r in zip(g["conv_backward"](dout, c1), conv.conv_backward(dout, c2)):
            np.testing.assert_array_equal(a, r)
    xp = rng.standard_normal((2, 3, 6, 4))
    out, pool_cache = g["max_pool_forward"](xp, pool_size=2, stride=2)
    ref, c2 = pooling.max_pool_forward(xp, pool_size=2, stride=2)
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(g["max_pool_backward"](dout, pool_cache), pooling.max_pool_backward(dout, c2))
    for fwd, bwd, mod, args in [("relu_forward", "relu_backward", neuron, (xp,)),
                                ("affine_forward", "affine_backward", backprop,
                                 (rng.standard_normal((3, 5)), rng.standard_normal((5, 2)), rng.standard_normal(2)))]:
        out, c1 = g[fwd](*args)
        ref, c2 = getattr(mod, fwd)(*args)
        np.testing.assert_array_equal(out, ref)
        dout = rng.standard_normal(out.shape)
        got, exp = g[bwd](dout, c1), getattr(mod, bwd)(dout, c2)
        for a, r in zip(got if isinstance(got, tuple) else (got,), exp if isinstance(exp, tuple) else (exp,)):
            np.testing.assert_array_equal(a, r)
    d1, _ = g["dropout_forward"](xp, 0.6, mode="train", rng=5)
    d2, _ = dropout.dropout_forward(xp, 0.6, mode="train", rng=5)
    np.testing.assert_array_equal(d1, d2)
    scores, y = rng.standard_normal((4, 3)) * 5, np.array([0, 2, 1, 2])
    (l1, d1), (l2, d2) = g["softmax_cross_entropy"](scores, y), loss.softmax_cross_entropy(scores, y)
    assert l1 == l2
    np.testing.assert_array_equal(d1, d2)
    with pytest.raises(ValueError, match=r"dout must be 4-D, got 2-D array of shape \(2, 18\)"):
        g["max_pool_backward"](rng.standard_normal((2, 18)), pool_cache)


def test_summary_solution_matches_the_library():
    """The model summary agrees with course_lib.architectures.summary on LeNet-5-like and strided nets."""
    from course_grader.tasks.ch09_architectures import HIDDEN_ARCHS, reference_namespace

    ref = reference_namespace()
    from course_lib.architectures import LayerSpec, ModelSpec, summary

    kinds = {"relu": "ReLU", "pool": "MaxPool2D", "flatten": "Flatten"}
    for arch, shape in HIDDEN_ARCHS[:2]:
        specs, c, d = [], shape[0], None
        for layer in arch:
            if layer["type"] == "conv":
                specs.append(LayerSpec("Conv2D", (c, layer["filters"], layer["kernel"]), {"stride": layer.get("stride", 1), "pad": layer.get("pad", 0)}))
                c = layer["filters"]
            elif layer["type"] == "affine":
                specs.append(LayerSpec("Affine", (d, layer["units"])))
            elif layer["type"] == "dropout":
                specs.append(LayerSpec("Dropout", (layer["keep_prob"],)))
            else:
                specs.append(LayerSpec(kinds[layer["type"]], (2,) if layer["type"] == "pool" else ()))
            d = ModelSpec(specs).specs and summary(ModelSpec(specs), shape).rows[-1].output_shape[0]
        lib = summary(ModelSpec(specs), shape)
        mine = ref["summary"](arch, shape)
        assert [(tuple(r.output_shape), r.params) for r in lib.rows] == [(tuple(s), p) for s, p in mine]
    assert sum(p for _, p in ref["summary"](*HIDDEN_ARCHS[0])) == 61_706  # LeNet-5 with max pooling


# ============================================================== the tests
def _id(t: str, o: dict) -> str:
    return f"{t}-{'+'.join(getattr(f, '__name__', k) for k, f in o.items())}"


@pytest.mark.parametrize(("task", "overrides", "phrase"), BUGS, ids=[_id(t, o) for t, o, _ in BUGS])
def test_bug_loses_points_with_pointed_message(task, overrides, phrase):
    assert_loses_points(task, student(task, overrides), phrase)


@pytest.mark.parametrize(("task", "overrides"), ALTERNATIVES, ids=[_id(t, o) for t, o in ALTERNATIVES])
def test_correct_alternative_gets_full_marks(task, overrides):
    assert_full_marks(task, student(task, overrides))


_MINE = ("ch07_batchnorm", "ch08_dropout", "ch09_architectures")


@pytest.mark.parametrize("task", [t for t in grading.TASKS if t.split(".")[0] in _MINE])
def test_reference_full_marks_and_stub_zero(task):
    assert_reference_full_and_stub_zero(task, student)


def test_visible_tests_catch_a_train_formula_in_test_mode():
    # used to lose points only at grading: `course check` must show it
    task = "ch07_batchnorm.backward"
    vis = grading.run_task(task, student(task, {**_BN_ALT, "batchnorm_backward": bn_backward_test_as_train}), isolate=False)
    assert vis.earned < vis.points and "test-mode backward uses the train-mode formula" in str(vis), str(vis)

