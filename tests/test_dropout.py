"""Tests for course_lib.dropout (chapter 8): inverted dropout and weight initialisation.

Statistical tests use fixed seeds and bounds of 5 standard deviations (z = 5), derived from the
binomial / chi-square variance stated in each test: were the seed random, a correct implementation
would fail one of them with probability ~5.7e-7 (two-sided normal tail at z = 5).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import init
from course_lib.dropout import (
    Dropout,
    DropoutCache,
    activation_stats,
    dropout_backward,
    dropout_forward,
    he_init,
    xavier_init,
)
from course_lib.gradcheck import check_layer, numerical_gradient_array, rel_error
from course_lib.neuron import ACTIVATIONS
from tests.strategies import seeds, shapes

Z = 5.0


# ------------------------------------------------------------------------------------------------
# dropout forward
# ------------------------------------------------------------------------------------------------

def test_worked_example_matches_the_definition_of_the_mask():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out, cache = dropout_forward(x, 0.5, rng=0)
    u = np.random.default_rng(0).random(x.shape)  # the documented draw: one uniform per entry
    expected_mask = (u < 0.5) * 2.0
    np.testing.assert_array_equal(cache.mask, expected_mask)
    np.testing.assert_array_equal(out, x * expected_mask)
    # every entry is either dropped or doubled
    assert np.all((out == 0) | (out == 2 * x))


def test_same_seed_same_mask_and_a_generator_advances():
    x = np.ones((50, 40))
    a, _ = dropout_forward(x, 0.7, rng=123)
    b, _ = dropout_forward(x, 0.7, rng=123)
    c, _ = dropout_forward(x, 0.7, rng=124)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    gen = np.random.default_rng(5)
    first, _ = dropout_forward(x, 0.7, rng=gen)
    second, _ = dropout_forward(x, 0.7, rng=gen)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("keep_prob", [0.8, 0.5, 0.2])
def test_expectation_is_preserved(keep_prob):
    """out_i = B_i / p with B_i ~ Bernoulli(p): E = 1, Var = (1 − p)/p, so the mean of n outputs
    has standard deviation sqrt((1 − p)/(p·n)); we accept |mean − 1| < 5 of those."""
    n = 200_000
    out, _ = dropout_forward(np.ones(n), keep_prob, rng=2024)
    bound = Z * math.sqrt((1 - keep_prob) / (keep_prob * n))
    assert abs(out.mean() - 1.0) < bound, (out.mean(), bound)


@pytest.mark.parametrize("keep_prob", [0.9, 0.5, 0.1])
def test_fraction_of_zeros_is_one_minus_keep_prob(keep_prob):
    """#zeros ~ Binomial(n, 1 − p): the fraction has standard deviation sqrt(p(1 − p)/n)."""
    n = 100_000
    out, _ = dropout_forward(np.ones((100, 1000)), keep_prob, rng=77)
    frac = np.mean(out == 0)
    assert abs(frac - (1 - keep_prob)) < Z * math.sqrt(keep_prob * (1 - keep_prob) / n)


def test_expectation_is_preserved_for_every_entry_of_a_random_input():
    """Averaging 4000 masks per entry: each average has sd |x|·sqrt((1−p)/(p·4000))."""
    r = np.random.default_rng(9)
    x = r.standard_normal((3, 4))
    gen = np.random.default_rng(10)
    k, p = 4000, 0.6
    avg = np.mean([dropout_forward(x, p, rng=gen)[0] for _ in range(k)], axis=0)
    assert np.all(np.abs(avg - x) < Z * np.abs(x) * math.sqrt((1 - p) / (p * k)))


def test_test_mode_and_keep_prob_one_are_the_identity():
    x = np.random.default_rng(1).standard_normal((4, 5))
    gen = np.random.default_rng(0)
    before = gen.bit_generator.state
    out, cache = dropout_forward(x, 0.3, mode="test", rng=gen)
    np.testing.assert_array_equal(out, x)
    assert out is not x and cache.mask is None
    assert gen.bit_generator.state == before  # test mode draws nothing
    out1, _ = dropout_forward(x, 1.0, rng=0)
    np.testing.assert_array_equal(out1, x)
    np.testing.assert_array_equal(dropout_backward(x, cache), x)


@given(shape=shapes((1, 4)), keep_prob=st.floats(0.05, 1.0), seed=seeds())
def test_every_output_is_dropped_or_rescaled(shape, keep_prob, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape)
    out, cache = dropout_forward(x, keep_prob, rng=seed)
    assert out.shape == x.shape
    kept = cache.mask != 0
    np.testing.assert_array_equal(out[~kept], 0.0)
    np.testing.assert_allclose(out[kept], x[kept] / keep_prob, rtol=1e-15)
    dout = r.standard_normal(shape)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout * cache.mask)


def test_float32_stays_float32_and_inputs_are_not_modified():
    x = np.ones((3, 3), dtype=np.float32)
    out, cache = dropout_forward(x, 0.5, rng=0)
    assert out.dtype == np.float32 and cache.mask.dtype == np.float32
    np.testing.assert_array_equal(x, 1.0)
    dout = np.ones((3, 3), dtype=np.float32)
    assert dropout_backward(dout, cache).dtype == np.float32
    np.testing.assert_array_equal(dout, 1.0)


# ------------------------------------------------------------------------------------------------
# dropout backward: the same mask
# ------------------------------------------------------------------------------------------------

def test_gradient_check_with_a_fixed_seed():
    x = np.random.default_rng(3).standard_normal((4, 6))
    report = check_layer(dropout_forward, dropout_backward, {"x": x},
                         kwargs={"keep_prob": 0.6, "rng": 11}, seed=4)
    assert report.passed, str(report)
    # out is linear in x, so central differences are exact up to rounding (measured ~1e-11)
    dout = np.random.default_rng(4).standard_normal(x.shape)
    _, cache = dropout_forward(x, 0.6, rng=11)
    num = numerical_gradient_array(lambda v: dropout_forward(v, 0.6, rng=11)[0], x.copy(), dout)
    assert rel_error(dropout_backward(dout, cache), num) < 1e-9


def test_a_backward_with_a_fresh_mask_fails_the_check():
    def fresh_mask_backward(dout, cache):
        # the bug: draw a new mask instead of reusing the forward's
        return dout * dropout_forward(np.ones_like(dout), 0.6, rng=12)[1].mask

    x = np.random.default_rng(3).standard_normal((4, 6))
    report = check_layer(dropout_forward, fresh_mask_backward, {"x": x},
                         kwargs={"keep_prob": 0.6, "rng": 11}, seed=4)
    assert not report.passed
    assert report["x"].rel_error > 0.5


# ------------------------------------------------------------------------------------------------
# Dropout layer
# ------------------------------------------------------------------------------------------------

def test_dropout_layer_train_eval_and_reproducibility():
    x = np.random.default_rng(0).standard_normal((8, 10))
    a, b = Dropout(0.5, rng=42), Dropout(0.5, rng=42)
    outs_a = [a(x) for _ in range(2)]
    outs_b = [b(x) for _ in range(2)]
    np.testing.assert_array_equal(outs_a[0], outs_b[0])
    np.testing.assert_array_equal(outs_a[1], outs_b[1])
    assert not np.array_equal(outs_a[0], outs_a[1])  # a new mask per batch
    dout = np.ones_like(x)
    dx = a.backward(dout)
    np.testing.assert_array_equal(dx, np.where(outs_a[1] != 0, 2.0, 0.0))  # the last forward's mask
    assert a.grads == {} and a.params == {} and a.num_params() == 0
    a.eval()
    np.testing.assert_array_equal(a(x), x)
    assert a.output_shape((3, 4, 4)) == (3, 4, 4)
    assert repr(a) == "Dropout(keep_prob=0.5)"
    with pytest.raises(ValueError, match="keep_prob must be > 0"):
        Dropout(0.0)


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("keep_prob", "error", "match"),
    [
        (0.0, ValueError, "keep_prob must be > 0"),
        (-0.1, ValueError, "keep_prob must be > 0"),
        (1.5, ValueError, "keep_prob must be <= 1"),
        (float("nan"), ValueError, "keep_prob must be finite"),
        (float("inf"), ValueError, "keep_prob must be finite"),
        ("0.5", TypeError, "keep_prob must be a real number"),
        (True, TypeError, "keep_prob must be a real number"),
    ],
)
def test_bad_keep_prob(keep_prob, error, match):
    with pytest.raises(error, match=match):
        dropout_forward(np.ones((2, 2)), keep_prob)


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one axis"):
        dropout_forward(np.array(1.0))
    with pytest.raises(TypeError, match="floating dtype"):
        dropout_forward(np.ones((2, 2), dtype=int))
    with pytest.raises(TypeError, match="must be a NumPy array"):
        dropout_forward([[1.0, 2.0]])
    with pytest.raises(ValueError, match="non-finite"):
        dropout_forward(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="mode must be 'train' or 'test'"):
        dropout_forward(np.ones(3), mode="eval")
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        dropout_forward(np.ones(3), rng="seed")
    _, cache = dropout_forward(np.ones((2, 3)), rng=0)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 3\)"):
        dropout_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match="cache must be the DropoutCache"):
        dropout_backward(np.ones((2, 3)), np.ones((2, 3)))
    assert isinstance(cache, DropoutCache)


# ------------------------------------------------------------------------------------------------
# initialisation
# ------------------------------------------------------------------------------------------------

def test_reexports_are_the_shared_initialisers():
    assert he_init is init.he_init and xavier_init is init.xavier_init


@pytest.mark.parametrize(
    ("shape", "fan_in", "fan_out"),
    [((256, 512), 256, 512), ((64, 32, 3, 3), 32 * 9, 64 * 9)],
)
def test_empirical_variance_matches_the_formulas(shape, fan_in, fan_out):
    """For n iid N(0, v) entries the sample variance has sd v·sqrt(2/(n−1)) and the mean sd
    sqrt(v/n); bounds are 5 of those (relative bound 2 % for the affine, 5 % for the conv shape)."""
    assert init.fans(shape) == (fan_in, fan_out)
    n = math.prod(shape)
    for w, v in ((he_init(shape, 1), 2 / fan_in), (xavier_init(shape, 2), 2 / (fan_in + fan_out))):
        assert w.shape == shape
        assert abs(w.var() / v - 1) < Z * math.sqrt(2 / (n - 1))
        assert abs(w.mean()) < Z * math.sqrt(v / n)


def test_source_he_formula_has_the_same_scale():
    # the slides: W = randn(fan_in, fan_out) / sqrt(fan_in / 2)  ->  sd sqrt(2 / fan_in)
    fan_in, fan_out = 300, 100
    np.testing.assert_allclose(1 / np.sqrt(fan_in / 2.0), np.sqrt(2.0 / fan_in), rtol=1e-15)
    w_source = np.random.default_rng(3).standard_normal((fan_in, fan_out)) / np.sqrt(fan_in / 2.0)
    np.testing.assert_allclose(he_init((fan_in, fan_out), 3), w_source, rtol=1e-14)


def test_initialisers_seed_dtype_and_bad_inputs():
    np.testing.assert_array_equal(he_init((3, 4), 7), he_init((3, 4), 7))
    assert he_init((3, 4), 0, np.float32).dtype == np.float32
    assert xavier_init((2, 3, 3, 3), 0, np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="dtype must be a floating type"):
        he_init((3, 4), 0, np.int64)
    with pytest.raises(TypeError, match="dtype must be a floating type"):
        xavier_init((3, 4), 0, int)
    with pytest.raises(ValueError, match=r"2-D .* or 4-D"):
        he_init((3, 4, 5), 0)
    with pytest.raises(ValueError, match=r"shape\[1\] must be >= 1"):
        xavier_init((3, 0), 0)


# ------------------------------------------------------------------------------------------------
# activations through depth
# ------------------------------------------------------------------------------------------------



def test_he_keeps_relu_activations_stable_through_20_layers():
    """With Var(w) = 2/fan_in, Var(z) is the same in every layer (ReLU halves E[z²], the 2
    restores it). Finite width makes log(std_20/std_1) a random walk: its sd over networks was
    measured as 0.24 at width 256, so we average 4 networks (sd ~0.12) and accept a ratio in
    [0.5, 2] (|log| < 0.69, more than 5 sd)."""
    stds = np.array([activation_stats(20, 256, "he", "relu", s, batch=128) for s in range(4)])
    assert abs(np.mean(np.log(stds[:, -1] / stds[:, 0]))) < math.log(2)
    # first layer: z ~ N(0, 2) for unit inputs, std(relu(z)) = sqrt(2·(1/2 − 1/(2π))) = 0.826
    np.testing.assert_allclose(stds[:, 0], math.sqrt(2 * (0.5 - 1 / (2 * math.pi))), atol=0.03)


@pytest.mark.parametrize(("scale", "activation"), [(0.01, "relu"), (1.0, "relu"), (0.01, "tanh")])
def test_naive_scales_collapse_or_explode_geometrically(scale, activation):
    """With Var(w) = s² each ReLU layer multiplies the std by sqrt(width·s²/2) (0.113 for
    s = 0.01, 11.3 for s = 1); tanh ≈ identity near 0 multiplies it by sqrt(width)·s = 0.16.
    Over the 19 steps from layer 1 to 20 that is 1e-18, 1e20 and 7e-16; we accept a factor 10."""
    stds = activation_stats(20, 256, scale, activation, 0, batch=128)
    gain = math.sqrt(256 * scale**2 / (2 if activation == "relu" else 1))
    predicted = 19 * math.log10(gain)
    assert abs(math.log10(stds[-1] / stds[0]) - predicted) < 1.0
    if scale == 0.01:
        assert stds[-1] < 1e-12  # collapsed
    else:
        assert stds[-1] > 1e15  # exploded


def test_xavier_with_relu_halves_the_variance_per_layer():
    # Var(w) = 1/width loses ReLU's factor 2: the std shrinks by sqrt(1/2) per layer.
    stds = activation_stats(20, 256, "xavier", "relu", 0, batch=128)
    assert abs(math.log2(stds[-1] / stds[0]) - (-19 / 2)) < 1.5


def test_xavier_with_tanh_follows_the_mean_field_recursion():
    """Square Xavier layers have width·Var(w) = 1, so q_{l+1} = E[tanh(z)²], z ~ N(0, q_l),
    q_1 = 1 (unit inputs). The std of h_l is sqrt(E tanh(z_l)²) (tanh is odd). The variance
    decays only polynomially (q_l ≈ 1/(2l)), unlike the geometric collapse of a naive scale."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    q, predicted = 1.0, []
    for _ in range(20):
        e_t2 = float(np.sum(weights * np.tanh(np.sqrt(q) * nodes) ** 2))
        predicted.append(math.sqrt(e_t2))
        q = e_t2
    stds = np.mean([activation_stats(20, 256, "xavier", "tanh", s, batch=128) for s in range(2)], axis=0)
    np.testing.assert_allclose(stds, predicted, rtol=0.1)
    assert 0.1 < stds[-1] / stds[0] < 0.5  # decays, but by a factor ~4 over 20 layers, not 1e-15


def test_he_with_tanh_and_big_scale_tanh_saturate():
    # N(0, 1) with tanh does not explode (tanh is bounded) but saturates: |h| near 1, std near 1
    stds = activation_stats(5, 256, 1.0, "tanh", 0, batch=128)
    assert np.all(stds > 0.95)


def test_activation_stats_bad_inputs():
    with pytest.raises(ValueError, match="init must be 'he', 'xavier'"):
        activation_stats(init="kaiming")
    with pytest.raises(ValueError, match="init must be > 0"):
        activation_stats(init=-0.1)
    with pytest.raises(ValueError, match="activation must be one of"):
        activation_stats(activation="linear")  # the registry calls it "identity"
    with pytest.raises(ValueError, match="depth must be >= 1"):
        activation_stats(depth=0)
    with pytest.raises(TypeError, match="width must be an integer"):
        activation_stats(width=2.5)
    assert activation_stats(3, 8, "he", "identity", 0, batch=4).shape == (3,)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_stats_runs_every_registered_activation(name):
    # The experiment applies the registry's forward pass: the first layer's std is that of
    # f(x @ W) computed here by hand with the same generator draws.
    gen = np.random.default_rng(3)
    h = gen.standard_normal((16, 8))
    w = gen.standard_normal((8, 8)) * 0.5
    expected = np.std(ACTIVATIONS[name].forward(h @ w)[0])
    assert activation_stats(1, 8, 0.5, name, 3, batch=16)[0] == pytest.approx(expected, rel=1e-12)


def test_activation_stats_overflow_reports_inf():
    # Weights of standard deviation 1e30 multiply the signal by ~4e30 per layer: float64
    # overflows after about ten layers, and from then on every layer reports inf.
    stds = activation_stats(14, 16, 1e30, "identity", 0, batch=4)
    first_inf = int(np.argmax(np.isinf(stds)))
    assert 0 < first_inf < 13 and np.all(np.isfinite(stds[:first_inf])) and np.all(np.isinf(stds[first_inf:]))


def test_source_slides_scale_by_the_drop_probability_which_is_wrong():
    """The slides drop with probability 0.4 (``mask = rand < 0.4; hidden[mask] = 0``) and then
    multiply by 0.4 at test time (direct dropout) or divide by p = 0.4 (inverted). The kept
    fraction is 0.6, so the right factors are ×0.6 and ÷0.6; ×0.4 and ÷0.4 make the train/test
    expectations differ by 2/3 and 3/2."""
    h = np.ones(200_000)
    dropped = np.random.default_rng(0).random(h.shape) < 0.4
    trained = np.where(dropped, 0.0, h)
    sd = Z * math.sqrt(0.4 * 0.6 / h.size)
    assert abs(trained.mean() - 0.6) < sd  # E[train] = keep fraction = 0.6
    assert abs(trained.mean() - 0.4 * h.mean()) > 0.19  # direct dropout ×0.4 at test time: wrong
    assert abs((trained / 0.4).mean() - 1.5) < sd / 0.4  # inverted ÷0.4: expectation 1.5, not 1
    assert abs((trained / 0.6).mean() - 1.0) < sd / 0.6  # ÷ keep_prob: expectation preserved


def test_layers_build_from_architecture_specs():
    from course_lib.architectures import LayerSpec

    bn = LayerSpec("SpatialBatchNorm", (3,)).build(dtype=np.float32)
    assert isinstance(bn.params["gamma"], np.ndarray) and bn.params["gamma"].dtype == np.float32
    drop = LayerSpec("Dropout", (0.5,)).build(rng=np.random.default_rng(0))
    assert isinstance(drop, Dropout) and drop.keep_prob == 0.5
