"""Tests for chapter 6, course_lib.backprop."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from course_lib import backprop as bp
from course_lib.backprop import Value
from course_lib.data import load_digits
from course_lib.gradcheck import check_layer, numerical_gradient, rel_error
from course_lib.gradient_descent import make_optimizer
from course_lib.train import evaluate, fit
from tests.strategies import batch_sizes, float_arrays, seeds

SIG1 = 1 / (1 + math.exp(-1))  # σ(1), the neuron's output in the lecture's example
DSIG1 = SIG1 * (1 - SIG1)  # σ'(1) = σ(1)(1 − σ(1))


# ============================================================================================
# The lecture's worked examples (source 001)
# ============================================================================================

class TestLectureExamples:
    def test_x_plus_y_times_z_with_values(self):
        # q = x + y = 3, f = q z = −12; ∂f/∂q = z = −4, ∂f/∂z = q = 3,
        # ∂f/∂x = ∂f/∂q · ∂q/∂x = −4 · 1, likewise ∂f/∂y = −4
        x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
        q = x + y
        f = q * z
        f.backward()
        assert f.data == -12.0
        assert (x.grad, y.grad, z.grad, q.grad) == (-4.0, -4.0, 3.0, -4.0)

    def test_x_plus_y_times_z_with_gates(self):
        add, mul = bp.AddGate(), bp.MultiplyGate()
        q = add.forward(-2.0, 5.0)
        f = mul.forward(q, -4.0)
        dq, dz = mul.backward(1.0)
        dx, dy = add.backward(dq)
        assert (f, dx, dy, dz) == (-12.0, -4.0, -4.0, 3.0)

    def _neuron(self):
        w0, x0, w1, x1, w2 = (Value(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
        return w0, x0, w1, x1, w2

    def test_sigmoid_neuron_decomposed_into_primitive_nodes(self):
        # z = w0 x0 + w1 x1 + w2 = −2 + 6 − 3 = 1;  f = 1 / (1 + e^(−z)) = σ(1) ≈ 0.7311
        # ∂f/∂z = σ(1)(1 − σ(1)) ≈ 0.1966; ∂f/∂w0 = x0 ∂f/∂z, ∂f/∂x0 = w0 ∂f/∂z, ...
        w0, x0, w1, x1, w2 = self._neuron()
        z = w0 * x0 + w1 * x1 + w2
        neg = -z
        e = neg.exp()
        u = 1 + e
        f = 1 / u
        f.backward()
        assert f.data == pytest.approx(SIG1, rel=1e-15)
        assert w0.grad == pytest.approx(-1.0 * DSIG1, rel=1e-14)
        assert x0.grad == pytest.approx(2.0 * DSIG1, rel=1e-14)
        assert w1.grad == pytest.approx(-2.0 * DSIG1, rel=1e-14)
        assert x1.grad == pytest.approx(-3.0 * DSIG1, rel=1e-14)
        assert w2.grad == pytest.approx(DSIG1, rel=1e-14)
        # the gradients along the chain, right to left: d(1/u)/du = −1/u² at u = 1 + e^(−1);
        # +1 passes it on; exp multiplies by e^(−1); ×(−1) flips the sign
        assert u.grad == pytest.approx(-1 / (1 + math.exp(-1)) ** 2, rel=1e-14)
        assert e.grad == pytest.approx(u.grad, rel=1e-15)
        assert neg.grad == pytest.approx(u.grad * math.exp(-1), rel=1e-14)
        assert z.grad == pytest.approx(DSIG1, rel=1e-14)

    def test_sigmoid_neuron_rounded_values_quoted_in_the_brief(self):
        # f ≈ 0.731, ∂f/∂w0 ≈ −0.197, ∂f/∂x0 ≈ 0.393 (checked to the quoted 3 decimals)
        w0, x0, w1, x1, w2 = self._neuron()
        f = (w0 * x0 + w1 * x1 + w2).sigmoid()
        f.backward()
        assert round(f.data, 3) == 0.731
        assert round(w0.grad, 3) == -0.197
        assert round(x0.grad, 3) == 0.393
        assert (round(w1.grad, 3), round(x1.grad, 3), round(w2.grad, 3)) == (-0.393, -0.590, 0.197)

    def test_sigmoid_neuron_with_gate_objects(self):
        m0, m1, a0, a1, s = bp.MultiplyGate(), bp.MultiplyGate(), bp.AddGate(), bp.AddGate(), bp.SigmoidGate()
        p0 = m0.forward(2.0, -1.0)
        p1 = m1.forward(-3.0, -2.0)
        z = a1.forward(a0.forward(p0, p1), -3.0)
        f = s.forward(z)
        dz = s.backward(1.0)  # local gradient f (1 − f)
        ds, dw2 = a1.backward(dz)
        dp0, dp1 = a0.backward(ds)
        dw0, dx0 = m0.backward(dp0)
        dw1, dx1 = m1.backward(dp1)
        assert f == pytest.approx(SIG1, rel=1e-15)
        np.testing.assert_allclose(
            [dw0, dx0, dw1, dx1, dw2], np.array([-1.0, 2.0, -2.0, -3.0, 1.0]) * DSIG1, rtol=1e-14
        )

    @given(w=st.lists(st.floats(-3, 3), min_size=3, max_size=3), x=st.lists(st.floats(-3, 3), min_size=2, max_size=2))
    def test_sigmoid_node_equals_its_decomposition(self, w, x):
        a = [Value(v) for v in (*w, *x)]
        b = [Value(v) for v in (*w, *x)]
        z_a = a[0] * a[3] + a[1] * a[4] + a[2]
        z_b = b[0] * b[3] + b[1] * b[4] + b[2]
        one = z_a.sigmoid()
        many = 1 / (1 + (-z_b).exp())
        one.backward()
        many.backward()
        assert one.data == pytest.approx(many.data, rel=1e-12)
        for va, vb in zip(a, b):
            assert va.grad == pytest.approx(vb.grad, rel=1e-9, abs=1e-15)


# ============================================================================================
# The Value engine
# ============================================================================================

class TestValue:
    def test_reuse_accumulates(self):
        # f = x·x + x: x is used three times; df/dx = 2x + 1 = 7 at x = 3
        x = Value(3.0)
        f = x * x + x
        f.backward()
        assert f.data == 12.0 and x.grad == 7.0

    def test_reuse_through_intermediate(self):
        # y = 2x; f = y·y = 4x², df/dx = 8x = 8 at x = 1;  g = a + a: dg/da = 2
        x = Value(1.0)
        y = x * 2
        (y * y).backward()
        assert x.grad == 8.0 and y.grad == 4.0
        a = Value(-0.5)
        (a + a).backward()
        assert a.grad == 2.0

    def test_second_backward_adds_to_leaves_only(self):
        x = Value(3.0)
        sq = x * x
        f = sq + x
        f.backward()
        f.backward()
        assert x.grad == 14.0  # leaves accumulate: 7 + 7
        assert sq.grad == 1.0 and f.grad == 1.0  # intermediates are recomputed, not summed
        f.zero_grad()
        assert x.grad == 0.0
        f.backward()
        assert x.grad == 7.0

    def test_two_losses_sum_in_shared_leaf(self):
        w = Value(2.0)
        (w * 3).backward()
        (w * w).backward()
        assert w.grad == 3.0 + 4.0

    def test_operator_values(self):
        a, b = Value(3.0), Value(-2.0)
        assert (a - b).data == 5.0 and (2 - a).data == -1.0 and (a / b).data == -1.5
        assert (6 / a).data == 2.0 and (a**2).data == 9.0 and (-a).data == -3.0
        assert (a + 1).data == 4.0 and (1 + a).data == 4.0 and (2 * a).data == 6.0
        assert b.relu().data == 0.0 and a.relu().data == 3.0
        assert a.max(b).data == 3.0 and b.max(a).data == 3.0 and b.max(-5).data == -2.0
        assert Value(0.0).tanh().data == 0.0 and Value(0.0).sigmoid().data == 0.5
        assert Value(1.0).exp().data == math.e and Value(math.e).log().data == 1.0

    def test_sigmoid_is_stable_for_large_inputs(self):
        assert Value(-800.0).sigmoid().data == 0.0
        assert Value(800.0).sigmoid().data == 1.0

    @pytest.mark.parametrize(
        ("op", "x"),
        [
            (lambda v: v.exp(), 0.7), (lambda v: v.log(), 1.7), (lambda v: v.tanh(), -0.4),
            (lambda v: v.sigmoid(), 1.3), (lambda v: v.relu(), 0.8), (lambda v: v.relu(), -0.8),
            (lambda v: v**3, -1.1), (lambda v: v**-2, 0.6), (lambda v: v**0.5, 2.0), (lambda v: v**0, 2.0),
            (lambda v: 1 / v, -0.3), (lambda v: 2 - v, 0.4), (lambda v: v.max(0.5), 0.9), (lambda v: v.max(0.5), 0.1),
        ],
        ids=["exp", "log", "tanh", "sigmoid", "relu+", "relu-", "cube", "pow-2", "sqrt", "pow0", "recip", "rsub", "max-win", "max-lose"],
    )
    def test_local_gradients_against_numerical(self, op, x):
        v = Value(x)
        out = op(v)
        out.backward()
        num = numerical_gradient(lambda p: op(Value(float(p[0]))).data, np.array([x]))
        assert abs(v.grad - num[0]) < 1e-8 * max(1.0, abs(num[0]))

    @given(a=st.floats(0.2, 3.0), b=st.floats(-2.0, 2.0))
    def test_composite_expression_against_numerical(self, a, b):
        # keep away from the kinks of relu (b = 0) and max (a = b)
        assume(abs(b) > 1e-3 and abs(a - b) > 1e-3)

        def expr(p, q):
            return (p * q + p**2) / (q**2 + 1) + (p - q).tanh() + (p * q).sigmoid() + p.log() * q.exp() - q.relu() + p.max(q)

        va, vb = Value(a), Value(b)
        out = expr(va, vb)
        out.backward()
        num = numerical_gradient(lambda t: expr(Value(float(t[0])), Value(float(t[1]))).data, np.array([a, b]))
        assert rel_error(np.array([va.grad, vb.grad]), num) < 1e-7

    def test_deep_graph_has_no_recursion_limit(self):
        x = Value(0.5)
        total = Value(0.0)
        for _ in range(5000):
            total = total + x
        total.backward()
        assert x.grad == 5000.0

    def test_topological_order(self):
        x, y = Value(1.0), Value(2.0)
        q = x * y
        f = q + x
        order = bp.topological_order(f)
        assert len(order) == 4 and order[-1] is f
        assert order.index(q) > order.index(x) and order.index(q) > order.index(y)

    def test_bad_inputs(self):
        with pytest.raises(TypeError, match="data must be a real number"):
            Value("3")
        with pytest.raises(TypeError, match="data must be a real number"):
            Value(True)
        with pytest.raises(ValueError, match="data must be finite"):
            Value(float("nan"))
        with pytest.raises(TypeError, match="only constant exponents"):
            Value(2.0) ** Value(2.0)
        with pytest.raises(ValueError, match="division by a Value equal to 0"):
            Value(1.0) / Value(0.0)
        with pytest.raises(ValueError, match="division by a Value equal to 0"):
            1 / Value(0.0)
        with pytest.raises(ValueError, match="no finite derivative at 0"):
            Value(0.0) ** 0.5
        with pytest.raises(ValueError, match="negative base needs an integer exponent"):
            Value(-2.0) ** 0.5
        with pytest.raises(ValueError, match="log needs a positive argument"):
            Value(0.0).log()
        with pytest.raises(ValueError, match="overflows"):
            Value(710.0).exp()
        with pytest.raises(TypeError, match="operand must be a real number"):
            Value(1.0) + "a"
        with pytest.raises(TypeError, match="root must be a Value"):
            bp.topological_order(3.0)


class TestDrawGraph:
    def test_one_text_per_node_with_value_and_grad(self):
        x = Value(3.0, label="x")
        f = x * x + x
        f.backward()
        fig = bp.draw_graph(f)
        assert isinstance(fig, Figure)
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert len(texts) == 3  # x, x*x, (x*x)+x: the reused x is drawn once
        assert any("x" in t and "data 3" in t and "grad 7" in t for t in texts)
        assert any("[+]" in t and "data 12" in t and "grad 1" in t for t in texts)
        assert len(fig.axes[0].patches) == 4  # arrows: x→*, x→* (second use), x→+ and *→+
        fig.savefig(__import__("io").BytesIO(), format="png")  # renders without error

    def test_neuron_graph(self):
        w0, x0, w1, x1, w2 = (Value(v, label=n) for v, n in zip((2.0, -1.0, -3.0, -2.0, -3.0), ("w0", "x0", "w1", "x1", "w2")))
        f = (w0 * x0 + w1 * x1 + w2).sigmoid()
        f.backward()
        fig = bp.draw_graph(f)
        assert len(fig.axes[0].texts) == len(bp.topological_order(f)) == 10
        assert any("[σ]" in t.get_text() and "data 0.7311" in t.get_text() for t in fig.axes[0].texts)

    def test_single_node(self):
        fig = bp.draw_graph(Value(1.0))
        assert len(fig.axes[0].texts) == 1


# ============================================================================================
# Gates
# ============================================================================================

class TestGates:
    def test_max_gate_routes(self):
        g = bp.MaxGate()
        assert g.forward(4.0, -1.0) == 4.0
        assert g.backward(2.5) == (2.5, 0.0)
        assert g.forward(-1.0, 4.0) == 4.0
        assert g.backward(2.5) == (0.0, 2.5)
        g.forward(1.0, 1.0)
        assert g.backward(3.0) == (3.0, 0.0)  # tie: to x, the gradient is not split or doubled

    def test_gates_on_arrays(self, rng):
        x, y, dz = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal(5)
        m = bp.MaxGate()
        np.testing.assert_array_equal(m.forward(x, y), np.maximum(x, y))
        dx, dy = m.backward(dz)
        np.testing.assert_array_equal(dx + dy, dz)
        np.testing.assert_array_equal(dx, np.where(x >= y, dz, 0.0))
        mul = bp.MultiplyGate()
        mul.forward(x, y)
        dx, dy = mul.backward(dz)
        np.testing.assert_array_equal(dx, y * dz)
        np.testing.assert_array_equal(dy, x * dz)
        add = bp.AddGate()
        add.forward(x, y)
        dx, dy = add.backward(dz)
        dx[0] = 99.0
        assert dy[0] == dz[0] and dz[0] != 99.0  # separate arrays, dz untouched

    def test_sigmoid_gate_local_gradient(self):
        s = bp.SigmoidGate()
        out = s.forward(np.array([-800.0, 0.0, 2.0]))
        np.testing.assert_allclose(out, [0.0, 0.5, 1 / (1 + math.exp(-2))], rtol=1e-15, atol=0)
        np.testing.assert_allclose(s.backward(np.ones(3)), out * (1 - out), rtol=1e-15)

    @pytest.mark.parametrize("gate", [bp.AddGate, bp.MultiplyGate, bp.MaxGate, bp.SigmoidGate])
    def test_backward_before_forward(self, gate):
        with pytest.raises(RuntimeError, match="backward called before forward"):
            gate().backward(1.0)

    def test_bad_operand(self):
        with pytest.raises(TypeError, match="x must be a real number"):
            bp.MultiplyGate().forward("2", 3.0)
        with pytest.raises(ValueError, match="y contains 1 non-finite"):
            bp.AddGate().forward(np.zeros(2), np.array([0.0, np.inf]))
        with pytest.raises(ValueError, match=r"x and y must have the same shape, got \(2,\) and \(3, 2\)"):
            bp.MultiplyGate().forward(np.zeros(2), np.zeros((3, 2)))


# ============================================================================================
# Affine layer
# ============================================================================================

X_HAND = np.array([[1.0, 2.0]])
W_HAND = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
B_HAND = np.array([0.5, 0.0, -0.5])


class TestAffine:
    def test_forward_by_hand(self):
        # (1, 2) @ [[1, 0, −1], [2, 1, 0]] = (5, 2, −1); + b = (5.5, 2, −1.5)
        out, _ = bp.affine_forward(X_HAND, W_HAND, B_HAND)
        np.testing.assert_array_equal(out, [[5.5, 2.0, -1.5]])

    def test_backward_by_hand(self):
        # dout = (1, −1, 2): dx = dout wᵀ = (1 − 2, 2 − 1) = (−1, 1); dw = xᵀ dout; db = dout
        _, cache = bp.affine_forward(X_HAND, W_HAND, B_HAND)
        dx, dw, db = bp.affine_backward(np.array([[1.0, -1.0, 2.0]]), cache)
        np.testing.assert_array_equal(dx, [[-1.0, 1.0]])
        np.testing.assert_array_equal(dw, [[1.0, -1.0, 2.0], [2.0, -2.0, 4.0]])
        np.testing.assert_array_equal(db, [1.0, -1.0, 2.0])

    def test_gradient_check_fixed(self, rng):
        inputs = {"x": rng.standard_normal((4, 5)), "w": rng.standard_normal((5, 3)), "b": rng.standard_normal(3)}
        report = check_layer(bp.affine_forward, bp.affine_backward, inputs, seed=1)
        assert report.passed, str(report)
        for name in ("x", "w", "b"):
            assert report[name].rel_error < 1e-8, str(report)

    @given(n=batch_sizes(4), d=st.integers(1, 4), m=st.integers(1, 4), seed=seeds())
    def test_gradient_check_random_shapes(self, n, d, m, seed):
        r = np.random.default_rng(seed)
        inputs = {"x": r.standard_normal((n, d)), "w": r.standard_normal((d, m)), "b": r.standard_normal(m)}
        report = check_layer(bp.affine_forward, bp.affine_backward, inputs, seed=seed % 1000)
        assert report.passed, str(report)

    @given(x1=float_arrays((3, 4)), x2=float_arrays((3, 4)))
    def test_linear_in_x(self, x1, x2):
        r = np.random.default_rng(0)
        w, b = r.standard_normal((4, 2)), r.standard_normal(2)
        f = lambda x: bp.affine_forward(x, w, b)[0] - b  # noqa: E731
        np.testing.assert_allclose(f(x1 + x2), f(x1) + f(x2), rtol=1e-10, atol=1e-9)

    def test_backward_gradient_shapes_sum_over_batch(self, rng):
        # db is the sum over the batch, not the mean and not per-example
        x, w, b = rng.standard_normal((6, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3)
        _, cache = bp.affine_forward(x, w, b)
        dout = rng.standard_normal((6, 3))
        dx, dw, db = bp.affine_backward(dout, cache)
        assert (dx.shape, dw.shape, db.shape) == ((6, 2), (2, 3), (3,))
        np.testing.assert_allclose(db, dout.sum(axis=0), rtol=1e-15)
        np.testing.assert_allclose(dw, sum(np.outer(x[i], dout[i]) for i in range(6)), rtol=1e-12)

    def test_bad_inputs(self):
        x, w, b = np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4)
        with pytest.raises(ValueError, match=r"x must be 2-D, got 4-D array of shape \(2, 1, 1, 3\)"):
            bp.affine_forward(x.reshape(2, 1, 1, 3), w, b)
        with pytest.raises(ValueError, match=r"x has 3 features per example .* but w expects 2"):
            bp.affine_forward(x, np.zeros((2, 4)), b)
        with pytest.raises(ValueError, match=r"b must have shape \(4,\) to match w \(3, 4\), got \(3,\)"):
            bp.affine_forward(x, w, np.zeros(3))
        with pytest.raises(ValueError, match="b must be 1-D"):
            bp.affine_forward(x, w, np.zeros((1, 4)))
        with pytest.raises(TypeError, match="x must have a floating dtype"):
            bp.affine_forward(x.astype(int), w, b)
        w_nan = w.copy()
        w_nan[1, 2] = np.nan
        with pytest.raises(ValueError, match="w contains 1 non-finite"):
            bp.affine_forward(x, w_nan, b)
        _, cache = bp.affine_forward(x, w, b)
        with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 4\), got \(2, 3\)"):
            bp.affine_backward(np.zeros((2, 3)), cache)


class TestAffineClass:
    def test_params_and_bookkeeping(self):
        layer = bp.Affine(5, 3, rng=0)
        assert layer.params["w"].shape == (5, 3) and layer.params["b"].shape == (3,)
        assert not layer.params["b"].any()
        assert layer.output_shape((5,)) == (3,)
        assert layer.macs((5,)) == 15
        assert layer.num_params() == 18
        assert repr(layer) == "Affine(5, 3)"

    def test_init_scales(self):
        he = bp.Affine(400, 300, init="he", rng=0).params["w"]
        xa = bp.Affine(400, 300, init="xavier", rng=0).params["w"]
        assert he.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
        assert xa.std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)

    def test_forward_backward_match_functional(self, rng):
        layer = bp.Affine(4, 2, rng=3)
        x = rng.standard_normal((5, 4))
        out = layer.forward(x)
        ref, cache = bp.affine_forward(x, layer.params["w"], layer.params["b"])
        np.testing.assert_array_equal(out, ref)
        dout = rng.standard_normal((5, 2))
        dx = layer.backward(dout)
        rdx, rdw, rdb = bp.affine_backward(dout, cache)
        np.testing.assert_array_equal(dx, rdx)
        np.testing.assert_array_equal(layer.grads["w"], rdw)
        np.testing.assert_array_equal(layer.grads["b"], rdb)

    def test_float32(self, rng):
        layer = bp.Affine(4, 2, rng=0, dtype=np.float32)
        assert layer.params["w"].dtype == np.float32
        out = layer.forward(rng.standard_normal((3, 4)).astype(np.float32))
        assert out.dtype == np.float32
        assert layer.backward(np.ones((3, 2), np.float32)).dtype == np.float32
        assert layer.grads["w"].dtype == np.float32

    def test_same_seed_same_weights(self):
        np.testing.assert_array_equal(bp.Affine(3, 2, rng=7).params["w"], bp.Affine(3, 2, rng=7).params["w"])

    def test_bad_construction_and_inputs(self):
        with pytest.raises(ValueError, match="init must be 'he' or 'xavier', got 'normal'"):
            bp.Affine(3, 2, init="normal")
        with pytest.raises(ValueError, match="in_features must be >= 1"):
            bp.Affine(0, 2)
        with pytest.raises(TypeError, match="dtype must be a floating type"):
            bp.Affine(3, 2, dtype=np.int32)
        layer = bp.Affine(3, 2)
        with pytest.raises(ValueError, match=r"Affine\(3, 2\) expects x of shape \(N, 3\), got \(4, 5\)"):
            layer.forward(np.zeros((4, 5)))
        with pytest.raises(ValueError, match="x must be 2-D"):
            layer.forward(np.zeros(3))
        with pytest.raises(ValueError, match=r"needs one example of shape \(3,\), got \(4,\)"):
            layer.output_shape((4,))
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((1, 2)))


# ============================================================================================
# Two-layer network
# ============================================================================================

def _small_net(reg=0.0):
    net = bp.TwoLayerNet(4, 6, 3, reg=reg, seed=5)
    r = np.random.default_rng(8)
    # non-zero biases so that their gradients are tested away from a special point
    net.params["b1"][...] = 0.1 * r.standard_normal(6)
    net.params["b2"][...] = 0.1 * r.standard_normal(3)
    X = r.standard_normal((5, 4))
    y = np.array([0, 2, 1, 2, 0])
    return net, X, y


class TestTwoLayerNet:
    def test_scores_shape_and_params(self):
        net = bp.TwoLayerNet(4, 6, 3, seed=0)
        assert {k: v.shape for k, v in net.params.items()} == {"W1": (4, 6), "b1": (6,), "W2": (6, 3), "b2": (3,)}
        assert net.loss(np.zeros((2, 4))).shape == (2, 3)

    def test_initial_loss_is_log_num_classes(self):
        # tiny weights give almost uniform scores: loss ≈ −log(1/C) = log 10
        net = bp.TwoLayerNet(20, 30, 10, weight_scale=1e-4, seed=0)
        X = np.random.default_rng(0).standard_normal((50, 20))
        loss, _ = net.loss(X, np.arange(50) % 10)
        assert loss == pytest.approx(math.log(10), abs=1e-3)

    def test_matches_scalar_graph(self):
        # The same loss built node by node with Value: an independent derivation of every
        # number (forward and gradients) by the scalar engine.
        net, X, y = _small_net(reg=0.3)
        loss, grads = net.loss(X, y)
        P = {k: np.vectorize(Value, otypes=[object])(v) for k, v in net.params.items()}
        total = Value(0.0)
        N = X.shape[0]
        for n in range(N):
            h = [sum((P["W1"][d, j] * X[n, d] for d in range(4)), P["b1"][j]).relu() for j in range(6)]
            s = [sum((P["W2"][j, c] * h[j] for j in range(6)), P["b2"][c]) for c in range(3)]
            total = total + (sum((sc.exp() for sc in s), Value(0.0)).log() - s[y[n]]) / N
        for key in ("W1", "W2"):
            total = total + 0.3 * sum((w * w for w in P[key].ravel()), Value(0.0))
        total.backward()
        assert loss == pytest.approx(total.data, rel=1e-12)
        for key, arr in P.items():
            graph_grad = np.vectorize(lambda v: v.grad)(arr)
            assert rel_error(grads[key], graph_grad) < 1e-10, key

    @pytest.mark.parametrize("reg", [0.0, 0.7])
    def test_numerical_gradients(self, reg):
        net, X, y = _small_net(reg)
        _, grads = net.loss(X, y)
        for key, p in net.params.items():
            num = numerical_gradient(lambda _: net.loss(X, y)[0], p)
            err = rel_error(grads[key], num)
            assert err < 1e-7, (key, err)

    def test_reg_adds_two_lambda_w(self):
        net, X, y = _small_net(0.0)
        loss0, g0 = net.loss(X, y)
        net.reg = 0.25
        loss1, g1 = net.loss(X, y)
        w_sq = np.sum(net.params["W1"] ** 2) + np.sum(net.params["W2"] ** 2)
        assert loss1 - loss0 == pytest.approx(0.25 * w_sq, rel=1e-12)
        np.testing.assert_allclose(g1["W1"] - g0["W1"], 0.5 * net.params["W1"], rtol=1e-10, atol=1e-15)
        np.testing.assert_array_equal(g1["b1"], g0["b1"])

    def test_predict(self):
        net, X, _ = _small_net()
        np.testing.assert_array_equal(net.predict(X), np.argmax(net.loss(X), axis=1))

    def test_trains_on_digits_with_the_course_loop(self):
        # TwoLayerNet trains with train.fit, the one training loop (a CS231n-style model: params
        # and loss(X, y) -> (loss, grads)).
        digits = load_digits(flatten=True, validation_size=270, test_size=270, dtype=np.float64)
        n = len(digits.y_train)
        net = bp.TwoLayerNet(64, 64, 10, reg=1e-4, seed=0)
        hist = fit(net, digits, "adam", epochs=10, batch_size=32, learning_rate=1e-2,
                   lr_schedule=lambda step, total: 1e-2 * 0.9 ** (step // math.ceil(n / 32)),
                   progress=False, seed=0, keep_best=True)
        assert len(hist.step_loss) == 10 * math.ceil(n / 32)
        assert len(hist.val_acc) == len(hist.train_acc) == len(hist.lr) == 10
        np.testing.assert_allclose(hist.lr, 1e-2 * 0.9 ** np.arange(10), rtol=1e-12)  # per epoch
        assert np.mean(hist.step_loss[-40:]) < 0.5 * np.mean(hist.step_loss[:40])
        best = max(hist.val_acc)
        assert best >= 0.95, hist.val_acc
        assert net.accuracy(digits.X_val, digits.y_val) == best  # best epoch's params restored
        assert net.accuracy(digits.X_test, digits.y_test) >= 0.95  # held out from training and selection
        # evaluate scores a CS231n-style model through loss(X), like fit's validation pass.
        assert evaluate(net, digits.X_val, digits.y_val).accuracy == best

    def test_trains_with_momentum_float32(self):
        digits = load_digits(flatten=True, validation_size=300, dtype=np.float32)
        net = bp.TwoLayerNet(64, 32, 10, seed=1, dtype=np.float32)
        opt = make_optimizer("sgd_momentum", learning_rate=0.05, momentum=0.9)
        hist = fit(net, digits, opt, epochs=3, batch_size=50, progress=False, seed=1)
        assert net.params["W1"].dtype == np.float32
        assert max(hist.val_acc) >= 0.9

    def test_fit_refuses_what_a_loss_model_cannot_do(self, tmp_path):
        digits = load_digits(flatten=True, validation_size=50, dtype=np.float64)
        net = bp.TwoLayerNet(64, 8, 10, seed=0)
        with pytest.raises(TypeError, match="checkpoint_dir needs a Sequential"):
            fit(net, digits, "sgd", 1, progress=False, checkpoint_dir=tmp_path)
        with pytest.raises(TypeError, match=r"model must be a Sequential or a model with params and loss"):
            fit(object(), digits, "sgd", 1, progress=False)

    def test_bad_inputs(self):
        net, X, y = _small_net()
        with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
            net.loss(X, np.array([0, 1, 2, 3, 0]))
        with pytest.raises(ValueError, match="reg must be >= 0"):
            bp.TwoLayerNet(4, 6, 3, reg=-0.1)
        with pytest.raises(ValueError, match=r"X must have shape \(N, 4\), got \(5, 3\)"):
            net.loss(X[:, :3], y)
        with pytest.raises(ValueError, match="X must be 2-D"):
            net.loss(X[0], y)
        with pytest.raises(ValueError, match="num_classes must be >= 2"):
            bp.TwoLayerNet(4, 6, 1)
        with pytest.raises(ValueError, match="weight_scale must be > 0"):
            bp.TwoLayerNet(4, 6, 3, weight_scale=0.0)
        with pytest.raises(ValueError, match="init must be 'he' or 'xavier'"):
            bp.TwoLayerNet(4, 6, 3, init="zeros")


# ============================================================================================
# Formulas of the sources, checked numerically (see the report / errata)
# ============================================================================================

def _sig(z):
    return 1 / (1 + np.exp(-z))


class TestSourceFormulas:
    def test_sigmoid_derivative_thesis_eq13(self):
        # 000 eq. (13): σ'(x) = e^(−x)/(1 + e^(−x))² = σ(x)(1 − σ(x)) is right, but its middle
        # step "1/(1 + e^(−1)) − 1/(1 + e^(−x))²" has e^(−1) where e^(−x) belongs.
        for x in (-2.0, 0.0, 0.5, 3.0):
            num = numerical_gradient(lambda p: float(_sig(p[0])), np.array([x]))[0]
            assert _sig(x) * (1 - _sig(x)) == pytest.approx(num, rel=1e-9)
            assert 1 / (1 + math.exp(-x)) - 1 / (1 + math.exp(-x)) ** 2 == pytest.approx(num, rel=1e-9)
        as_printed = 1 / (1 + math.exp(-1)) - 1 / (1 + math.exp(-0.0)) ** 2  # at x = 0
        assert as_printed == pytest.approx(0.4811, abs=1e-4) and _sig(0.0) * (1 - _sig(0.0)) == 0.25

    def test_four_equations_of_backprop(self):
        # 003: δᴸ = ∇ₐC ⊙ σ'(zᴸ); δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ'(zˡ); ∂C/∂bˡ = δˡ; ∂C/∂wˡⱼₖ = aₖˡ⁻¹ δⱼˡ
        # for a column-vector sigmoid network with C = ½‖aᴸ − y‖².
        r = np.random.default_rng(0)
        ws = [r.standard_normal((m, n)) for n, m in ((3, 4), (4, 2))]
        bs = [r.standard_normal(m) for m in (4, 2)]
        x, y = r.standard_normal(3), np.array([0.0, 1.0])

        def cost():
            a = x
            for w, b in zip(ws, bs):
                a = _sig(w @ a + b)
            return 0.5 * np.sum((a - y) ** 2)

        acts, zs = [x], []
        for w, b in zip(ws, bs):
            zs.append(w @ acts[-1] + b)
            acts.append(_sig(zs[-1]))
        dsig = [_sig(z) * (1 - _sig(z)) for z in zs]
        deltas = [None, (acts[-1] - y) * dsig[-1]]  # BP1
        deltas[0] = (ws[1].T @ deltas[1]) * dsig[0]  # BP2
        for l in range(2):
            num_b = numerical_gradient(lambda _: cost(), bs[l])
            num_w = numerical_gradient(lambda _: cost(), ws[l])
            assert rel_error(deltas[l], num_b) < 1e-8  # BP3
            assert rel_error(np.outer(deltas[l], acts[l]), num_w) < 1e-8  # BP4

    def test_matrix_recursion_of_swedish_draft(self):
        # 002 (row vectors, batch of R rows): X⁽ˡ⁺¹⁾ = f(X⁽ˡ⁾W⁽ˡ⁾ + b⁽ˡ⁾), L = ‖ŷ − y‖².
        # Correct: δ_last = 2(ŷ − y) (a matrix, not the norm 2‖ŷ − y‖ of eqs. 25/30);
        # δ⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ ⊙ f'(Z⁽ˡ⁾)) W⁽ˡ⁾ᵀ (eq. 31 prints W⁽ˡ⁺¹⁾ᵀ); ∂L/∂b⁽ˡ⁾ needs the sum over
        # the R rows of δ⁽ˡ⁺¹⁾ ⊙ f'(Z⁽ˡ⁾) (eq. 33 omits it).
        r = np.random.default_rng(1)
        X0 = r.standard_normal((3, 4))
        Ws = [r.standard_normal((4, 5)), r.standard_normal((5, 2))]
        bs = [r.standard_normal(5), r.standard_normal(2)]
        y = r.standard_normal((3, 2))

        def loss():
            X = X0
            for W, b in zip(Ws, bs):
                X = _sig(X @ W + b)
            return np.sum((X - y) ** 2)

        Xs, Zs = [X0], []
        for W, b in zip(Ws, bs):
            Zs.append(Xs[-1] @ W + b)
            Xs.append(_sig(Zs[-1]))
        delta = 2 * (Xs[-1] - y)
        grads_W, grads_b = [None, None], [None, None]
        for l in (1, 0):
            g = delta * _sig(Zs[l]) * (1 - _sig(Zs[l]))
            grads_W[l] = Xs[l].T @ g  # eq. 32
            grads_b[l] = g.sum(axis=0)
            delta = g @ Ws[l].T  # eq. 31 with W⁽ˡ⁾, not W⁽ˡ⁺¹⁾
        for l in (0, 1):
            assert rel_error(grads_W[l], numerical_gradient(lambda _: loss(), Ws[l])) < 1e-8
            assert rel_error(grads_b[l], numerical_gradient(lambda _: loss(), bs[l])) < 1e-8
        # eq. 31 as printed cannot even be formed: at l = 0, δ⁽¹⁾ ⊙ f'(Z⁽⁰⁾) is (3, 5) but
        # W⁽¹⁾ᵀ is (2, 5); the product needs W⁽⁰⁾ᵀ (5, 4) and gives δ⁽⁰⁾ (3, 4) like X⁽⁰⁾
        g0 = (grads_b[0] * 0 + 1) * np.ones((3, 5))
        with pytest.raises(ValueError):
            g0 @ Ws[1].T
        assert (g0 @ Ws[0].T).shape == X0.shape
        # eqs. 25/30 (norm instead of residual) give a wrong gradient
        norm_delta = 2 * np.linalg.norm(Xs[-1] - y) * np.ones_like(y)
        wrong = Xs[1].T @ (norm_delta * _sig(Zs[1]) * (1 - _sig(Zs[1])))
        assert rel_error(wrong, grads_W[1]) > 0.1

    def test_lecture_two_layer_code(self):
        # 001's ~20-line network: h = σ(x w1), ŷ = h w2, loss = Σ(ŷ − y)²;
        # grad_w2 = hᵀ 2(ŷ − y), grad_w1 = xᵀ((2(ŷ − y) w2ᵀ) ⊙ h ⊙ (1 − h)) — correct.
        r = np.random.default_rng(2)
        x, y = r.standard_normal((4, 5)), r.standard_normal((4, 2))
        w1, w2 = r.standard_normal((5, 3)), r.standard_normal((3, 2))

        def loss():
            return np.square(_sig(x @ w1) @ w2 - y).sum()

        h = _sig(x @ w1)
        grad_y_pred = 2.0 * (h @ w2 - y)
        grad_w2 = h.T @ grad_y_pred
        grad_w1 = x.T @ ((grad_y_pred @ w2.T) * h * (1 - h))
        assert rel_error(grad_w1, numerical_gradient(lambda _: loss(), w1)) < 1e-8
        assert rel_error(grad_w2, numerical_gradient(lambda _: loss(), w2)) < 1e-8
