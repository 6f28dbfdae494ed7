"""Chapter 1 — the neuron: activations (values, derivatives, stability), the single neuron /
dense layer, the perceptron and XOR."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays_away_from, batch_sizes, float_arrays, seeds

from course_lib import neuron
from course_lib.gradcheck import check_layer
from course_lib.neuron import (
    AND_PERCEPTRON,
    BOOLEAN_INPUTS,
    ELU,
    NAND_PERCEPTRON,
    OR_PERCEPTRON,
    XOR_NOT_SEPARABLE_MULTIPLIERS,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    certifies_not_linearly_separable,
    elu_backward,
    elu_forward,
    grid_search_perceptrons,
    leaky_relu_backward,
    leaky_relu_forward,
    neuron_backward,
    neuron_forward,
    perceptron,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
    xor_network,
)

# name -> (forward, backward, kwargs, kinks)
ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward, {}, ()),
    "tanh": (tanh_forward, tanh_backward, {}, ()),
    "relu": (relu_forward, relu_backward, {}, (0.0,)),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward, {"alpha": 0.1}, (0.0,)),
    "elu": (elu_forward, elu_backward, {"alpha": 0.7}, (0.0,)),
}


# ------------------------------------------------------------------------------------------------
# Worked examples, by hand
# ------------------------------------------------------------------------------------------------

def test_activation_values_worked_by_hand():
    # σ(0) = 1/2; σ(ln 3) = 1/(1 + 1/3) = 3/4; σ(−ln 3) = 1/4
    np.testing.assert_allclose(sigmoid(np.array([0.0, math.log(3), -math.log(3)])), [0.5, 0.75, 0.25], rtol=1e-15)
    # tanh(ln 2) = (2 − 1/2)/(2 + 1/2) = 3/5
    assert tanh_forward(np.array([math.log(2)]))[0][0] == pytest.approx(0.6, rel=1e-15)
    np.testing.assert_array_equal(relu_forward(np.array([-2.0, 0.0, 3.0]))[0], [0.0, 0.0, 3.0])
    np.testing.assert_allclose(leaky_relu_forward(np.array([-2.0, 3.0]), alpha=0.1)[0], [-0.2, 3.0])
    # elu(−ln 2) = 1·(1/2 − 1) = −1/2; with α = 2: −1
    np.testing.assert_allclose(elu_forward(np.array([-math.log(2), 2.0]))[0], [-0.5, 2.0], rtol=1e-15)
    np.testing.assert_allclose(elu_forward(np.array([-math.log(2)]), alpha=2.0)[0], [-1.0], rtol=1e-15)


def test_derivatives_worked_by_hand():
    one = np.ones(1)
    # σ'(ln 3) = 3/4 · 1/4 = 3/16; tanh'(ln 2) = 1 − 9/25 = 16/25
    assert sigmoid_backward(one, sigmoid_forward(np.array([math.log(3)]))[1])[0] == pytest.approx(3 / 16)
    assert tanh_backward(one, tanh_forward(np.array([math.log(2)]))[1])[0] == pytest.approx(16 / 25)
    # kinks: the left derivative at 0 (as PyTorch)
    assert relu_backward(one, relu_forward(np.zeros(1))[1])[0] == 0.0
    assert leaky_relu_backward(one, leaky_relu_forward(np.zeros(1), alpha=0.1)[1])[0] == pytest.approx(0.1)
    assert elu_backward(one, elu_forward(np.zeros(1), alpha=0.7)[1])[0] == pytest.approx(0.7)
    # elu'(−ln 2) = α e^x = 1/2
    assert elu_backward(one, elu_forward(np.array([-math.log(2)]))[1])[0] == pytest.approx(0.5)


def test_sigmoid_derivative_peaks_at_a_quarter_at_zero():
    z = np.linspace(-6, 6, 1201)  # contains 0 exactly (index 600)
    d = sigmoid_backward(np.ones_like(z), sigmoid_forward(z)[1])
    assert d.max() == 0.25 and int(d.argmax()) == 600 and z[600] == 0.0
    assert (d <= 0.25).all()


# ------------------------------------------------------------------------------------------------
# Gradient checks
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradient_check(name, rng):
    fwd, bwd, kwargs, kinks = ACTIVATIONS[name]
    x = rng.standard_normal((4, 5)) * 2
    for k in kinks:  # a central difference across a kink is meaningless: keep 0.01 away
        x[np.abs(x - k) < 1e-2] += 0.1
    report = check_layer(fwd, bwd, {"x": x}, kwargs=kwargs)
    assert report.passed, str(report)
    assert report["x"].rel_error < 1e-8, str(report)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(data=st.data())
def test_activation_gradient_check_on_random_shapes(name, data):
    fwd, bwd, kwargs, kinks = ACTIVATIONS[name]
    x = data.draw(arrays_away_from(rank=(1, 3), kinks=kinks or (1e9,), margin=1e-2, bound=6.0))
    report = check_layer(fwd, bwd, {"x": x}, kwargs=kwargs, seed=data.draw(seeds()))
    assert report.passed, str(report)
    assert report["x"].rel_error < 1e-7, str(report)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity"])
@pytest.mark.parametrize("layout", ["one neuron, one example", "one neuron, batch", "layer, one example", "layer, batch"])
def test_neuron_gradient_check(activation, layout, rng):
    d, n, m = 3, 4, 2
    x = rng.standard_normal((n, d) if "batch" in layout else (d,))
    if layout.startswith("one neuron"):
        w, b = rng.standard_normal(d), np.array(0.3)
    else:
        w, b = rng.standard_normal((d, m)), rng.standard_normal(m)
    z = np.asarray(x @ w + b)
    if np.abs(z).min() < 1e-2:  # pragma: no cover - depends on the seed; keep away from kinks
        b = b + 0.05
    report = check_layer(neuron_forward, neuron_backward, {"x": x, "w": w, "b": b}, kwargs={"activation": activation})
    assert report.passed, str(report)
    for name in "xwb":
        assert report[name].rel_error < 1e-7, str(report)


@given(n=batch_sizes(4), d=st.integers(1, 4), m=st.integers(1, 3), seed=seeds())
def test_dense_layer_gradient_check_on_random_shapes(n, d, m, seed):
    r = np.random.default_rng(seed)
    inputs = {"x": r.standard_normal((n, d)), "w": r.standard_normal((d, m)), "b": r.standard_normal(m)}
    report = check_layer(neuron_forward, neuron_backward, inputs, kwargs={"activation": "tanh"}, seed=seed)
    assert report.passed, str(report)


# ------------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(x=float_arrays(rank=(0, 3), bound=50.0))
def test_shape_and_dtype_preserved(name, x):
    fwd, bwd, kwargs, _ = ACTIVATIONS[name]
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        out, cache = fwd(xd, **kwargs)
        assert out.shape == x.shape and out.dtype == dtype
        dx = bwd(np.ones_like(xd), cache)
        assert dx.shape == x.shape and dx.dtype == dtype


@given(float_arrays(rank=(1, 2), bound=40.0))
def test_sigmoid_range_and_symmetry(z):
    s = sigmoid(z)
    assert ((s >= 0) & (s <= 1)).all()
    np.testing.assert_allclose(sigmoid(-z), 1 - s, atol=1e-15)
    # σ is increasing
    order = np.argsort(z.ravel(), kind="stable")
    assert (np.diff(s.ravel()[order]) >= 0).all()


@given(float_arrays(rank=(1, 2), bound=20.0))
def test_tanh_is_odd_and_a_rescaled_sigmoid(z):
    t = tanh_forward(z)[0]
    np.testing.assert_array_equal(tanh_forward(-z)[0], -t)
    np.testing.assert_allclose(t, 2 * sigmoid(2 * z) - 1, atol=1e-15)
    assert (np.abs(t) <= 1).all()


@given(float_arrays(rank=(1, 3)))
def test_relu_is_idempotent_and_nonnegative(x):
    once = relu_forward(x)[0]
    np.testing.assert_array_equal(relu_forward(once)[0], once)
    assert (once >= 0).all()
    np.testing.assert_array_equal(once - relu_forward(-x)[0], x)  # relu(x) − relu(−x) = x


@given(float_arrays(rank=(1, 2)), st.floats(0.01, 10.0))
def test_relu_family_is_positively_homogeneous(x, c):
    for fwd, kwargs in ((relu_forward, {}), (leaky_relu_forward, {"alpha": 0.2})):
        np.testing.assert_allclose(fwd(c * x, **kwargs)[0], c * fwd(x, **kwargs)[0], rtol=1e-12, atol=1e-300)


@given(float_arrays(rank=1, bound=30.0), st.floats(0.0, 3.0))
def test_elu_bounds_and_continuity(x, alpha):
    out = elu_forward(x, alpha=alpha)[0]
    assert (out >= -alpha).all()
    np.testing.assert_array_equal(out[x > 0], x[x > 0])
    eps = 1e-9
    left, right = elu_forward(np.array([-eps, eps]), alpha=alpha)[0]
    assert abs(left - right) < 1e-8 * (1 + alpha)


def test_leaky_relu_with_alpha_zero_is_relu_and_one_is_identity(rng):
    x = rng.standard_normal(10)
    np.testing.assert_array_equal(leaky_relu_forward(x, alpha=0.0)[0], relu_forward(x)[0])
    np.testing.assert_array_equal(leaky_relu_forward(x, alpha=1.0)[0], x)
    np.testing.assert_array_equal(elu_forward(x, alpha=0.0)[0], relu_forward(x)[0])


# ------------------------------------------------------------------------------------------------
# Numerical stability
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stable_for_huge_inputs_without_any_warning(name, dtype):
    fwd, bwd, kwargs, _ = ACTIVATIONS[name]
    big = 1e3 if dtype == np.float64 else 1e2  # far beyond exp's overflow (709 resp. 88)
    x = np.array([-big, -50.0, 0.0, 50.0, big], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out, cache = fwd(x, **kwargs)
        dx = bwd(np.ones_like(x), cache)
    assert np.isfinite(out).all() and np.isfinite(dx).all()


def test_sigmoid_limits_are_exact():
    s = sigmoid(np.array([-1000.0, -745.0, 745.0, 1000.0]))
    assert s[0] == 0.0 and s[3] == 1.0 and s[2] == 1.0
    assert 0.0 <= s[1] < 1e-300
    # and in the middle it matches the textbook formula
    z = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-15)


# ------------------------------------------------------------------------------------------------
# The single neuron / dense layer
# ------------------------------------------------------------------------------------------------

def test_neuron_worked_example():
    # z = 1·0.4 + 0.5·(−0.2) + 0.1 = 0.4
    x, w = np.array([1.0, 0.5]), np.array([0.4, -0.2])
    out, _ = neuron_forward(x, w, 0.1)
    assert out.shape == () and float(out) == pytest.approx(1 / (1 + math.exp(-0.4)), rel=1e-15)
    out, _ = neuron_forward(x, w, 0.1, activation="relu")
    assert float(out) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "b", "out_shape"),
    [((3,), (3,), 0.5, ()), ((4, 3), (3,), np.array(0.5), (4,)), ((3,), (3, 2), np.zeros(2), (2,)), ((4, 3), (3, 2), np.zeros(2), (4, 2))],
)
def test_neuron_shapes(x_shape, w_shape, b, out_shape, rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out, cache = neuron_forward(x, w, b)
    assert out.shape == out_shape
    np.testing.assert_allclose(out, sigmoid(np.asarray(x @ w + b)))
    dx, dw, db = neuron_backward(np.ones(out_shape), cache)
    assert dx.shape == x_shape and dw.shape == w_shape and db.shape == np.shape(b)


def test_a_layer_is_neurons_side_by_side(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    layer = neuron_forward(x, w, b, "tanh")[0]
    for j in range(2):
        np.testing.assert_allclose(layer[:, j], neuron_forward(x, w[:, j], float(b[j]), "tanh")[0], rtol=1e-14)


def test_neuron_failure_paths(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    with pytest.raises(ValueError, match=r"x has shape \(4, 3\) and w has shape \(2,\)"):
        neuron_forward(x, rng.standard_normal(2), 0.0)
    with pytest.raises(ValueError, match=r"b has shape \(3,\).*needs b of shape \(2,\)"):
        neuron_forward(x, rng.standard_normal((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="0-D"):
        neuron_forward(x, w, np.zeros(1))
    with pytest.raises(TypeError, match="b must be a real number"):
        neuron_forward(x, w, "0.5")
    with pytest.raises(ValueError, match="activation must be one of"):
        neuron_forward(x, w, 0.0, activation="softsign")
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        neuron_forward([[1.0, 2.0, 3.0]], w, 0.0)
    with pytest.raises(TypeError, match="floating dtype"):
        neuron_forward(np.ones((2, 3), dtype=np.int64), w, 0.0)
    with pytest.raises(ValueError, match="x must be 1-D or 2-D"):
        neuron_forward(np.ones((2, 3, 1)), w, 0.0)
    _, cache = neuron_forward(x, w, 0.0)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(4,\)"):
        neuron_backward(np.ones((4, 1)), cache)


# ------------------------------------------------------------------------------------------------
# Failure paths of the activations
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_failure_paths(name):
    fwd, bwd, kwargs, _ = ACTIVATIONS[name]
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        fwd([1.0, 2.0], **kwargs)
    with pytest.raises(TypeError, match="floating dtype"):
        fwd(np.array([1, 2]), **kwargs)
    with pytest.raises(ValueError, match="non-finite"):
        fwd(np.array([1.0, np.nan]), **kwargs)
    with pytest.raises(ValueError, match="non-finite"):
        fwd(np.array([np.inf]), **kwargs)
    _, cache = fwd(np.ones((2, 3)), **kwargs)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 3\), got \(3, 2\)"):
        bwd(np.ones((3, 2)), cache)


def test_alpha_validation():
    x = np.ones(2)
    for fwd in (leaky_relu_forward, elu_forward):
        with pytest.raises(ValueError, match="alpha must be >= 0"):
            fwd(x, alpha=-0.1)
        with pytest.raises(TypeError, match="alpha must be a real number"):
            fwd(x, alpha="0.1")
        with pytest.raises(ValueError, match="alpha must be finite"):
            fwd(x, alpha=float("nan"))
    with pytest.raises(ValueError, match="alpha must be <= 1"):
        leaky_relu_forward(x, alpha=1.5)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        LeakyReLU(alpha=-1)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        ELU(alpha=-1)


# ------------------------------------------------------------------------------------------------
# Layer classes
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("layer", "name"),
    [(Sigmoid(), "sigmoid"), (Tanh(), "tanh"), (ReLU(), "relu"), (LeakyReLU(0.1), "leaky_relu"), (ELU(0.7), "elu")],
)
def test_layer_classes_wrap_the_functions(layer, name, rng):
    fwd, bwd, kwargs, _ = ACTIVATIONS[name]
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    out = layer(x)
    ref_out, cache = fwd(x, **kwargs)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(layer.backward(dout), bwd(dout, cache))
    assert layer.params == {} and layer.grads == {} and layer.num_params() == 0
    assert layer.output_shape((1, 28, 28)) == (1, 28, 28) and layer.macs((7,)) == 0
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(dout)


def test_layer_defaults_and_repr():
    assert LeakyReLU().alpha == 0.01 and ELU().alpha == 1.0
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)" and repr(ReLU()) == "ReLU()"


# ------------------------------------------------------------------------------------------------
# Perceptrons: AND, OR, NAND; XOR is not linearly separable but a two-layer network computes it
# ------------------------------------------------------------------------------------------------

TRUTH = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0], "XOR": [0, 1, 1, 0]}


def test_single_perceptrons_compute_and_or_nand():
    np.testing.assert_array_equal(perceptron(BOOLEAN_INPUTS, *AND_PERCEPTRON), TRUTH["AND"])
    np.testing.assert_array_equal(perceptron(BOOLEAN_INPUTS, *OR_PERCEPTRON), TRUTH["OR"])
    np.testing.assert_array_equal(perceptron(BOOLEAN_INPUTS, *NAND_PERCEPTRON), TRUTH["NAND"])
    # one example at a time: 1·1 + 1·1 − 1.5 = 0.5 > 0
    assert perceptron(np.array([1, 1]), *AND_PERCEPTRON) == 1
    assert perceptron(np.array([1, 0]), *AND_PERCEPTRON) == 0
    # the step fires only for z > 0: on the line itself the output is 0
    assert perceptron(np.array([1.0, 1.0]), np.array([1.0, 1.0]), -2.0) == 0


def test_xor_network_computes_xor():
    np.testing.assert_array_equal(xor_network(BOOLEAN_INPUTS), TRUTH["XOR"])
    assert xor_network(np.array([1, 0])) == 1
    with pytest.raises(ValueError, match="two inputs"):
        xor_network(np.ones((4, 3)))


def test_xor_has_no_perceptron_on_a_grid_but_and_or_do():
    grid = np.round(np.arange(-2.0, 2.0001, 0.1), 10)  # 41³ = 68,921 perceptrons
    assert len(grid_search_perceptrons(BOOLEAN_INPUTS, np.array(TRUTH["XOR"]), grid)) == 0
    for name in ("AND", "OR", "NAND"):
        found = grid_search_perceptrons(BOOLEAN_INPUTS, np.array(TRUTH[name]), grid)
        assert len(found) > 0
        for row in found[:: max(1, len(found) // 20)]:  # every solution really computes it
            np.testing.assert_array_equal(perceptron(BOOLEAN_INPUTS, row[:2], row[2]), TRUTH[name])
    and_found = grid_search_perceptrons(BOOLEAN_INPUTS, np.array(TRUTH["AND"]), grid)
    assert any(np.allclose(r, [1.0, 1.0, -1.5]) for r in and_found)


def test_xor_is_not_linearly_separable_proof():
    # Gordan certificate: checked exactly in integers, it rules out *every* (w, b), not a grid
    assert certifies_not_linearly_separable(BOOLEAN_INPUTS, np.array(TRUTH["XOR"]), XOR_NOT_SEPARABLE_MULTIPLIERS)
    # a certificate cannot exist for a separable function: the same multipliers fail for AND
    assert not certifies_not_linearly_separable(BOOLEAN_INPUTS, np.array(TRUTH["AND"]), XOR_NOT_SEPARABLE_MULTIPLIERS)
    # all-zero or negative multipliers are not a proof
    assert not certifies_not_linearly_separable(BOOLEAN_INPUTS, np.array(TRUTH["XOR"]), np.zeros(4, dtype=int))
    assert not certifies_not_linearly_separable(BOOLEAN_INPUTS, np.array(TRUTH["XOR"]), np.array([1, 1, 1, -1]))
    with pytest.raises(TypeError, match="integers"):
        certifies_not_linearly_separable(BOOLEAN_INPUTS, np.array(TRUTH["XOR"]), np.ones(4))


def test_exactly_14_of_the_16_boolean_functions_are_linearly_separable():
    grid = np.arange(-3, 4)  # integer weights suffice for two inputs
    inseparable = []
    for k in range(16):
        targets = np.array([(k >> i) & 1 for i in range(4)])
        if len(grid_search_perceptrons(BOOLEAN_INPUTS, targets, grid)) == 0:
            inseparable.append(targets.tolist())
            # each one the grid misses has a proof that nothing else could work either
            assert certifies_not_linearly_separable(BOOLEAN_INPUTS, targets, XOR_NOT_SEPARABLE_MULTIPLIERS)
    assert sorted(inseparable) == sorted([TRUTH["XOR"], [1, 0, 0, 1]])  # XOR and XNOR


def test_perceptron_failure_paths():
    with pytest.raises(ValueError, match=r"x has shape \(4, 2\) and w has shape \(3,\)"):
        perceptron(BOOLEAN_INPUTS, np.ones(3), 0.0)
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        perceptron([[0, 1]], np.ones(2), 0.0)


# ------------------------------------------------------------------------------------------------
# Source errata, checked
# ------------------------------------------------------------------------------------------------

@given(st.floats(-5, 5))
def test_errata_sigmoid_derivative_middle_step(x):
    # thesis eq. (13) writes 1/(1 + e^(−1)) − 1/(1 + e^(−x))² in the middle; it must be e^(−x)
    s = 1 / (1 + math.exp(-x))
    exact = math.exp(-x) / (1 + math.exp(-x)) ** 2
    assert s - s**2 == pytest.approx(exact, rel=1e-9, abs=1e-15)
    assert s * (1 - s) == pytest.approx(exact, rel=1e-9, abs=1e-15)


def test_errata_sigmoid_derivative_as_printed_is_wrong_at_zero():
    printed = 1 / (1 + math.exp(-1)) - 1 / (1 + math.exp(0)) ** 2
    assert printed == pytest.approx(0.4811, abs=1e-4) and printed != pytest.approx(0.25)


def test_errata_relu_one_sided_limits():
    # the Swedish draft's eqs (14)-(15) give the one-sided limits of ReLU as 1 and 0; those are
    # the limits of its *derivative*; ReLU itself tends to 0 from both sides (it is continuous)
    h = np.array([1e-12, -1e-12])
    out, cache = relu_forward(h)
    np.testing.assert_array_equal(out, [1e-12, 0.0])
    np.testing.assert_array_equal(relu_backward(np.ones(2), cache), [1.0, 0.0])


def test_module_exports_exist():
    for name in neuron.__all__:
        assert hasattr(neuron, name), name


def test_elu_slope_keeps_relative_precision_far_left():
    # α·e^(−50) ≈ 1.9e-22: computing it as out + α would give exactly 0
    dx = elu_backward(np.ones(1), elu_forward(np.array([-50.0]))[1])
    assert dx[0] == pytest.approx(math.exp(-50), rel=1e-12)
