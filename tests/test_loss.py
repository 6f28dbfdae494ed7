"""Chapter 2 — loss functions: worked examples by hand, gradient checks, properties, stability,
and every failure path."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import batch_sizes, float_arrays, scores_and_labels, seeds

from course_lib.gradcheck import numerical_gradient, rel_error
from course_lib.loss import (
    binary_cross_entropy,
    hinge_loss,
    l2_penalty,
    log_softmax,
    mse_loss,
    sigmoid_cross_entropy,
    softmax,
    softmax_cross_entropy,
)
from course_lib.neuron import neuron_forward, sigmoid


def grad_check(loss_fn, x, *args, **kwargs):
    """Relative error between the analytic gradient and central differences, for x.

    Every entry must agree to 1e-7 (relative to the largest entry); the relative error is then
    taken over the entries at least 1e-2 of the largest. A tiny entry (a softmax probability of
    e^(−13) gives ~1e-6) has a numerical value good only to the rounding error of L itself,
    ~1e-11 — relatively 1e-5 — which says nothing about the code.
    """
    _, analytic = loss_fn(x, *args, **kwargs)
    numerical = numerical_gradient(lambda v: loss_fn(v, *args, **kwargs)[0], x)
    scale = max(1.0, float(np.abs(numerical).max()))
    assert np.abs(analytic - numerical).max() < 1e-7 * scale
    big = np.maximum(np.abs(analytic), np.abs(numerical)) >= 1e-2 * np.abs(numerical).max()
    return rel_error(analytic[big], numerical[big])


# ------------------------------------------------------------------------------------------------
# Mean squared error (quadratic cost)
# ------------------------------------------------------------------------------------------------

def test_mse_worked_example():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[1.0, 0.0], [0.0, 4.0]])
    # ‖(0, 2)‖² + ‖(3, 0)‖² = 4 + 9 = 13; L = 13 / (2·2) = 3.25; dL/dpred = diff / N
    loss, grad = mse_loss(pred, target)
    assert loss == pytest.approx(3.25)
    np.testing.assert_allclose(grad, [[0.0, 1.0], [1.5, 0.0]])
    # PyTorch's MSELoss averages over all N·K = 4 elements and has no ½: 13/4 = 2·L/K
    assert np.mean((pred - target) ** 2) == pytest.approx(2 * loss / 2)


def test_mse_worked_example_1d():
    # diffs (0, 1, 2): Σ = 5, L = 5 / (2·3) = 5/6, grad = (0, 1, 2)/3
    loss, grad = mse_loss(np.array([1.0, 2.0, 3.0]), np.ones(3))
    assert loss == pytest.approx(5 / 6)
    np.testing.assert_allclose(grad, [0.0, 1 / 3, 2 / 3])


@pytest.mark.parametrize("shape", [(1,), (5,), (1, 1), (4, 3)])
def test_mse_gradient_check(shape, rng):
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    assert grad_check(mse_loss, pred, target) < 1e-8


@given(float_arrays(rank=(1, 2)), st.data())
def test_mse_is_zero_iff_pred_equals_target(pred, data):
    delta = data.draw(float_arrays(pred.shape, bound=3.0))
    delta = np.where(np.abs(delta) < 1e-3, 0.0, delta)  # a difference is either 0 or visible
    loss, grad = mse_loss(pred, pred + delta)
    assert loss >= 0
    assert (loss == 0) == (not delta.any())
    if not delta.any():
        assert not grad.any()


# ------------------------------------------------------------------------------------------------
# Softmax and cross-entropy
# ------------------------------------------------------------------------------------------------

def test_softmax_cross_entropy_worked_examples():
    # scores (0, ln 3): softmax = (1/4, 3/4); label 0: L = −ln(1/4) = ln 4; grad = (1/4 − 1, 3/4)
    loss, grad = softmax_cross_entropy(np.array([[0.0, math.log(3)]]), np.array([0]))
    assert loss == pytest.approx(math.log(4))
    np.testing.assert_allclose(grad, [[-0.75, 0.75]])
    # CS231n's cat example: scores (3.2, 5.1, −1.7), true class 0:
    # L = ln(e^3.2 + e^5.1 + e^−1.7) − 3.2 ≈ 2.04 (natural log; 0.89 would be log10)
    expected = math.log(math.exp(3.2) + math.exp(5.1) + math.exp(-1.7)) - 3.2
    loss, _ = softmax_cross_entropy(np.array([[3.2, 5.1, -1.7]]), np.array([0]))
    assert loss == pytest.approx(expected, rel=1e-14) and loss == pytest.approx(2.0404, abs=1e-4)


def test_softmax_values_by_hand():
    np.testing.assert_allclose(softmax(np.array([0.0, math.log(3)])), [0.25, 0.75])
    np.testing.assert_allclose(log_softmax(np.array([[0.0, math.log(3)]])), [[math.log(0.25), math.log(0.75)]])


@pytest.mark.parametrize(("n", "c"), [(1, 2), (1, 5), (4, 3), (3, 10)])
def test_softmax_cross_entropy_gradient_check(n, c, rng):
    scores = rng.standard_normal((n, c)) * 3
    y = rng.integers(0, c, size=n)
    assert grad_check(softmax_cross_entropy, scores, y) < 5e-8


@given(scores_and_labels())
def test_softmax_cross_entropy_gradient_on_random_shapes(pair):
    scores, y = pair
    assert grad_check(softmax_cross_entropy, scores.copy(), y) < 1e-7


@given(float_arrays(rank=(1, 3), bound=50.0), st.floats(-100, 100))
def test_softmax_is_shift_invariant_and_rows_sum_to_one(s, c):
    p = softmax(s)
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(softmax(s + c), p, atol=1e-12)
    np.testing.assert_allclose(log_softmax(s + c), log_softmax(s), atol=1e-9)
    assert (log_softmax(s) <= 0).all()


@given(scores_and_labels())
def test_cross_entropy_is_nonnegative_and_its_gradient_rows_sum_to_zero(pair):
    scores, y = pair
    loss, grad = softmax_cross_entropy(scores, y)
    assert loss >= 0
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)
    # the correct class is the only negative entry of each row
    n = len(y)
    assert (grad[np.arange(n), y] <= 0).all()


@given(batch_sizes(), st.integers(2, 10), st.floats(-50, 50), seeds())
def test_cross_entropy_of_uniform_scores_is_log_c(n, c, value, seed):
    y = np.random.default_rng(seed).integers(0, c, size=n)
    loss, _ = softmax_cross_entropy(np.full((n, c), value), y)
    assert loss == pytest.approx(math.log(c), rel=1e-12)


def test_cross_entropy_stable_for_scores_of_1000():
    scores = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    y = np.array([1, 1])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss, grad = softmax_cross_entropy(scores, y)
        p = softmax(scores)
        lp = log_softmax(scores)
    # row 0: −log softmax = 1000 − (−1000) = 2000; row 1: 0. Mean 1000.
    assert loss == 1000.0
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-300)
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.isfinite(lp).all() and lp[0, 1] == -2000.0


def test_float32_scores_stay_float32():
    loss, grad = softmax_cross_entropy(np.array([[1.0, 2.0]], dtype=np.float32), np.array([1]))
    assert grad.dtype == np.float32 and isinstance(loss, float)


# ------------------------------------------------------------------------------------------------
# Hinge (multiclass SVM) loss
# ------------------------------------------------------------------------------------------------

CS231N_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
CS231N_LABELS = np.array([0, 1, 2])


def test_hinge_cs231n_worked_example():
    # row 0 (true 0, s = 3.2): max(0, 5.1 − 3.2 + 1) + max(0, −1.7 − 3.2 + 1) = 2.9 + 0 = 2.9
    # row 1 (true 1, s = 4.9): max(0, 1.3 − 4.9 + 1) + max(0, 2.0 − 4.9 + 1) = 0 + 0 = 0
    # row 2 (true 2, s = −3.1): max(0, 2.2 + 3.1 + 1) + max(0, 2.5 + 3.1 + 1) = 6.3 + 6.6 = 12.9
    # mean = (2.9 + 0 + 12.9) / 3 = 15.8 / 3 ≈ 5.27
    loss, grad = hinge_loss(CS231N_SCORES, CS231N_LABELS)
    assert loss == pytest.approx(15.8 / 3) and round(loss, 2) == 5.27
    # gradient: +1/N per violated class, −(count)/N on the true class
    np.testing.assert_allclose(grad, np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3)
    # per-example losses, one row at a time
    for row, expected in zip(range(3), [2.9, 0.0, 12.9]):
        assert hinge_loss(CS231N_SCORES[row : row + 1], CS231N_LABELS[row : row + 1])[0] == pytest.approx(expected)


def test_hinge_margin():
    # margin 0: row 0 costs 5.1 − 3.2 = 1.9; row 2: 5.3 + 5.6 = 10.9
    loss, _ = hinge_loss(CS231N_SCORES, CS231N_LABELS, margin=0.0)
    assert loss == pytest.approx((1.9 + 0 + 10.9) / 3)


def _away_from_kinks(scores, y, margin=1.0):
    m = scores - scores[np.arange(len(y)), y][:, None] + margin
    m[np.arange(len(y)), y] = 99
    return np.abs(m).min() > 1e-3


@pytest.mark.parametrize(("n", "c"), [(1, 2), (4, 3), (3, 6)])
def test_hinge_gradient_check(n, c, rng):
    while True:
        scores = rng.standard_normal((n, c))
        y = rng.integers(0, c, size=n)
        if _away_from_kinks(scores, y):
            break
    assert grad_check(hinge_loss, scores, y) < 1e-8


@given(scores_and_labels(bound=3.0))
def test_hinge_properties_on_random_shapes(pair):
    scores, y = pair
    loss, grad = hinge_loss(scores, y)
    assert loss >= 0
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)
    assume(_away_from_kinks(scores, y))
    assert grad_check(hinge_loss, scores.copy(), y) < 1e-6


@given(scores_and_labels())
def test_hinge_is_zero_when_the_true_class_wins_by_the_margin(pair):
    scores, y = pair
    scores = scores.copy()
    scores[np.arange(len(y)), y] = scores.max(axis=1) + 1.5
    loss, grad = hinge_loss(scores, y)
    assert loss == 0.0 and not grad.any()


def test_hinge_stable_for_scores_of_1000():
    loss, grad = hinge_loss(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert loss == 2001.0 and np.isfinite(grad).all()


# ------------------------------------------------------------------------------------------------
# Binary cross-entropy (sigmoid neuron)
# ------------------------------------------------------------------------------------------------

def test_binary_cross_entropy_worked_examples():
    assert binary_cross_entropy(np.array([0.5]), np.array([1.0]))[0] == pytest.approx(math.log(2))
    loss, grad = binary_cross_entropy(np.array([0.8, 0.3]), np.array([1.0, 0.0]))
    assert loss == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    # dL/dp = (p − y) / (p(1 − p)) / N: (−0.2/0.16, 0.3/0.21) / 2
    np.testing.assert_allclose(grad, [-0.2 / 0.16 / 2, 0.3 / 0.21 / 2])


def test_sigmoid_cross_entropy_matches_and_cancels_sigma_prime(rng):
    z = rng.standard_normal((4, 3)) * 3
    y = rng.integers(0, 2, size=(4, 3)).astype(float)
    loss_z, dz = sigmoid_cross_entropy(z, y)
    loss_p, dp = binary_cross_entropy(sigmoid(z), y)
    assert loss_z == pytest.approx(loss_p, rel=1e-12)
    # chain rule through σ: dL/dz = dL/dp · σ(1 − σ) = (σ − y)/N
    s = sigmoid(z)
    np.testing.assert_allclose(dz, dp * s * (1 - s), rtol=1e-10)
    np.testing.assert_allclose(dz, (s - y) / 4, rtol=1e-12)


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 2)])
def test_binary_losses_gradient_check(shape, rng):
    y = rng.uniform(0, 1, size=shape)
    p = rng.uniform(0.05, 0.95, size=shape)
    assert grad_check(binary_cross_entropy, p, y) < 1e-7
    assert grad_check(sigmoid_cross_entropy, rng.standard_normal(shape) * 3, y) < 1e-8


def test_sigmoid_cross_entropy_stable_at_1000():
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss, grad = sigmoid_cross_entropy(np.array([1000.0, -1000.0]), np.array([0.0, 0.0]))
    # −ln(1 − σ(1000)) = 1000 (to double precision), −ln(1 − σ(−1000)) = 0; mean 500
    assert loss == 500.0
    np.testing.assert_array_equal(grad, [0.5, 0.0])


def test_quadratic_cost_learns_slowly_when_saturated_cross_entropy_does_not():
    # the thesis' remark that cross-entropy can learn much faster than the quadratic cost: a
    # sigmoid neuron with z = −6 that should output 1 gets dL/dz ≈ −σ'(−6) ≈ −0.0025 from the
    # quadratic cost, but ≈ −1 from the cross-entropy
    z = np.array([-6.0])
    s = sigmoid(z)
    _, dmse = mse_loss(s, np.ones(1))
    dz_mse = dmse * s * (1 - s)
    _, dz_ce = sigmoid_cross_entropy(z, np.ones(1))
    assert abs(dz_mse[0]) < 0.003 and abs(dz_ce[0]) > 0.99


# ------------------------------------------------------------------------------------------------
# L2 penalty
# ------------------------------------------------------------------------------------------------

def test_l2_worked_example():
    # Σw² = 1 + 4 + 9 = 14; loss = 0.1·14 = 1.4; grad = 2·0.1·w
    loss, grad = l2_penalty(np.array([1.0, -2.0, 3.0]), 0.1)
    assert loss == pytest.approx(1.4)
    np.testing.assert_allclose(grad, [0.2, -0.4, 0.6])
    loss, grads = l2_penalty([np.array([1.0, -2.0, 3.0]), np.array([[1.0]])], 0.1)
    assert loss == pytest.approx(1.5) and isinstance(grads, list) and len(grads) == 2
    np.testing.assert_allclose(grads[1], [[0.2]])
    loss, grads = l2_penalty((np.ones(2),), 0.0)
    assert loss == 0.0 and len(grads) == 1 and not grads[0].any()


def test_l2_gradient_check(rng):
    w = rng.standard_normal((3, 4))
    assert grad_check(l2_penalty, w, 0.37) < 1e-9


@given(float_arrays(rank=(1, 3)), st.floats(0, 10))
def test_l2_is_nonnegative_and_homogeneous(w, reg):
    loss, grad = l2_penalty(w, reg)
    assert loss >= 0
    assert l2_penalty(2 * w, reg)[0] == pytest.approx(4 * loss, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(grad, 2 * reg * w)


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss_fn", [softmax_cross_entropy, hinge_loss])
def test_label_failure_paths(loss_fn):
    scores = np.zeros((2, 3))
    with pytest.raises(TypeError, match="integer class labels"):
        loss_fn(scores, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="NumPy array of integer labels"):
        loss_fn(scores, [0, 1])
    with pytest.raises(ValueError, match=r"labels in \[0, 3\), got values from 0 to 3"):
        loss_fn(scores, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels in \[0, 3\), got values from -1 to 1"):
        loss_fn(scores, np.array([-1, 1]))
    with pytest.raises(ValueError, match=r"y has shape \(3,\) but scores has shape \(2, 3\)"):
        loss_fn(scores, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-finite"):
        loss_fn(np.array([[0.0, np.nan, 1.0], [0, 0, 0]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="scores must be 2-D"):
        loss_fn(np.zeros(3), np.array([0]))
    with pytest.raises(TypeError, match="scores must be a NumPy array"):
        loss_fn([[0.0, 1.0]], np.array([0]))
    with pytest.raises(ValueError, match="at least one example"):
        loss_fn(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_hinge_margin_validation():
    with pytest.raises(ValueError, match="margin must be >= 0"):
        hinge_loss(CS231N_SCORES, CS231N_LABELS, margin=-1.0)


def test_mse_failure_paths():
    with pytest.raises(ValueError, match=r"pred and target must have the same shape, got \(2, 3\) and \(3, 2\)"):
        mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        mse_loss(np.array([np.nan]), np.zeros(1))
    with pytest.raises(TypeError, match="floating dtype"):
        mse_loss(np.array([1, 2]), np.zeros(2))
    with pytest.raises(ValueError, match="pred must be 1-D or 2-D"):
        mse_loss(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)))
    with pytest.raises(ValueError, match="at least one example"):
        mse_loss(np.zeros(0), np.zeros(0))


def test_l2_failure_paths():
    with pytest.raises(ValueError, match="reg must be >= 0"):
        l2_penalty(np.ones(2), -0.1)
    with pytest.raises(TypeError, match="reg must be a real number"):
        l2_penalty(np.ones(2), None)
    with pytest.raises(TypeError, match=r"w\[1\] must be a NumPy array"):
        l2_penalty([np.ones(2), [1.0]], 0.1)
    with pytest.raises(ValueError, match="non-finite"):
        l2_penalty(np.array([np.inf]), 0.1)


def test_binary_failure_paths():
    with pytest.raises(ValueError, match=r"strictly inside \(0, 1\)"):
        binary_cross_entropy(np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        binary_cross_entropy(np.array([0.5]), np.array([2.0]))
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        sigmoid_cross_entropy(np.array([0.5]), np.array([-1.0]))
    with pytest.raises(ValueError, match=r"z and y must have the same shape, got \(2,\) and \(3,\)"):
        sigmoid_cross_entropy(np.zeros(2), np.zeros(3))


def test_softmax_failure_paths():
    with pytest.raises(ValueError, match="non-empty class axis"):
        softmax(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="non-empty class axis"):
        log_softmax(np.array(1.0))


# ------------------------------------------------------------------------------------------------
# Source errata, checked: the quadratic cost of a network with a hidden layer is not convex
# ------------------------------------------------------------------------------------------------

def test_swapping_hidden_units_keeps_the_loss_but_the_midpoint_is_worse(rng):
    """The thesis argues non-convexity from "two distinct minima". That alone proves nothing (a
    convex function may have many minimisers); what does is that the *midpoint* of the two
    equivalent parameter sets is strictly worse than both, which convexity forbids."""
    x = rng.standard_normal((20, 2))
    w1, b1 = np.array([[2.0, -1.0], [0.5, 1.5]]), np.array([0.3, -0.2])
    w2, b2 = np.array([[1.0], [-2.0]]), np.array([0.1])

    def net(w1, b1, w2, b2):
        h, _ = neuron_forward(x, w1, b1, "sigmoid")
        return neuron_forward(h, w2, b2, "identity")[0]

    target = net(w1, b1, w2, b2)  # a teacher network: these parameters reach loss 0
    perm = [1, 0]
    swapped = (w1[:, perm], b1[perm], w2[perm], b2)
    loss_a, _ = mse_loss(net(w1, b1, w2, b2), target)
    loss_b, _ = mse_loss(net(*swapped), target)
    mid = [(p + q) / 2 for p, q in zip((w1, b1, w2, b2), swapped)]
    loss_mid, _ = mse_loss(net(*mid), target)
    assert loss_a == 0.0 and loss_b == pytest.approx(0.0, abs=1e-25)
    assert loss_mid > 0.01 > (loss_a + loss_b) / 2  # convexity would need loss_mid <= the average
