"""Tests for chapter 3, course_lib.gradient_descent."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import gradient_descent as gd
from course_lib.gradcheck import numerical_gradient, rel_error

ALL_RULES = [gd.sgd, gd.sgd_momentum, gd.nesterov, gd.rmsprop, gd.adam]

W0 = np.array([1.0, -2.0])
G0 = np.array([0.5, 4.0])


# --------------------------------------------------------------------------------------------
# First steps against hand-computed values
# --------------------------------------------------------------------------------------------

class TestHandComputedSteps:
    def test_sgd(self):
        # w − η g = (1 − 0.1·0.5, −2 − 0.1·4)
        w, cfg = gd.sgd(W0, G0, {"learning_rate": 0.1})
        np.testing.assert_allclose(w, [0.95, -2.4], rtol=0, atol=1e-15)
        assert cfg == {"learning_rate": 0.1}

    def test_sgd_default_learning_rate_is_documented_value(self):
        w, cfg = gd.sgd(W0, G0)
        assert cfg["learning_rate"] == 1e-2
        np.testing.assert_allclose(w, W0 - 1e-2 * G0, rtol=0, atol=1e-15)

    def test_momentum_two_steps(self):
        # v1 = −0.1 g = (−0.05, −0.4);  w1 = (0.95, −2.4)
        # v2 = 0.9 v1 − 0.1 g = (−0.095, −0.76);  w2 = w1 + v2 = (0.855, −3.16)
        cfg = {"learning_rate": 0.1, "momentum": 0.9}
        w1, cfg = gd.sgd_momentum(W0, G0, cfg)
        np.testing.assert_allclose(w1, [0.95, -2.4], atol=1e-15)
        np.testing.assert_allclose(cfg["velocity"], [-0.05, -0.4], atol=1e-15)
        w2, cfg = gd.sgd_momentum(w1, G0, cfg)
        np.testing.assert_allclose(w2, [0.855, -3.16], atol=1e-14)

    def test_momentum_zero_is_sgd(self):
        w1, _ = gd.sgd_momentum(W0, G0, {"learning_rate": 0.1, "momentum": 0.0})
        w2, _ = gd.sgd(W0, G0, {"learning_rate": 0.1})
        np.testing.assert_array_equal(w1, w2)

    def test_nesterov_two_steps(self):
        # step 1: v_old = 0, v = (−0.05, −0.4), w = w0 + 1.9 v = (0.905, −2.76)
        # step 2: v_old = (−0.05, −0.4), v = (−0.095, −0.76),
        #         w = (0.905, −2.76) − 0.9 v_old + 1.9 v = (0.7695, −3.844)
        cfg = {"learning_rate": 0.1, "momentum": 0.9}
        w1, cfg = gd.nesterov(W0, G0, cfg)
        np.testing.assert_allclose(w1, [0.905, -2.76], atol=1e-14)
        w2, cfg = gd.nesterov(w1, G0, cfg)
        np.testing.assert_allclose(w2, [0.7695, -3.844], atol=1e-14)

    def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_rho_times_sign(self):
        # cache = (1 − ρ) g², so the step is η g / (√(1 − ρ) |g|) = η / √(1 − ρ) · sign(g).
        cfg = {"learning_rate": 0.1, "decay_rate": 0.9, "epsilon": 1e-12}
        w1, cfg = gd.rmsprop(W0, G0, cfg)
        np.testing.assert_allclose(w1, W0 - 0.1 / math.sqrt(0.1) * np.sign(G0), rtol=1e-10)
        np.testing.assert_allclose(cfg["cache"], 0.1 * G0**2, rtol=1e-15)

    def test_adam_first_step_is_lr_times_sign(self):
        # m̂ = g and v̂ = g² after bias correction: step = η g / (|g| + ε) ≈ η sign(g),
        # independent of the gradient's magnitude (here 0.5 and 4).
        w1, cfg = gd.adam(W0, G0, {"learning_rate": 0.01})
        np.testing.assert_allclose(w1, W0 - 0.01 * np.sign(G0), rtol=1e-9)
        assert cfg["t"] == 1
        np.testing.assert_allclose(cfg["m"], 0.1 * G0, rtol=1e-15)
        np.testing.assert_allclose(cfg["v"], 0.001 * G0**2, rtol=1e-12)

    def test_adam_second_step_bias_correction(self):
        # g1 = (1, −1), g2 = (3, 1), β1 = 0.9, β2 = 0.999:
        # m2 = 0.09 g1 + 0.1 g2 = (0.39, 0.01), m̂ = m2 / (1 − 0.81) = m2 / 0.19
        # v2 = 0.000999 g1² + 0.001 g2² = (0.009999, 0.001999), v̂ = v2 / (1 − 0.998001)
        g1, g2 = np.array([1.0, -1.0]), np.array([3.0, 1.0])
        w = np.zeros(2)
        w, cfg = gd.adam(w, g1, {"learning_rate": 0.1, "epsilon": 1e-12})
        w, cfg = gd.adam(w, g2, cfg)
        m_hat = np.array([0.39, 0.01]) / 0.19
        v_hat = np.array([0.009999, 0.001999]) / 0.001999
        expected = -0.1 * np.sign(g1) - 0.1 * m_hat / np.sqrt(v_hat)
        np.testing.assert_allclose(w, expected, rtol=1e-9)
        np.testing.assert_allclose(v_hat[1], 1.0, rtol=1e-12)
        assert cfg["t"] == 2


class TestContract:
    @pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
    def test_inputs_never_mutated(self, rule, rng):
        w = rng.standard_normal((3, 4))
        dw = rng.standard_normal((3, 4))
        _, cfg = rule(w, dw, {"learning_rate": 0.1})
        cfg_before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in cfg.items()}
        w_before, dw_before = w.copy(), dw.copy()
        next_w, cfg2 = rule(w, dw, cfg)
        np.testing.assert_array_equal(w, w_before)
        np.testing.assert_array_equal(dw, dw_before)
        assert next_w is not w and not np.shares_memory(next_w, w)
        assert cfg2 is not cfg
        for k, v in cfg_before.items():
            np.testing.assert_array_equal(cfg[k], v)

    @pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
    def test_keeps_float32(self, rule, rng):
        w = rng.standard_normal(5).astype(np.float32)
        dw = rng.standard_normal(5).astype(np.float32)
        next_w, cfg = rule(w, dw)
        next_w, cfg = rule(next_w, dw, cfg)
        assert next_w.dtype == np.float32
        for v in cfg.values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32

    @pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
    def test_zero_gradient_from_rest_does_not_move(self, rule, rng):
        w = rng.standard_normal(4)
        next_w, _ = rule(w, np.zeros(4))
        np.testing.assert_array_equal(next_w, w)

    def test_defaults_documented(self):
        _, cfg = gd.adam(W0, G0)
        assert (cfg["learning_rate"], cfg["beta1"], cfg["beta2"], cfg["epsilon"]) == (1e-3, 0.9, 0.999, 1e-8)
        _, cfg = gd.rmsprop(W0, G0)
        assert (cfg["learning_rate"], cfg["decay_rate"], cfg["epsilon"]) == (1e-2, 0.99, 1e-8)
        _, cfg = gd.sgd_momentum(W0, G0)
        assert (cfg["learning_rate"], cfg["momentum"]) == (1e-2, 0.9)


# --------------------------------------------------------------------------------------------
# Property: every rule minimises a convex quadratic
# --------------------------------------------------------------------------------------------

# Step sizes that are stable for curvatures in [0.5, 2] (plain GD needs η < 2 / 2 = 1).
STABLE = {
    "sgd": {"learning_rate": 0.3},
    "sgd_momentum": {"learning_rate": 0.1, "momentum": 0.5},
    "nesterov": {"learning_rate": 0.1, "momentum": 0.5},
    "rmsprop": {"learning_rate": 0.01},
    "adam": {"learning_rate": 0.05},
}


@given(
    rule=st.sampled_from(sorted(STABLE)),
    dim=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_rule_decreases_convex_quadratic(rule, dim, seed):
    r = np.random.default_rng(seed)
    curv = r.uniform(0.5, 2.0, dim)  # f = ½ Σ curv_i w_i², gradient curv ⊙ w
    w = r.uniform(-3, 3, dim)
    f0 = 0.5 * np.sum(curv * w * w)
    cfg = dict(STABLE[rule])
    update = gd.RULES[rule]
    for _ in range(300):
        w, cfg = update(w, curv * w, cfg)
    f = 0.5 * np.sum(curv * w * w)
    assert f <= 1e-2 * f0 + 1e-6, (rule, f0, f)


# --------------------------------------------------------------------------------------------
# Optimizer wrapper
# --------------------------------------------------------------------------------------------

class TestOptimizer:
    def test_matches_functional_rule_per_parameter(self, rng):
        params = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}
        ref = {k: v.copy() for k, v in params.items()}
        opt = gd.make_optimizer("adam", learning_rate=0.05)
        ref_cfg: dict = {"W1": {"learning_rate": 0.05}, "b1": {"learning_rate": 0.05}}
        for _ in range(3):
            grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
            opt.step(params, grads)
            for k in ref:
                ref[k], ref_cfg[k] = gd.adam(ref[k], grads[k], ref_cfg[k])
        for k in ref:
            np.testing.assert_allclose(params[k], ref[k], rtol=1e-14)
        assert opt.configs["W1"]["t"] == 3

    def test_writes_in_place_so_aliases_see_updates(self):
        w = np.array([1.0, 2.0])
        layer_params = {"w": w}
        gd.make_optimizer("sgd", learning_rate=0.5).step(layer_params, {"w": np.array([2.0, 2.0])})
        assert layer_params["w"] is w
        np.testing.assert_array_equal(w, [0.0, 1.0])

    def test_learning_rate_setter_reaches_existing_configs(self):
        p = {"w": np.array([1.0])}
        opt = gd.make_optimizer("momentum", learning_rate=0.1, momentum=0.0)
        opt.step(p, {"w": np.array([1.0])})
        opt.learning_rate = 0.01
        opt.step(p, {"w": np.array([1.0])})
        np.testing.assert_allclose(p["w"], [1.0 - 0.1 - 0.01], rtol=1e-15)
        assert opt.configs["w"]["learning_rate"] == 0.01

    def test_missing_gradient_updates_nothing(self):
        p = {"a": np.array([1.0]), "b": np.array([1.0])}
        opt = gd.make_optimizer("sgd")
        with pytest.raises(ValueError, match=r"no entry for parameter\(s\) \['b'\]"):
            opt.step(p, {"a": np.array([1.0])})
        with pytest.raises(ValueError, match="non-finite"):
            opt.step(p, {"a": np.array([1.0]), "b": np.array([np.nan])})
        np.testing.assert_array_equal(p["a"], [1.0])

    def test_bad_construction(self):
        with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
            gd.make_optimizer("adagrad")
        with pytest.raises(ValueError, match=r"unknown config key\(s\) \['lr'\]"):
            gd.make_optimizer("sgd", lr=0.1)
        with pytest.raises(ValueError, match="state, not a hyperparameter"):
            gd.make_optimizer("adam", t=3)
        with pytest.raises(ValueError, match="beta2 must be < 1"):
            gd.make_optimizer("adam", beta2=1.0)
        with pytest.raises(TypeError, match="must be a name"):
            gd.make_optimizer(gd.sgd)
        opt = gd.make_optimizer("sgd")
        with pytest.raises(ValueError, match="learning_rate must be > 0"):
            opt.learning_rate = 0.0


# --------------------------------------------------------------------------------------------
# Bad inputs of the rules
# --------------------------------------------------------------------------------------------

class TestBadInputs:
    @pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
    def test_shape_mismatch(self, rule):
        with pytest.raises(ValueError, match=r"w and dw must have the same shape, got \(2,\) and \(3,\)"):
            rule(np.zeros(2), np.zeros(3))

    @pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
    def test_nan_gradient(self, rule):
        with pytest.raises(ValueError, match="dw contains 1 non-finite"):
            rule(np.zeros(2), np.array([0.0, np.nan]))

    @pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
    @pytest.mark.parametrize("lr", [0.0, -0.1])
    def test_non_positive_learning_rate(self, rule, lr):
        with pytest.raises(ValueError, match="learning_rate must be > 0"):
            rule(np.zeros(2), np.zeros(2), {"learning_rate": lr})

    @pytest.mark.parametrize("rule", [gd.sgd_momentum, gd.nesterov])
    @pytest.mark.parametrize("mu", [1.0, -0.1, 1.5])
    def test_momentum_outside_unit_interval(self, rule, mu):
        with pytest.raises(ValueError, match="momentum must be"):
            rule(np.zeros(2), np.zeros(2), {"momentum": mu})

    @pytest.mark.parametrize(("key", "value"), [("beta1", 1.0), ("beta2", -0.5), ("epsilon", 0.0)])
    def test_adam_hyperparameters(self, key, value):
        with pytest.raises(ValueError, match=f"{key} must be"):
            gd.adam(np.zeros(2), np.zeros(2), {key: value})

    def test_rmsprop_decay_rate(self):
        with pytest.raises(ValueError, match="decay_rate must be < 1"):
            gd.rmsprop(np.zeros(2), np.zeros(2), {"decay_rate": 1.0})

    def test_typo_in_config_key(self):
        with pytest.raises(ValueError, match=r"unknown config key\(s\) \['lr'\]"):
            gd.sgd(np.zeros(2), np.zeros(2), {"lr": 0.1})

    def test_state_of_another_parameter(self):
        _, cfg = gd.adam(np.zeros(3), np.ones(3))
        with pytest.raises(ValueError, match=r"config\['m'\] has shape \(3,\) but w has shape \(2,\)"):
            gd.adam(np.zeros(2), np.ones(2), cfg)

    def test_types(self):
        with pytest.raises(TypeError, match="w must be a NumPy array"):
            gd.sgd([1.0, 2.0], np.zeros(2))
        with pytest.raises(TypeError, match="dw must have a floating dtype"):
            gd.sgd(np.zeros(2), np.zeros(2, dtype=int))
        with pytest.raises(TypeError, match="config must be a dict"):
            gd.sgd(np.zeros(2), np.zeros(2), 0.1)
        with pytest.raises(TypeError, match="learning_rate must be a real number"):
            gd.sgd(np.zeros(2), np.zeros(2), {"learning_rate": "0.1"})


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------

class TestSchedules:
    def test_step_decay_values(self):
        assert gd.step_decay(0.1, 0) == 0.1
        assert gd.step_decay(0.1, 9) == 0.1
        assert gd.step_decay(0.1, 10) == pytest.approx(0.05, rel=1e-15)
        assert gd.step_decay(0.1, 25) == pytest.approx(0.025, rel=1e-15)
        assert gd.step_decay(1.0, 6, drop=0.1, every=3) == pytest.approx(0.01, rel=1e-14)

    def test_exponential_decay_values(self):
        assert gd.exponential_decay(0.4, 0, 0.3) == 0.4
        assert gd.exponential_decay(1.0, 2, math.log(2)) == pytest.approx(0.25, rel=1e-14)
        assert gd.exponential_decay(1.0, 5, 0.0) == 1.0

    def test_cosine_annealing_values(self):
        assert gd.cosine_annealing(1.0, 0, 10) == 1.0
        assert gd.cosine_annealing(1.0, 10, 10) == pytest.approx(0.0, abs=1e-15)
        assert gd.cosine_annealing(1.0, 5, 10) == pytest.approx(0.5, rel=1e-14)
        assert gd.cosine_annealing(1.0, 5, 10, lr_min=0.2) == pytest.approx(0.6, rel=1e-14)
        assert gd.cosine_annealing(1.0, 10, 10, lr_min=0.2) == pytest.approx(0.2, rel=1e-14)

    @given(lr0=st.floats(1e-5, 10), total=st.integers(1, 60))
    def test_all_monotone_non_increasing(self, lr0, total):
        for sched in (
            lambda e: gd.step_decay(lr0, e, drop=0.7, every=3),
            lambda e: gd.exponential_decay(lr0, e, 0.05),
            lambda e: gd.cosine_annealing(lr0, e, total, lr_min=lr0 / 10),
        ):
            lrs = [sched(e) for e in range(total + 1)]
            assert lrs[0] == pytest.approx(lr0)
            assert np.all(np.diff(lrs) <= 0), lrs
            assert all(lr > 0 for lr in lrs)

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="lr0 must be > 0"):
            gd.step_decay(0.0, 1)
        with pytest.raises(ValueError, match="epoch must be >= 0"):
            gd.step_decay(0.1, -1)
        with pytest.raises(TypeError, match="epoch must be an integer"):
            gd.exponential_decay(0.1, 1.5, 0.1)
        with pytest.raises(ValueError, match="drop must be > 0"):
            gd.step_decay(0.1, 1, drop=0.0)
        with pytest.raises(ValueError, match="drop must be <= 1"):
            gd.step_decay(0.1, 1, drop=2.0)
        with pytest.raises(ValueError, match="every must be >= 1"):
            gd.step_decay(0.1, 1, every=0)
        with pytest.raises(ValueError, match="k must be >= 0"):
            gd.exponential_decay(0.1, 1, -0.1)
        with pytest.raises(ValueError, match="epoch must be <= total=10"):
            gd.cosine_annealing(0.1, 11, 10)
        with pytest.raises(ValueError, match="lr_min must be <= lr0"):
            gd.cosine_annealing(0.1, 1, 10, lr_min=0.2)
        with pytest.raises(ValueError, match="total must be >= 1"):
            gd.cosine_annealing(0.1, 0, 0)


# --------------------------------------------------------------------------------------------
# 2-D test functions and minimize
# --------------------------------------------------------------------------------------------

FUNCS = [gd.quadratic_bowl, gd.rosenbrock, gd.beale, gd.make_quadratic_bowl(3.0, 0.5)]


class TestObjectives:
    def test_hand_values(self):
        # bowl ½(x² + 10y²) at (1, 1): 5.5, gradient (1, 10)
        p = np.array([1.0, 1.0])
        assert gd.quadratic_bowl.f(p) == 5.5
        np.testing.assert_array_equal(gd.quadratic_bowl.grad(p), [1.0, 10.0])
        # Rosenbrock at (0, 0): (1 − 0)² = 1, gradient (−2, 0); at (−1, 1): 4, gradient (−4, 0)
        assert gd.rosenbrock.f(np.zeros(2)) == 1.0
        np.testing.assert_array_equal(gd.rosenbrock.grad(np.zeros(2)), [-2.0, 0.0])
        assert gd.rosenbrock.f(np.array([-1.0, 1.0])) == 4.0
        np.testing.assert_array_equal(gd.rosenbrock.grad(np.array([-1.0, 1.0])), [-4.0, 0.0])
        # Beale at (0, 0): 1.5² + 2.25² + 2.625² = 14.203125; at (1, 1): 1.5² + 2.25² + 2.625²
        # too (x y^i − x = 0 when y = 1)
        assert gd.beale.f(np.zeros(2)) == pytest.approx(14.203125, rel=1e-15)
        assert gd.beale.f(np.ones(2)) == pytest.approx(14.203125, rel=1e-15)
        # ∂f/∂x at (0, 0) = 2(1.5)(−1) + 2(2.25)(−1) + 2(2.625)(−1) = −12.75, ∂f/∂y = 0
        np.testing.assert_allclose(gd.beale.grad(np.zeros(2)), [-12.75, 0.0], atol=1e-15)

    @pytest.mark.parametrize("func", FUNCS, ids=lambda f: f.name)
    def test_minimum_is_stationary_with_zero_value(self, func):
        assert func.f(func.minimum) == 0.0
        np.testing.assert_array_equal(func.grad(func.minimum), [0.0, 0.0])

    @pytest.mark.parametrize("func", FUNCS, ids=lambda f: f.name)
    @given(x=st.floats(-2.0, 2.0), y=st.floats(-2.0, 2.0))
    def test_gradient_matches_numerical(self, func, x, y):
        p = np.array([x, y])
        num = numerical_gradient(func.f, p.copy())
        ana = func.grad(p)
        # Compare relative to the gradient's scale: near a stationary point both are ~0 and the
        # pure relative error is just rounding noise of the finite difference.
        scale = max(1.0, float(np.abs(ana).max()))
        assert np.abs(ana - num).max() / scale < 1e-7, (ana, num)

    @pytest.mark.parametrize("func", FUNCS, ids=lambda f: f.name)
    def test_gradient_rel_error_at_start(self, func):
        p = func.start.copy()
        assert rel_error(func.grad(p), numerical_gradient(func.f, p)) < 1e-7

    @pytest.mark.parametrize("func", FUNCS, ids=lambda f: f.name)
    def test_vectorised_over_a_grid(self, func):
        xs, ys = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 2, 3))
        z = func.f(np.stack([xs, ys]))
        assert z.shape == (3, 4)
        assert z[1, 2] == func.f(np.array([xs[1, 2], ys[1, 2]]))
        assert func.grad(np.stack([xs, ys])).shape == (2, 3, 4)

    def test_bad_points(self):
        with pytest.raises(ValueError, match=r"p must have shape \(2,\)"):
            gd.rosenbrock.f(np.zeros(3))
        with pytest.raises(TypeError, match="p must be a NumPy array"):
            gd.beale.grad([1.0, 2.0])
        with pytest.raises(ValueError, match="b must be > 0"):
            gd.make_quadratic_bowl(1.0, 0.0)


class TestMinimize:
    def test_adam_reaches_rosenbrock_minimum(self):
        # the curved valley is slow to follow: 3000 steps of η = 0.05 from the classic (−1.2, 1)
        t = gd.minimize(gd.rosenbrock, optimizer="adam", steps=3000, learning_rate=0.05)
        assert not t.diverged
        assert np.abs(t.final - [1.0, 1.0]).max() < 1e-6
        assert t.values[-1] < 1e-12

    def test_adam_reaches_beale_minimum(self):
        t = gd.minimize(gd.beale, optimizer="adam", steps=3000, learning_rate=0.02)
        assert np.abs(t.final - [3.0, 0.5]).max() < 1e-6

    def test_shapes_and_start(self):
        t = gd.minimize(gd.quadratic_bowl, start=(1.0, 1.0), optimizer="sgd", steps=7, learning_rate=0.1)
        assert t.points.shape == (8, 2) and t.values.shape == (8,)
        np.testing.assert_array_equal(t.points[0], [1.0, 1.0])
        # GD on ½(x² + 10 y²) with η = 0.1: x ← 0.9 x, y ← (1 − 1) y = 0 after one step
        np.testing.assert_allclose(t.points[:, 0], 0.9 ** np.arange(8), rtol=1e-14)
        np.testing.assert_allclose(t.points[1:, 1], 0.0, atol=1e-15)
        np.testing.assert_allclose(t.values, [gd.quadratic_bowl.f(p) for p in t.points])
        assert t.hyper == {"learning_rate": 0.1} and t.optimizer == "sgd"

    def test_gd_on_bowl_diverges_above_two_over_curvature(self):
        # along y the step multiplies y by (1 − 10 η): |1 − 10 η| > 1 for η > 0.2
        ok = gd.minimize(gd.quadratic_bowl, optimizer="sgd", steps=300, learning_rate=0.19)
        bad = gd.minimize(gd.quadratic_bowl, optimizer="sgd", steps=300, learning_rate=0.21)
        assert ok.values[-1] < 1e-6 and not ok.diverged
        assert bad.values[-1] > bad.values[0]

    def test_blow_up_is_reported_not_raised(self):
        t = gd.minimize(gd.rosenbrock, optimizer="sgd", steps=500, learning_rate=0.1)
        assert t.diverged
        assert len(t.points) < 501
        assert np.isfinite(t.points).all() and np.isfinite(t.values).all()

    def test_momentum_beats_sgd_on_ill_conditioned_bowl(self):
        bowl = gd.make_quadratic_bowl(1.0, 100.0)
        plain = gd.minimize(bowl, start=(1.0, 1.0), optimizer="sgd", steps=100, learning_rate=0.015)
        heavy = gd.minimize(bowl, start=(1.0, 1.0), optimizer="sgd_momentum", steps=100, learning_rate=0.015, momentum=0.8)
        assert heavy.values[-1] < 1e-3 * plain.values[-1]

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match=r"start must have shape \(2,\)"):
            gd.minimize(gd.beale, start=(1.0, 2.0, 3.0))
        with pytest.raises(ValueError, match="unknown optimizer"):
            gd.minimize(gd.beale, optimizer="lbfgs")
        with pytest.raises(TypeError, match="func must be an Objective2D"):
            gd.minimize(lambda p: 0.0)
        with pytest.raises(ValueError, match="steps must be >= 0"):
            gd.minimize(gd.beale, steps=-1)
        with pytest.raises(ValueError, match="start contains"):
            gd.minimize(gd.beale, start=(np.nan, 0.0))
        with pytest.raises(ValueError, match="optimiser state"):
            gd.minimize(gd.beale, optimizer="adam", t=5)


# --------------------------------------------------------------------------------------------
# Full-batch / mini-batch / stochastic GD on linear regression
# --------------------------------------------------------------------------------------------

def _regression_problem(seed=0, n=120):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.1 * r.standard_normal(n)
    A = np.hstack([X, np.ones((n, 1))])
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    return X, y, sol[:3], sol[3]


class TestLinearRegression:
    def test_one_full_batch_step_by_hand(self):
        # X = [[1], [2]], y = [1, 3], w = b = 0: r = a − y = (−1, −3)
        # C0 = (1 + 9) / 4 = 2.5;  dw = Xᵀr / 2 = −3.5, db = mean(r) = −2
        # with η = 1: w = 3.5, b = 2, a = (5.5, 9), r = (4.5, 6), C1 = (20.25 + 36) / 4 = 14.0625
        w, b, h = gd.linear_regression_gd(np.array([[1.0], [2.0]]), np.array([1.0, 3.0]), 2, 1.0, 1)
        np.testing.assert_allclose(w, [3.5], rtol=1e-15)
        assert b == pytest.approx(2.0, rel=1e-15)
        np.testing.assert_allclose(h.step_loss, [2.5], rtol=1e-15)  # the full batch before the step: C0
        np.testing.assert_allclose(h.loss, [14.0625], rtol=1e-15)  # all the data after the epoch: C1
        assert (h.epoch, h.lr, h.train_acc, h.val_acc) == ([1], [1.0], [None], [None])

    def test_full_batch_converges_to_least_squares(self):
        X, y, w_star, b_star = _regression_problem()
        w, b, h = gd.linear_regression_gd(X, y, batch_size=len(X), lr=0.5, epochs=300)
        np.testing.assert_allclose(w, w_star, atol=1e-9)
        assert b == pytest.approx(b_star, abs=1e-9)
        # full-batch GD with a stable step never increases the loss
        assert np.all(np.diff(h.loss) <= 1e-15)
        assert h.config["steps_per_epoch"] == 1 and len(h.step_loss) == 300
        # a full-batch step's loss is the loss after the previous epoch
        np.testing.assert_allclose(h.step_loss[1:], h.loss[:-1], rtol=1e-12)

    def test_stochastic_converges_near_least_squares_and_is_noisy(self):
        X, y, w_star, b_star = _regression_problem()
        w, b, sgd_h = gd.linear_regression_gd(
            X, y, batch_size=1, lr=0.05, epochs=40, seed=1,
            lr_schedule=lambda e: gd.step_decay(0.05, e, drop=0.5, every=5),
        )
        assert np.abs(w - w_star).max() < 5e-3
        assert abs(b - b_star) < 5e-3
        assert len(sgd_h.step_loss) == 40 * len(X)
        # single-example losses fluctuate; consecutive steps go up about as often as down
        ups = np.mean(np.diff(sgd_h.step_loss[-len(X):]) > 0)
        assert 0.2 < ups < 0.8

    def test_minibatch_reaches_loss_floor(self):
        X, y, w_star, b_star = _regression_problem()
        floor = np.sum((X @ w_star + b_star - y) ** 2) / (2 * len(X))
        _, _, h = gd.linear_regression_gd(X, y, batch_size=16, lr=0.1, epochs=60, seed=3)
        assert h.config["steps_per_epoch"] == math.ceil(len(X) / 16)
        assert len(h.step_loss) == 60 * math.ceil(len(X) / 16)
        assert h.loss[-1] == pytest.approx(floor, rel=1e-2)
        assert h.loss[-1] >= floor - 1e-15  # nothing beats the least-squares solution

    def test_two_d_targets_match_one_d(self):
        X, y, *_ = _regression_problem()
        w1, _, _ = gd.linear_regression_gd(X, y, 10, 0.1, 3, seed=5)
        w2, _, _ = gd.linear_regression_gd(X, np.stack([y, 2 * y], axis=1), 10, 0.1, 3, seed=5)
        np.testing.assert_allclose(w2[:, 0], w1, rtol=1e-12)
        np.testing.assert_allclose(w2[:, 1], 2 * w1, rtol=1e-12)

    def test_same_seed_same_history(self):
        X, y, *_ = _regression_problem()
        *_, a = gd.linear_regression_gd(X, y, 7, 0.1, 2, seed=11)
        *_, b = gd.linear_regression_gd(X, y, 7, 0.1, 2, seed=11)
        np.testing.assert_array_equal(a.step_loss, b.step_loss)

    def test_bad_inputs(self):
        X, y, *_ = _regression_problem(n=10)
        with pytest.raises(ValueError, match="batch_size must be <= n=10"):
            gd.linear_regression_gd(X, y, 11, 0.1, 1)
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            gd.linear_regression_gd(X, y, 0, 0.1, 1)
        with pytest.raises(ValueError, match="same number of rows"):
            gd.linear_regression_gd(X, y[:5], 2, 0.1, 1)
        with pytest.raises(ValueError, match="X must be 2-D"):
            gd.linear_regression_gd(X[:, 0], y, 2, 0.1, 1)
        with pytest.raises(ValueError, match="lr must be > 0"):
            gd.linear_regression_gd(X, y, 2, -0.1, 1)
        with pytest.raises(ValueError, match="epochs must be >= 1"):
            gd.linear_regression_gd(X, y, 2, 0.1, 0)
        with pytest.raises(ValueError, match="diverged"):
            gd.linear_regression_gd(100 * X, y, 10, 10.0, 50)
