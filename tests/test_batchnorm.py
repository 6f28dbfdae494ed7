"""Tests for course_lib.batchnorm (chapter 7).

Figures measured on this machine (float64, h = 1e-5, raw ``rel_error`` without check_layer's
noise floor): dx agrees with central differences to 3e-11..1e-10 (spatial: 1e-8), dgamma to
1e-11..4e-9, dbeta to ~1e-11; the staged and the closed-form backward agree to ~1e-16 of the size
of their terms. Asserted: 1e-7 against central differences (a margin of ~10x over the worst
measured value), 1e-10 between the two backward passes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.batchnorm import (
    BatchNorm,
    BatchNormCache,
    SpatialBatchNorm,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)
from course_lib.gradcheck import check_layer, numerical_gradient_array, rel_error
from tests.strategies import seeds

EPS = 1e-5


def _data(seed: int, n: int = 5, d: int = 3, *, shift: float = 3.0, scale: float = 2.0):
    """x with non-zero mean and non-unit variance (so mistakes involving μ or σ² show), γ, β."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)) * scale + shift
    return x, r.standard_normal(d), r.standard_normal(d)


def _raw_rel_error(forward, backward, x, gamma, beta, bn_param, dout):
    """rel_error of dx, dgamma, dbeta against central differences, without check_layer's floor."""
    _, cache = forward(x, gamma, beta, dict(bn_param))
    grads = backward(dout, cache)
    errs = []
    for i, name in enumerate(("x", "gamma", "beta")):
        args = {"x": x.copy(), "gamma": gamma.copy(), "beta": beta.copy()}

        def f(v, name=name, args=args):
            a = dict(args)
            a[name] = v
            return forward(a["x"], a["gamma"], a["beta"], dict(bn_param))[0]

        errs.append(rel_error(grads[i], numerical_gradient_array(f, args[name], dout)))
    return errs


# ------------------------------------------------------------------------------------------------
# forward: worked example and properties
# ------------------------------------------------------------------------------------------------

def test_worked_example_by_hand():
    # column 0: values 1, 3 -> mean 2, biased var 1, unbiased var 2
    # column 1: values 2, 6 -> mean 4, biased var 4, unbiased var 8
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    gamma = np.array([2.0, 0.5])
    beta = np.array([1.0, -1.0])
    bn_param = {"mode": "train", "eps": EPS, "momentum": 0.9}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    a, b = 1 / np.sqrt(1 + EPS), 2 / np.sqrt(4 + EPS)
    expected = np.array([[1 - 2 * a, -1 - 0.5 * b], [1 + 2 * a, -1 + 0.5 * b]])
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    # running = 0.9·initial + 0.1·batch, initial mean 0 and var 1, batch var unbiased
    np.testing.assert_allclose(bn_param["running_mean"], [0.2, 0.4], rtol=1e-14)
    np.testing.assert_allclose(bn_param["running_var"], [0.9 + 0.2, 0.9 + 0.8], rtol=1e-14)
    # a second batch: mean [0, 10], unbiased var [2, 0]
    x2 = np.array([[-1.0, 10.0], [1.0, 10.0]])
    batchnorm_forward(x2, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [0.9 * 0.2, 0.9 * 0.4 + 1.0], rtol=1e-14)
    np.testing.assert_allclose(bn_param["running_var"], [0.9 * 1.1 + 0.2, 0.9 * 1.7], rtol=1e-14)


def test_momentum_zero_copies_the_batch_statistics():
    # our momentum 0 == PyTorch momentum 1: the running averages forget everything old
    x, gamma, beta = _data(1, n=4)
    bn_param = {"momentum": 0.0, "running_mean": np.full(3, 7.0), "running_var": np.full(3, 7.0)}
    batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(bn_param["running_var"], x.var(axis=0, ddof=1), rtol=1e-14)


def test_running_variance_is_an_unbiased_estimate():
    """With N = 4 the biased batch variance averages 3/4 of the true one; ours must not.

    200 independent features from N(3, 2²), 200 batches, momentum 0.9. Per feature the running
    variance is an exponential average of unbiased estimates s² (Var s² = 2σ⁴/(N−1) = 32/3), whose
    stationary variance is Var(s²)·(1−m)/(1+m) = 0.561; the mean over 200 features then has
    standard deviation 0.053. We accept |mean − 4| < 0.265 (5 sigma, false-failure probability
    ~6e-7; the seed is fixed anyway); the biased estimator would give 3 ± 0.04.
    The running mean: Var = (σ²/N)·(1−m)/(1+m) = 0.0526 per feature -> sd 0.016 of the average,
    5-sigma bound 0.081.
    """
    r = np.random.default_rng(2024)
    d = 200
    gamma, beta = np.ones(d), np.zeros(d)
    bn_param = {"momentum": 0.9}
    for _ in range(200):
        batchnorm_forward(r.normal(3.0, 2.0, size=(4, d)), gamma, beta, bn_param)
    assert abs(bn_param["running_var"].mean() - 4.0) < 0.265
    assert abs(bn_param["running_mean"].mean() - 3.0) < 0.081


@given(seed=seeds(), n=st.integers(2, 8), d=st.integers(1, 5))
def test_train_output_has_mean_beta_and_std_gamma(seed, n, d):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)) * r.uniform(0.5, 5, size=d) + r.uniform(-5, 5, size=d)
    gamma, beta = r.standard_normal(d), r.standard_normal(d)
    out, _ = batchnorm_forward(x, gamma, beta, {})
    var = x.var(axis=0)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12 * (1 + np.abs(gamma)).max())
    # std(out) = |γ|·σ/sqrt(σ² + eps), exactly (eps makes it a little less than |γ|)
    np.testing.assert_allclose(out.std(axis=0), np.abs(gamma) * np.sqrt(var / (var + EPS)), rtol=1e-10)


def test_test_mode_uses_running_statistics_and_ignores_the_batch():
    x, gamma, beta = _data(3, n=6)
    rm, rv = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 9.0])
    bn_param = {"mode": "test", "running_mean": rm, "running_var": rv}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + EPS) + beta, rtol=1e-14)
    # the running statistics are not touched in test mode
    assert bn_param["running_mean"] is rm and bn_param["running_var"] is rv
    np.testing.assert_array_equal(rm, [1.0, -2.0, 0.5])
    # one example's output does not depend on the other examples of its batch (N = 1 is fine)
    single, _ = batchnorm_forward(x[2:3], gamma, beta, bn_param)
    np.testing.assert_array_equal(single[0], out[2])


def test_train_mode_after_many_batches_matches_test_mode_on_average():
    r = np.random.default_rng(7)
    layer = BatchNorm(4)
    for _ in range(300):
        layer(r.normal(5.0, 3.0, size=(64, 4)))
    np.testing.assert_allclose(layer.running_mean, 5.0, atol=0.3)
    np.testing.assert_allclose(layer.running_var, 9.0, rtol=0.15)
    layer.eval()
    out = layer(r.normal(5.0, 3.0, size=(20000, 4)))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=0.08)


def test_forward_does_not_modify_inputs_or_old_running_arrays():
    x, gamma, beta = _data(4)
    rm, rv = np.zeros(3), np.ones(3)
    copies = [a.copy() for a in (x, gamma, beta, rm, rv)]
    bn_param = {"running_mean": rm, "running_var": rv}
    batchnorm_forward(x, gamma, beta, bn_param)
    for a, c in zip((x, gamma, beta, rm, rv), copies):
        np.testing.assert_array_equal(a, c)
    assert bn_param["running_mean"] is not rm


def test_float32_in_float32_out():
    x, gamma, beta = _data(5, n=8)
    out64, _ = batchnorm_forward(x, gamma, beta, {})
    out32, cache = batchnorm_forward(x.astype(np.float32), gamma, beta, {})
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    dx, _, _ = batchnorm_backward_alt(np.ones_like(out32), cache)
    assert dx.dtype == np.float32


# ------------------------------------------------------------------------------------------------
# backward: gradient checks
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_gradient_check(backward, mode):
    x, gamma, beta = _data(11, n=5, d=4)
    bn_param = {"mode": mode, "running_mean": np.array([2.0, 3.0, 4.0, -1.0]),
                "running_var": np.array([3.0, 1.0, 0.5, 2.0])}
    report = check_layer(batchnorm_forward, backward, {"x": x, "gamma": gamma, "beta": beta},
                         kwargs={"bn_param": bn_param}, seed=12)
    assert report.passed, str(report)
    dout = np.random.default_rng(12).standard_normal(x.shape)
    err_x, err_g, err_b = _raw_rel_error(batchnorm_forward, backward, x, gamma, beta, bn_param, dout)
    # measured: dx 2e-10..1e-9, dgamma 1e-11..4e-9, dbeta ~2e-11
    assert max(err_x, err_g, err_b) < 1e-7, (err_x, err_g, err_b)


def test_spatial_gradient_check():
    r = np.random.default_rng(21)
    x = r.standard_normal((2, 3, 3, 4)) * 2 + 1
    gamma, beta = r.standard_normal(3), r.standard_normal(3)
    for mode in ("train", "test"):
        bn_param = {"mode": mode, "running_mean": np.array([0.5, 1.0, 1.5]),
                    "running_var": np.array([1.0, 2.0, 3.0])}
        report = check_layer(spatial_batchnorm_forward, spatial_batchnorm_backward,
                             {"x": x, "gamma": gamma, "beta": beta},
                             kwargs={"bn_param": bn_param}, seed=22)
        assert report.passed, str(report)
        dout = np.random.default_rng(22).standard_normal(x.shape)
        errs = _raw_rel_error(spatial_batchnorm_forward, spatial_batchnorm_backward,
                              x, gamma, beta, bn_param, dout)
        assert max(errs) < 1e-7, errs


@given(seed=seeds(), n=st.integers(2, 6), d=st.integers(1, 4), mode=st.sampled_from(["train", "test"]))
def test_staged_and_closed_form_backward_agree(seed, n, d, mode):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)) * r.uniform(0.1, 10) + r.uniform(-5, 5)
    gamma, beta, dout = r.standard_normal(d), r.standard_normal(d), r.standard_normal((n, d))
    bn_param = {"mode": mode, "running_mean": r.standard_normal(d), "running_var": r.uniform(0.1, 3, d)}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    staged = batchnorm_backward(dout, cache)
    closed = batchnorm_backward_alt(dout, cache)
    # dx is a difference of terms of size ~|γ·dout|·ivar that can cancel almost completely (for
    # N = 2 the output hardly depends on x at all), so "agree to 1e-10" is measured against the
    # size of those terms, not against dx itself. Measured: ~1e-16 of that scale.
    scale = np.max(np.abs(gamma * dout) * cache.ivar)
    assert np.max(np.abs(staged[0] - closed[0])) <= 1e-10 * scale
    for a, b in zip(staged[1:], closed[1:]):
        assert rel_error(a, b) < 1e-10


@given(seed=seeds(), n=st.integers(3, 5), d=st.integers(1, 3))
def test_gradient_check_on_random_shapes(seed, n, d):
    # Over 150 seeds × shapes the worst relative error measured was 1.5e-7 (small columns whose
    # entries are rounding-limited: x − μ loses digits when |μ| >> σ), hence tol 1e-6 here; a
    # real bug gives > 1e-2. N = 2 is degenerate (next test) and is checked there exactly.
    x, gamma, beta = _data(seed, n=n, d=d)
    report = check_layer(batchnorm_forward, batchnorm_backward_alt,
                         {"x": x, "gamma": gamma, "beta": beta}, kwargs={"bn_param": {}},
                         seed=seed % 1000 + 1, tol=1e-6)
    assert report.passed, str(report)


def test_two_examples_give_an_output_almost_independent_of_x():
    # N = 2: out = β ∓ γ·σ/sqrt(σ² + eps) depends on x only through eps, so dx is ~eps/σ² times
    # the size of its terms and a finite difference of it is mostly rounding (relative errors
    # up to 2e-3 measured); check the analytic dx against the exact formula instead.
    x = np.array([[1.0], [4.0]])  # σ = 1.5
    out, cache = batchnorm_forward(x, np.array([2.0]), np.array([0.5]), {})
    np.testing.assert_allclose(out[:, 0], 0.5 + 2.0 * np.array([-1, 1]) * 1.5 / np.sqrt(2.25 + EPS), rtol=1e-14)
    dx, _, _ = batchnorm_backward(np.array([[1.0], [-1.0]]), cache)
    # L = out0 − out1 = −4σ/sqrt(σ² + eps) with σ = (x1 − x0)/2: dL/dx0 = 2·eps/(σ² + eps)^1.5
    np.testing.assert_allclose(dx[:, 0], np.array([1, -1]) * 2 * EPS / (2.25 + EPS) ** 1.5, rtol=1e-6)


def test_constant_column_is_finite_and_passes_the_gradient_check():
    # σ² = 0: eps alone keeps 1/sqrt(σ² + eps) finite; x̂ = 0 and out = β for that column
    x, gamma, beta = _data(8, n=4)
    x[:, 1] = 2.5
    out, _ = batchnorm_forward(x, gamma, beta, {})
    np.testing.assert_array_equal(out[:, 1], beta[1])
    # Around σ² = 0 the output bends on the scale sqrt(eps) ≈ 3e-3 instead of ~1, so the O(h²)
    # truncation error of h = 1e-5 is ~5e-7 (measured); h = 1e-6 brings it to ~5e-9.
    report = check_layer(batchnorm_forward, batchnorm_backward, {"x": x, "gamma": gamma, "beta": beta},
                         kwargs={"bn_param": {}}, seed=9, h=1e-6)
    assert report.passed, str(report)


def test_backward_does_not_modify_dout_or_cache():
    x, gamma, beta = _data(9)
    _, cache = batchnorm_forward(x, gamma, beta, {})
    dout = np.random.default_rng(1).standard_normal(x.shape)
    saved = dout.copy(), [a.copy() for a in cache if isinstance(a, np.ndarray)]
    batchnorm_backward(dout, cache)
    batchnorm_backward_alt(dout, cache)
    np.testing.assert_array_equal(dout, saved[0])
    for a, c in zip([a for a in cache if isinstance(a, np.ndarray)], saved[1]):
        np.testing.assert_array_equal(a, c)


# ------------------------------------------------------------------------------------------------
# why the upstream gradient must be random
# ------------------------------------------------------------------------------------------------

def _closed_parts(dout, cache):
    dxhat = dout * cache.gamma
    return dxhat, cache.xhat, cache.ivar, (dout * cache.xhat).sum(axis=0), dout.sum(axis=0)


def _drops_variance_term(dout, cache):
    dxhat, _, ivar, dgamma, dbeta = _closed_parts(dout, cache)
    return ivar * (dxhat - dxhat.mean(axis=0)), dgamma, dbeta


def _drops_mean_term(dout, cache):
    dxhat, xhat, ivar, dgamma, dbeta = _closed_parts(dout, cache)
    return ivar * (dxhat - xhat * (dxhat * xhat).mean(axis=0)), dgamma, dbeta


def test_all_ones_dout_hides_a_forgotten_variance_term_but_a_random_one_does_not():
    """With dout constant per feature the true dx is exactly 0 (Σ x̂ = 0 makes Σ out constant in x),
    and so is the variance term x̂·Σ dx̂·x̂; a backward without it returns dx = 0 and passes."""
    x, gamma, beta = _data(31, n=6)
    inputs = {"x": x, "gamma": gamma, "beta": beta}
    ones = np.ones((6, 3))
    assert check_layer(batchnorm_forward, _drops_variance_term, inputs,
                       kwargs={"bn_param": {}}, dout=ones).passed
    report = check_layer(batchnorm_forward, _drops_variance_term, inputs, kwargs={"bn_param": {}})
    assert not report.passed
    assert report["x"].rel_error > 0.1 and report["gamma"].passed and report["beta"].passed
    # the correct backward passes both
    for dout in (ones, None):
        assert check_layer(batchnorm_forward, batchnorm_backward, inputs,
                           kwargs={"bn_param": {}}, dout=dout).passed


def test_a_forgotten_mean_term_fails_even_with_all_ones():
    # dropping Σ dx̂ leaves dx = γ·ivar ≠ 0 for dout = ones, while the true dx is 0
    x, gamma, beta = _data(32, n=6)
    inputs = {"x": x, "gamma": gamma, "beta": beta}
    for dout in (np.ones((6, 3)), None):
        report = check_layer(batchnorm_forward, _drops_mean_term, inputs,
                             kwargs={"bn_param": {}}, dout=dout)
        assert not report.passed and report["x"].rel_error > 0.1


# ------------------------------------------------------------------------------------------------
# the source derivation (002_..., eqs. 56-63, spatial form with M = R·H·W), checked numerically
# ------------------------------------------------------------------------------------------------

def _source_parts(dout, cache):
    c = cache.inner
    m = c.x.shape[0]  # R·H·W rows in the (R·H·W, C) view
    return m, c.gamma, c.xmu, c.var + c.eps, c.xhat


def _rows(a):
    ch = a.shape[1]
    return a.transpose(0, 2, 3, 1).reshape(-1, ch)


def _unrows(a, shape):
    n, ch, h, w = shape
    return a.reshape(n, h, w, ch).transpose(0, 3, 1, 2)


def _source_backward(variant):
    def backward(dout, cache):
        d = _rows(dout)
        m, g, xmu, v, xhat = _source_parts(dout, cache)
        r = cache.shape[0]
        if variant == "third_line":  # eq. 63, third line: correct
            dx = d * g * v**-0.5 - (d * g * v**-0.5).sum(0) / m - (d * g * xmu).sum(0) * xmu * v**-1.5 / m
        elif variant == "final_line":  # eq. 63 as printed: stray −μ and exponent −3/2
            dx = g * v**-0.5 / m * (m * d - d.sum(0) - cache_mu(cache) - xmu * v**-1.5 * (d * xmu).sum(0))
        elif variant == "final_without_mu":  # only the exponent wrong
            dx = g * v**-0.5 / m * (m * d - d.sum(0) - xmu * v**-1.5 * (d * xmu).sum(0))
        elif variant == "final_without_exponent":  # only the stray −μ
            dx = g * v**-0.5 / m * (m * d - d.sum(0) - cache_mu(cache) - xmu * v**-1.0 * (d * xmu).sum(0))
        else:  # "final_corrected"
            dx = g * v**-0.5 / m * (m * d - d.sum(0) - xmu * v**-1.0 * (d * xmu).sum(0))
        dgamma, dbeta = (d * xhat).sum(0), d.sum(0)
        if variant == "eq56_57":  # the printed 1/R in front of dγ and dβ
            dx = g * v**-0.5 / m * (m * d - d.sum(0) - xhat * (d * xhat).sum(0))
            dgamma, dbeta = dgamma / r, dbeta / r
        return _unrows(dx, cache.shape), dgamma, dbeta

    return backward


def cache_mu(cache):
    c = cache.inner
    return (c.x - c.xmu)[0]  # μ per channel


SOURCE_X = np.random.default_rng(41).standard_normal((3, 2, 2, 2)) * 2.0 + 3.0
SOURCE_G = np.array([1.5, -0.7])
SOURCE_B = np.array([0.3, 0.2])


@pytest.mark.parametrize("variant", ["third_line", "final_corrected"])
def test_source_derivation_correct_parts_pass(variant):
    report = check_layer(spatial_batchnorm_forward, _source_backward(variant),
                         {"x": SOURCE_X, "gamma": SOURCE_G, "beta": SOURCE_B},
                         kwargs={"bn_param": {}}, seed=42)
    assert report.passed, str(report)


@pytest.mark.parametrize("variant", ["final_line", "final_without_mu", "final_without_exponent"])
def test_source_eq63_final_line_is_wrong(variant):
    report = check_layer(spatial_batchnorm_forward, _source_backward(variant),
                         {"x": SOURCE_X, "gamma": SOURCE_G, "beta": SOURCE_B},
                         kwargs={"bn_param": {}}, seed=42)
    assert not report["x"].passed, str(report)


def test_source_eq56_57_divide_dgamma_dbeta_by_the_batch_size_once_too_often():
    report = check_layer(spatial_batchnorm_forward, _source_backward("eq56_57"),
                         {"x": SOURCE_X, "gamma": SOURCE_G, "beta": SOURCE_B},
                         kwargs={"bn_param": {}}, seed=42)
    assert report["x"].passed
    for name in ("gamma", "beta"):
        assert not report[name].passed
        assert "divided by the batch size N=3" in report[name].diagnosis, str(report)


# ------------------------------------------------------------------------------------------------
# spatial batch normalisation
# ------------------------------------------------------------------------------------------------

def test_spatial_equals_per_channel_batchnorm_over_n_h_w():
    r = np.random.default_rng(51)
    x = r.standard_normal((3, 2, 4, 5)) * 3 - 1
    gamma, beta = r.standard_normal(2), r.standard_normal(2)
    bn_param = {}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    for c in range(2):
        ch = x[:, c]
        mu, var = ch.mean(), ch.var()
        np.testing.assert_allclose(out[:, c], gamma[c] * (ch - mu) / np.sqrt(var + EPS) + beta[c], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(bn_param["running_mean"][c], 0.1 * mu, rtol=1e-12)
        m = ch.size
        np.testing.assert_allclose(bn_param["running_var"][c], 0.9 + 0.1 * var * m / (m - 1), rtol=1e-12)


def test_spatial_allows_one_example_with_several_positions():
    x = np.random.default_rng(52).standard_normal((1, 2, 2, 2))
    out, _ = spatial_batchnorm_forward(x, np.ones(2), np.zeros(2), {})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------

X, G, B = _data(60)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gamma": np.ones(4)}, ValueError, r"gamma and beta must have shape \(3,\)"),
        ({"beta": np.ones((3, 1))}, ValueError, "beta must be 1-D"),
        ({"x": np.ones(3)}, ValueError, "x must be 2-D"),
        ({"x": np.ones((2, 3, 1))}, ValueError, "x must be 2-D"),
        ({"x": np.ones((2, 3), dtype=int)}, TypeError, "floating dtype"),
        ({"x": np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 3.0]])}, ValueError, "non-finite"),
        ({"bn_param": {"mode": "trian"}}, ValueError, "mode.*'train' or 'test'"),
        ({"bn_param": {"eps": 0.0}}, ValueError, "eps must be > 0"),
        ({"bn_param": {"eps": -1e-5}}, ValueError, "eps must be > 0"),
        ({"bn_param": {"momentum": 1.0}}, ValueError, "momentum must be < 1"),
        ({"bn_param": {"momentum": -0.1}}, ValueError, "momentum must be >= 0"),
        ({"bn_param": {"momentun": 0.9}}, ValueError, "unknown key"),
        ({"bn_param": {"running_mean": np.zeros(4)}}, ValueError, r"running_mean'\] must have shape \(3,\)"),
        ({"bn_param": {"running_var": -np.ones(3)}}, ValueError, "negative variances"),
        ({"bn_param": [("mode", "train")]}, TypeError, "bn_param must be a dict"),
        ({"x": X[:1]}, ValueError, "needs N >= 2 examples"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    args = {"x": X, "gamma": G, "beta": B, "bn_param": {}} | kwargs
    with pytest.raises(error, match=match):
        batchnorm_forward(args["x"], args["gamma"], args["beta"], args["bn_param"])


def test_spatial_bad_inputs():
    x4 = np.ones((2, 3, 2, 2))
    with pytest.raises(ValueError, match="x must be 4-D"):
        spatial_batchnorm_forward(np.ones((2, 3)), G, B, {})
    with pytest.raises(ValueError, match=r"one entry per channel"):
        spatial_batchnorm_forward(x4, np.ones(2), np.ones(2), {})
    with pytest.raises(ValueError, match=r"N·H·W >= 2"):
        spatial_batchnorm_forward(np.ones((1, 3, 1, 1)), G, B, {})
    # one value per channel is fine at test time
    spatial_batchnorm_forward(np.ones((1, 3, 1, 1)), G, B, {"mode": "test"})


def test_backward_bad_inputs():
    _, cache = batchnorm_forward(X, G, B, {})
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(5, 3\)"):
        batchnorm_backward(np.ones((5, 4)), cache)
    with pytest.raises(TypeError, match="cache must be the BatchNormCache"):
        batchnorm_backward_alt(np.ones((5, 3)), ("not", "a", "cache"))
    with pytest.raises(TypeError, match="cache must be the SpatialBatchNormCache"):
        spatial_batchnorm_backward(np.ones((5, 3)), cache)
    assert isinstance(cache, BatchNormCache)


# ------------------------------------------------------------------------------------------------
# layer classes
# ------------------------------------------------------------------------------------------------

def test_batchnorm_layer_matches_the_functions_and_tracks_running_statistics():
    x, gamma, beta = _data(70, n=6, d=3)
    layer = BatchNorm(3)
    layer.params["gamma"][:] = gamma
    layer.params["beta"][:] = beta
    bn_param = {}
    expected, cache = batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_array_equal(layer(x), expected)
    np.testing.assert_array_equal(layer.running_mean, bn_param["running_mean"])
    np.testing.assert_array_equal(layer.running_var, bn_param["running_var"])
    dout = np.random.default_rng(71).standard_normal(x.shape)
    dx = layer.backward(dout)
    edx, edg, edb = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(dx, edx, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(layer.grads["gamma"], edg, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["beta"], edb, rtol=1e-12)
    # eval: running statistics, not updated
    saved = layer.state()
    layer.eval()
    out = layer(x[:1])
    np.testing.assert_allclose(out, gamma * (x[:1] - saved["running_mean"]) / np.sqrt(saved["running_var"] + EPS) + beta)
    np.testing.assert_array_equal(layer.running_mean, saved["running_mean"])
    assert layer.num_params() == 6
    assert layer.output_shape((3,)) == (3,)
    with pytest.raises(ValueError, match=r"expects one example of shape \(3,\)"):
        layer.output_shape((4,))


def test_state_round_trip_and_validation():
    layer = BatchNorm(2, momentum=0.5)
    layer(np.array([[0.0, 1.0], [2.0, 5.0]]))
    state = layer.state()
    np.testing.assert_allclose(state["running_mean"], [0.5, 1.5])  # 0.5·0 + 0.5·batch mean [1, 3]
    np.testing.assert_allclose(state["running_var"], [1.5, 4.5])  # 0.5·1 + 0.5·unbiased var [2, 8]
    state["running_mean"][0] = 99.0  # a copy: the layer is unaffected
    assert layer.running_mean[0] == 0.5
    other = BatchNorm(2)
    other.load_state(layer.state())
    np.testing.assert_array_equal(other.running_var, [1.5, 4.5])
    with pytest.raises(ValueError, match=r"running_mean must have shape \(2,\)"):
        other.load_state({"running_mean": np.zeros(3), "running_var": np.ones(2)})
    with pytest.raises(ValueError, match="exactly the keys"):
        other.load_state({"running_mean": np.zeros(2)})


def test_constructor_validation():
    with pytest.raises(ValueError, match="num_features must be >= 1"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="momentum must be < 1"):
        BatchNorm(3, momentum=1.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        SpatialBatchNorm(3, eps=0)
    with pytest.raises(TypeError, match="num_channels must be an integer"):
        SpatialBatchNorm(2.5)
    with pytest.raises(TypeError, match="dtype must be a floating type"):
        BatchNorm(3, dtype=np.int64)


def test_spatial_layer():
    r = np.random.default_rng(80)
    x = r.standard_normal((2, 3, 4, 4)).astype(np.float32)
    layer = SpatialBatchNorm(3, dtype=np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    dx = layer.backward(r.standard_normal(x.shape).astype(np.float32))
    assert dx.shape == x.shape and layer.grads["gamma"].shape == (3,)
    assert layer.output_shape((3, 4, 4)) == (3, 4, 4)
    with pytest.raises(ValueError, match=r"expects one example of shape \(3, H, W\)"):
        layer.output_shape((4, 4, 4))
    layer.eval()
    assert layer(x[:1]).shape == (1, 3, 4, 4)
    assert layer.num_channels == 3
    assert "SpatialBatchNorm(3" in repr(layer)
