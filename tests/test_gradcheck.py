"""Tests for course_lib.gradcheck: the numerical gradients are right, and every diagnosis that
check_layer promises is produced by a backward pass that has exactly that bug."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from strategies import finite_floats, float_arrays, seeds

from course_lib.gradcheck import (
    check_layer,
    diagnose,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
)

# ------------------------------------------------------------------------------------------------
# A correct reference layer (written here, independent of the chapter modules) and its bugs
# ------------------------------------------------------------------------------------------------

N, D, M = 4, 3, 5


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


@pytest.fixture
def affine_inputs(rng):
    return {"x": rng.standard_normal((N, D)), "w": rng.standard_normal((D, M)), "b": rng.standard_normal(M)}


def buggy(change):
    """A backward that computes the right gradients and then lets ``change`` break them."""

    def backward(dout, cache):
        x, w = cache
        dx, dw, db = affine_backward(dout, cache)
        return change(dx, dw, db, dout, x, w)

    return backward


# ------------------------------------------------------------------------------------------------
# numerical_gradient / numerical_gradient_array on functions with known gradients
# ------------------------------------------------------------------------------------------------

def test_numerical_gradient_of_sum_of_squares_is_2x(rng):
    x = rng.standard_normal((3, 4))
    g = numerical_gradient(lambda v: np.sum(v**2), x)
    assert rel_error(g, 2 * x) < 1e-9


def test_numerical_gradient_worked_example():
    # f(x, y) = x²y + 3y at (1, 2): df/dx = 2xy = 4, df/dy = x² + 3 = 4
    v = np.array([1.0, 2.0])
    g = numerical_gradient(lambda p: p[0] ** 2 * p[1] + 3 * p[1], v)
    np.testing.assert_allclose(g, [4.0, 4.0], rtol=1e-9)


def test_numerical_gradient_of_a_0d_array():
    x = np.array(0.3)
    g = numerical_gradient(lambda v: np.sin(v), x)
    assert g.shape == () and abs(g - np.cos(0.3)) < 1e-10


@given(float_arrays(rank=(1, 3), bound=3.0))
def test_numerical_gradient_of_sin_sum_is_cos(x):
    g = numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-7, atol=1e-9)


@given(float_arrays(rank=(1, 3), bound=3.0), seeds())
def test_numerical_gradient_array_of_cube_is_3x2_dout(x, seed):
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    g = numerical_gradient_array(lambda v: v**3, x, dout)
    np.testing.assert_allclose(g, 3 * x**2 * dout, rtol=1e-6, atol=1e-8)


def test_numerical_gradient_array_of_matrix_product(rng):
    # y = A x, L = dout · y  =>  dL/dx = Aᵀ dout
    a = rng.standard_normal((4, 3))
    x = rng.standard_normal(3)
    dout = rng.standard_normal(4)
    g = numerical_gradient_array(lambda v: a @ v, x, dout)
    assert rel_error(g, a.T @ dout) < 1e-9


def test_x_is_restored_even_if_f_raises(rng):
    x = rng.standard_normal((2, 3))
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:  # fail in the middle of the second entry
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)

    def g(v):
        raise ZeroDivisionError("inside f")

    with pytest.raises(ZeroDivisionError):
        numerical_gradient_array(g, x, np.ones(3))
    np.testing.assert_array_equal(x, before)


def test_x_is_restored_after_a_normal_run(rng):
    x = rng.standard_normal(5)
    before = x.copy()
    numerical_gradient(lambda v: np.sum(v**3), x)
    numerical_gradient_array(lambda v: v * 2, x, np.ones(5))
    np.testing.assert_array_equal(x, before)


def test_float32_is_rejected_with_a_clear_type_error():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, x)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient_array(lambda v: v, x, np.ones(3))
    with pytest.raises(TypeError, match=r"dout .*float64"):
        numerical_gradient_array(lambda v: v, np.ones(3), np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="float64"):
        check_layer(affine_forward, affine_backward, {"x": x.reshape(1, 3), "w": np.ones((3, 2)), "b": np.ones(2)})
    with pytest.raises(TypeError, match="NumPy array"):
        numerical_gradient(np.sum, [1.0, 2.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="h must be >"):
        numerical_gradient(np.sum, np.ones(2), h=0.0)
    with pytest.raises(ValueError, match="scalar-valued"):
        numerical_gradient(lambda v: v * 2, np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(2,\) but dout has shape \(3,\)"):
        numerical_gradient_array(lambda v: v, np.ones(2), np.ones(3))


def test_central_differences_beat_the_truncation_error_of_one_sided_ones():
    # for f = exp at 0 the central difference error is h²/6 ≈ 1.7e-11 (+ rounding ~1e-11);
    # a forward difference would be off by h/2 = 5e-6
    g = numerical_gradient(lambda v: np.exp(v[0]), np.zeros(1))
    assert abs(g[0] - 1.0) < 1e-9


# ------------------------------------------------------------------------------------------------
# rel_error
# ------------------------------------------------------------------------------------------------

def test_rel_error_worked_examples():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0.0
    # |1 − 3| / (1 + 3) = 0.5
    assert rel_error(np.array([1.0, 5.0]), np.array([3.0, 5.0])) == pytest.approx(0.5)
    # both ~0: the 1e-8 floor keeps it finite: 1e-12 / 1e-8 = 1e-4
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)
    assert rel_error(np.array([1.0]), np.array([-1.0])) == 1.0
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


@given(float_arrays(rank=(1, 2)), finite_floats(1e3).filter(lambda c: abs(c) > 1e-3))
def test_rel_error_is_symmetric_bounded_and_scale_invariant(a, c):
    b = a[::-1].copy() + 0.5
    e = rel_error(a, b)
    assert e == rel_error(b, a)
    assert 0.0 <= e <= 1.0
    assert rel_error(a, a) == 0.0
    if np.abs(a).min() > 1e-3 and np.abs(b).min() > 1e-3:
        assert rel_error(c * a, c * b) == pytest.approx(e, rel=1e-9)


def test_rel_error_nan_is_infinite_and_shapes_must_match():
    assert rel_error(np.array([np.nan]), np.array([1.0])) == float("inf")
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        rel_error(np.ones(2), np.ones(3))


# ------------------------------------------------------------------------------------------------
# check_layer: a correct layer passes
# ------------------------------------------------------------------------------------------------

def test_correct_affine_passes(affine_inputs):
    report = check_layer(affine_forward, affine_backward, affine_inputs)
    assert report.passed, str(report)
    for name in "xwb":
        assert report[name].rel_error < 1e-8
    assert "passed" in str(report)
    assert bool(report)


def test_check_layer_leaves_inputs_and_dout_untouched(affine_inputs, rng):
    before = {k: v.copy() for k, v in affine_inputs.items()}
    dout = rng.standard_normal((N, M))
    dout_before = dout.copy()
    check_layer(affine_forward, affine_backward, affine_inputs, dout=dout)
    for k in before:
        np.testing.assert_array_equal(affine_inputs[k], before[k])
    np.testing.assert_array_equal(dout, dout_before)


def test_wrt_restricts_the_check_and_validates_names(affine_inputs):
    report = check_layer(affine_forward, buggy(lambda dx, dw, db, *_: (dx, 2 * dw, db)), affine_inputs, wrt=["x", "b"])
    assert report.passed and [r.name for r in report.results] == ["x", "b"]
    with pytest.raises(ValueError, match="'z'"):
        check_layer(affine_forward, affine_backward, affine_inputs, wrt=["z"])
    with pytest.raises(KeyError):
        report["w"]


# ------------------------------------------------------------------------------------------------
# check_layer: every diagnosis, each proven by a backward with exactly that bug
# ------------------------------------------------------------------------------------------------

CASES = {
    # name: (change, failing input, words the diagnosis must contain)
    "factor 2": (lambda dx, dw, db, *_: (dx, 2 * dw, db), "w", "factor 2 too large"),
    "factor 1/2": (lambda dx, dw, db, *_: (dx, dw / 2, db), "w", "factor 2 too small"),
    "wrong sign": (lambda dx, dw, db, *_: (-dx, dw, db), "x", "wrong sign"),
    "transposed dw": (lambda dx, dw, db, *_: (dx, dw.T, db), "w", "transposed"),
    "missing sum over the batch": (lambda dx, dw, db, dout, *_: (dx, dw, dout.copy()), "b", "missing sum over the batch"),
    "divided by N": (lambda dx, dw, db, *_: (dx, dw / N, db), "w", f"divided by the batch size N={N}"),
    "N times too large": (lambda dx, dw, db, *_: (dx, dw, N * db), "b", f"N={N} times too large"),
    "all zeros": (lambda dx, dw, db, *_: (dx, np.zeros_like(dw), db), "w", "all zeros"),
    "NaN": (lambda dx, dw, db, *_: (dx, dw, np.full_like(db, np.nan)), "b", "NaN or inf"),
    "None for one input": (lambda dx, dw, db, *_: (dx, None, db), "w", "returned None"),
    "reshaped": (lambda dx, dw, db, *_: (dx.reshape(-1), dw, db), "x", "right values, wrong shape"),
    "arbitrary factor": (lambda dx, dw, db, *_: (dx, 3 * dw, db), "w", "3 × the expected"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_diagnosis_on_a_deliberately_wrong_affine_backward(case, affine_inputs):
    change, bad, words = CASES[case]
    report = check_layer(affine_forward, buggy(change), affine_inputs)
    assert not report.passed, str(report)
    assert not report[bad].passed
    assert words in (report[bad].diagnosis or ""), str(report)
    # the other inputs' gradients are right and reported as such
    for r in report.results:
        if r.name != bad:
            assert r.passed, str(report)
    assert f"d{bad}" in str(report) and "likely cause" in str(report)


def test_transposed_square_weight_gradient_is_recognised_by_value(rng):
    inputs = {"x": rng.standard_normal((N, 3)), "w": rng.standard_normal((3, 3)), "b": rng.standard_normal(3)}
    report = check_layer(affine_forward, buggy(lambda dx, dw, db, *_: (dx, dw.T, db)), inputs)
    assert "transposed" in report["w"].diagnosis, str(report)


def test_only_the_first_example_right(affine_inputs):
    def change(dx, dw, db, *_):
        wrong = np.zeros_like(dx)
        wrong[0] = dx[0]
        return wrong, dw, db

    report = check_layer(affine_forward, buggy(change), affine_inputs)
    assert "only the first example" in report["x"].diagnosis, str(report)


def test_only_some_examples_right(affine_inputs):
    def change(dx, dw, db, *_):
        wrong = dx.copy()
        wrong[2:] *= 3  # a loop that stopped early, then garbage
        return wrong, dw, db

    report = check_layer(affine_forward, buggy(change), affine_inputs)
    assert f"only 2 of {N} examples" in report["x"].diagnosis, str(report)


def test_only_some_entries_right(affine_inputs):
    def change(dx, dw, db, *_):
        wrong = dw.copy()
        wrong[:, -1] = 0  # the last output column forgotten
        return dx, wrong, db

    report = check_layer(affine_forward, buggy(change), affine_inputs)
    assert f"only {D * (M - 1)} of {D * M} entries" in report["w"].diagnosis, str(report)


def test_only_the_first_entry_right(affine_inputs):
    def change(dx, dw, db, *_):
        wrong = np.zeros_like(db) + 1e3
        wrong[0] = db[0]
        return dx, dw, wrong

    report = check_layer(affine_forward, buggy(change), affine_inputs)
    assert "only the first entry" in report["b"].diagnosis, str(report)


def test_backward_returning_none(affine_inputs):
    report = check_layer(affine_forward, lambda dout, cache: None, affine_inputs)
    assert not report.passed
    assert any("return statement" in p for p in report.problems), str(report)
    assert all("returned None" in r.diagnosis for r in report.results)


def test_wrong_number_of_gradients(affine_inputs):
    report = check_layer(affine_forward, buggy(lambda dx, dw, db, *_: (dx, dw)), affine_inputs)
    assert not report.passed
    assert any("returned 2 gradient(s)" in p and "3 input(s)" in p for p in report.problems), str(report)
    assert report["x"].passed and report["w"].passed and not report["b"].passed


def test_backward_that_mutates_dout(affine_inputs, rng):
    def backward(dout, cache):
        grads = affine_backward(dout, cache)
        dout *= 0  # "free memory": a classic of class-based layers
        return grads

    dout = rng.standard_normal((N, M))
    keep = dout.copy()
    report = check_layer(affine_forward, backward, affine_inputs, dout=dout)
    assert not report.passed
    assert any("modified dout" in p for p in report.problems), str(report)
    # the gradients themselves were right, and were judged against the untouched dout
    assert all(r.passed for r in report.results), str(report)
    np.testing.assert_array_equal(dout, keep)


def test_backward_that_mutates_its_cache(affine_inputs):
    def backward(dout, cache):
        grads = affine_backward(dout, cache)
        cache[0][...] = 0
        return grads

    report = check_layer(affine_forward, backward, affine_inputs)
    assert any("modified the cache" in p for p in report.problems), str(report)


def test_forward_that_mutates_its_input(rng):
    def relu_inplace_forward(x):
        np.maximum(x, 0, out=x)  # overwrites the caller's x
        return x.copy(), x

    def relu_backward(dout, cache):
        return dout * (cache > 0)

    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 0.01] = 0.5  # keep away from the kink
    report = check_layer(relu_inplace_forward, relu_backward, {"x": x})
    assert not report.passed
    assert any("forward modified its input 'x'" in p for p in report.problems), str(report)


def test_factor_half_with_two_examples_names_both_causes(rng):
    inputs = {"x": rng.standard_normal((2, D)), "w": rng.standard_normal((D, M)), "b": rng.standard_normal(M)}
    report = check_layer(affine_forward, buggy(lambda dx, dw, db, *_: (dx, dw / 2, db)), inputs)
    diag = report["w"].diagnosis
    assert "factor 2 too small" in diag and "divided by the batch size N=2" in diag, diag


def test_report_names_the_worst_entry(affine_inputs):
    def change(dx, dw, db, *_):
        wrong = db.copy()
        wrong[3] += 1.0
        return dx, dw, wrong

    report = check_layer(affine_forward, buggy(change), affine_inputs)
    r = report["b"]
    assert r.worst_index == (3,)
    assert r.analytic_value == pytest.approx(r.numerical_value + 1.0, abs=1e-6)
    assert "worst at index (3,)" in str(report)


# ------------------------------------------------------------------------------------------------
# Why the upstream gradient must be random: a bug that dout = ones cannot see
# ------------------------------------------------------------------------------------------------

def standardize_forward(x):
    """y = (x − mean) / std per column: BatchNorm without γ and β."""
    mu = x.mean(axis=0)
    std = np.sqrt(x.var(axis=0) + 1e-5)
    xhat = (x - mu) / std
    return xhat, (xhat, std)


def standardize_backward(dout, cache):
    # dx = (dout − mean(dout) − x̂·mean(dout·x̂)) / std
    xhat, std = cache
    return (dout - dout.mean(axis=0) - xhat * (dout * xhat).mean(axis=0)) / std


def standardize_backward_forgets_variance_term(dout, cache):
    _, std = cache
    return (dout - dout.mean(axis=0)) / std


def test_all_ones_dout_hides_a_bug_that_a_random_dout_catches(rng):
    x = rng.standard_normal((5, 3))
    ones = np.ones((5, 3))
    # the reference is right with either dout
    assert check_layer(standardize_forward, standardize_backward, {"x": x}).passed
    # (with dout = ones the true dx is exactly 0: the check must not fail a correct layer on
    # finite-difference noise, ~1e-11, just because rel_error's floor is 1e-8)
    assert check_layer(standardize_forward, standardize_backward, {"x": x}, dout=ones).passed
    # with dout = ones the true dx is 0 and so is the forgotten term: the bug is invisible ...
    hidden = check_layer(standardize_forward, standardize_backward_forgets_variance_term, {"x": x}, dout=ones)
    assert hidden.passed, str(hidden)
    # ... and the default random dout exposes it
    caught = check_layer(standardize_forward, standardize_backward_forgets_variance_term, {"x": x})
    assert not caught.passed and caught["x"].rel_error > 1e-2, str(caught)


def test_forgetting_the_mean_term_is_visible_even_with_ones(rng):
    # the claim "the mean term vanishes for constant dout" is false: −mean(dout)/std ≠ 0
    x = rng.standard_normal((5, 3))

    def forgets_mean(dout, cache):
        xhat, std = cache
        return (dout - xhat * (dout * xhat).mean(axis=0)) / std

    report = check_layer(standardize_forward, forgets_mean, {"x": x}, dout=np.ones((5, 3)))
    assert not report.passed


# ------------------------------------------------------------------------------------------------
# diagnose() called directly
# ------------------------------------------------------------------------------------------------

def test_diagnose_direct_cases():
    n = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "returned None" in diagnose(None, n)
    assert "not an array of shape (2, 2)" in diagnose({"a": 1}, n)
    assert "dtype" in diagnose(np.array([["a", "b"], ["c", "d"]]), n)
    assert "wrong shape" in diagnose(np.ones(3), n)
    assert "wrong sign" in diagnose(-n, n)
    assert "missing sum over the batch" in diagnose(np.stack([n / 3] * 3), n, batch_size=3)
    # nothing recognisable: every entry wrong in a different way
    assert diagnose(np.array([[5.0, -1.0], [0.5, 9.0]]), n) is None


def test_tiny_entries_next_to_large_ones_do_not_fail_a_correct_layer(rng):
    # tanh'(7) ≈ 3.3e-6: its finite difference is good to ~1e-11 absolutely, i.e. only ~1e-5
    # relatively; judging it by relative error alone would fail a correct layer (a false alarm a
    # grader must never raise)
    def tanh_forward(x):
        out = np.tanh(x)
        return out, out

    def tanh_backward(dout, cache):
        return dout * (1 - cache**2)

    x = rng.standard_normal((3, 4))
    x[1, 2] = 7.0
    report = check_layer(tanh_forward, tanh_backward, {"x": x})
    assert report.passed, str(report)
    assert report["x"].rel_error < 1e-8 and report["x"].max_abs_error < 1e-9
    assert "noise floor" in str(report)
    # a wrong tiny entry is still caught: make that one entry 10× too large
    wrong = check_layer(tanh_forward, lambda d, c: tanh_backward(d, c) * np.where(c > 0.999, 10, 1), {"x": x})
    assert not wrong.passed and wrong["x"].worst_index == (1, 2), str(wrong)
