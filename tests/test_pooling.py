"""Tests for chapter 5, course_lib.pooling: max, average and global average pooling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.gradcheck import check_layer, rel_error
from course_lib.pooling import (
    AvgPool2D,
    GlobalAvgPool2D,
    MaxPool2D,
    avg_pool_backward,
    avg_pool_backward_naive,
    avg_pool_forward,
    avg_pool_forward_naive,
    global_avg_pool_backward,
    global_avg_pool_forward,
    max_pool_backward,
    max_pool_backward_naive,
    max_pool_forward,
    max_pool_forward_naive,
)

MAX = [(max_pool_forward, max_pool_backward), (max_pool_forward_naive, max_pool_backward_naive)]
AVG = [(avg_pool_forward, avg_pool_backward), (avg_pool_forward_naive, avg_pool_backward_naive)]


def _distinct(rng, shape):
    """Random input without ties (a permutation, scaled), so max pooling is differentiable."""
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) / 7.0 - 3.0


# --------------------------------------------------------------------------------------------
# Worked examples
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("forward", "backward"), MAX)
def test_max_pool_2x2_worked_example(forward, backward):
    # 4x4 -> 2x2 (source 002, figure 8: k=2, s=2). Maxima: 6, 8, 3, 4.
    x = np.array([[1, 1, 2, 4],
                  [5, 6, 7, 8],
                  [3, 2, 1, 0],
                  [1, 2, 3, 4]], dtype=np.float64)[None, None]
    out, cache = forward(x, pool_size=2)
    np.testing.assert_array_equal(out[0, 0], [[6, 8], [3, 4]])
    dout = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
    dx = backward(dout, cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0],
                                             [0, 10, 0, 20],
                                             [30, 0, 0, 0],
                                             [0, 0, 0, 40]])


def test_max_pool_32x32x3_to_16x16x3():
    # Source 004: 2x2 max pooling, stride 2, on 32x32x3 gives 16x16x3 and has no parameters.
    layer = MaxPool2D(2)
    assert layer.output_shape((3, 32, 32)) == (3, 16, 16)
    assert layer.num_params() == 0


@pytest.mark.parametrize(("forward", "backward"), MAX)
def test_tie_rule_first_maximum_in_row_major_order(forward, backward):
    # Window [[5, 5], [5, 1]]: three tied maxima. Only the first in row-major order, (0, 0),
    # gets the gradient; the second window's tie is between (0, 1) and (1, 0) -> (0, 1).
    x = np.array([[5, 5, 0, 9],
                  [5, 1, 9, 2]], dtype=np.float64)[None, None]
    out, cache = forward(x, pool_size=2)
    np.testing.assert_array_equal(out[0, 0], [[5, 9]])
    dx = backward(np.array([[[[1.0, 2.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 0, 2],
                                             [0, 0, 0, 0]])
    # The total gradient is conserved: a tie never duplicates it.
    assert dx.sum() == 3.0


@pytest.mark.parametrize(("forward", "backward"), MAX)
def test_tie_rule_matches_argmax(forward, backward):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(2, 2, 6, 6)).astype(np.float64)  # many ties
    out, cache = forward(x, pool_size=3, stride=3)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    for n in range(2):
        for c in range(2):
            for i in range(2):
                for j in range(2):
                    window = x[n, c, 3 * i:3 * i + 3, 3 * j:3 * j + 3]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    expected = np.zeros((3, 3))
                    expected[p, q] = dout[n, c, i, j]
                    np.testing.assert_array_equal(dx[n, c, 3 * i:3 * i + 3, 3 * j:3 * j + 3], expected)


@pytest.mark.parametrize(("forward", "backward"), MAX)
def test_overlapping_windows_accumulate(forward, backward):
    # 1x3 row [0, 9, 0] with 1x2 windows, stride 1: both windows' maximum is the 9,
    # so it collects both gradients.
    x = np.array([[[[0.0, 9.0, 0.0]]]])
    out, cache = forward(x, pool_size=(1, 2), stride=1)
    np.testing.assert_array_equal(out[0, 0], [[9, 9]])
    dx = backward(np.array([[[[1.5, 2.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 3.5, 0]])
    # 3x3 windows, stride 2, on 5x5 (source 001's common "F=3, S=2"): the centre pixel of the
    # middle row and column is shared by 4 windows.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    out, cache = forward(x, pool_size=3, stride=2)
    np.testing.assert_array_equal(out[0, 0], np.ones((2, 2)))
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    assert dx[0, 0, 2, 2] == 10.0 and dx.sum() == 10.0


@pytest.mark.parametrize(("forward", "backward"), AVG)
def test_avg_pool_worked_example(forward, backward):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = forward(x, pool_size=2)
    # Window means: (0+1+4+5)/4 = 2.5, 4.5, 10.5, 12.5.
    np.testing.assert_array_equal(out[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    dx = backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    # Overlapping: 1x3 row, windows of 2, stride 1: the middle entry gets both shares.
    out, cache = forward(np.array([[[[1.0, 3.0, 5.0]]]]), pool_size=(1, 2), stride=1)
    np.testing.assert_array_equal(out[0, 0], [[2, 4]])
    np.testing.assert_array_equal(backward(np.array([[[[2.0, 4.0]]]]), cache)[0, 0], [[1, 3, 2]])


def test_uncovered_rows_get_zero_gradient():
    # 5x5 with 2x2 windows, stride 2: row 4 and column 4 are never read.
    rng = np.random.default_rng(0)
    x = _distinct(rng, (1, 2, 5, 5))
    for forward, backward in MAX + AVG:
        out, cache = forward(x, pool_size=2)
        assert out.shape == (1, 2, 2, 2)
        dx = backward(np.ones(out.shape), cache)
        assert not dx[:, :, 4, :].any() and not dx[:, :, :, 4].any()


def test_global_avg_pool_example():
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    out, cache = global_avg_pool_forward(x)
    np.testing.assert_array_equal(out, [[1.5, 5.5]])
    dx = global_avg_pool_backward(np.array([[4.0, -8.0]]), cache)
    np.testing.assert_array_equal(dx, [[[[1, 1], [1, 1]], [[-2, -2], [-2, -2]]]])


# --------------------------------------------------------------------------------------------
# Gradient checks and naive vs fast
# --------------------------------------------------------------------------------------------

GEOMETRIES = [(2, None), (2, 1), (3, 2), ((2, 3), (1, 2)), (3, None)]


@pytest.mark.parametrize(("pool_size", "stride"), GEOMETRIES)
@pytest.mark.parametrize(("forward", "backward"), MAX + AVG)
def test_pool_gradient_check(forward, backward, pool_size, stride):
    rng = np.random.default_rng(7)
    # Distinct values at least 1/7 apart: the finite-difference step never changes an arg-max.
    inputs = {"x": _distinct(rng, (2, 2, 5, 6))}
    report = check_layer(forward, backward, inputs, kwargs={"pool_size": pool_size, "stride": stride})
    assert report.passed, str(report)
    # Measured: ~2e-10 for max pooling (piecewise linear: only rounding), up to ~5e-8 for
    # average pooling (small gradients dout/(ph·pw) against the finite-difference rounding).
    assert report["x"].rel_error < 1e-7, str(report)


def test_global_avg_pool_gradient_check(rng):
    report = check_layer(global_avg_pool_forward, global_avg_pool_backward,
                         {"x": rng.standard_normal((2, 3, 4, 5))})
    assert report.passed, str(report)
    assert report["x"].rel_error < 1e-8, str(report)


@given(
    N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 8), W=st.integers(1, 8),
    ph=st.integers(1, 3), pw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
    ties=st.booleans(), seed=st.integers(0, 2**16),
)
def test_fast_matches_naive(N, C, H, W, ph, pw, sh, sw, ties, seed):
    if ph > H or pw > W:
        return
    rng = np.random.default_rng(seed)
    shape = (N, C, H, W)
    x = rng.integers(0, 3, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
    for (fast_f, fast_b), (naive_f, naive_b) in [(MAX[0], MAX[1]), (AVG[0], AVG[1])]:
        out_f, cache_f = fast_f(x, pool_size=(ph, pw), stride=(sh, sw))
        out_n, cache_n = naive_f(x, pool_size=(ph, pw), stride=(sh, sw))
        assert out_f.shape == out_n.shape
        assert rel_error(out_f, out_n) < 1e-12
        dout = rng.standard_normal(out_n.shape)
        assert rel_error(fast_b(dout, cache_f), naive_b(dout, cache_n)) < 1e-12


def test_float32_and_layout_preserved(rng):
    # A (N, C, H, W) view of (N, H, W, C) memory — what the fast convolution returns.
    x = rng.standard_normal((2, 6, 8, 3)).astype(np.float32).transpose(0, 3, 1, 2)
    for forward, backward in (MAX[0], AVG[0]):
        out, cache = forward(x, pool_size=2)
        assert out.dtype == np.float32
        dx = backward(np.ones(out.shape, np.float32), cache)
        assert dx.dtype == np.float32 and dx.shape == x.shape
        ref, ref_cache = forward(np.ascontiguousarray(x), pool_size=2)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(dx, backward(np.ones(out.shape, np.float32), ref_cache))
    out, cache = global_avg_pool_forward(x)
    assert out.dtype == np.float32 and global_avg_pool_backward(out, cache).dtype == np.float32


def test_no_mutation(rng):
    x = rng.standard_normal((2, 2, 4, 4))
    x_copy = x.copy()
    out, cache = max_pool_forward(x, pool_size=2, stride=1)
    dout = rng.standard_normal(out.shape)
    d_copy = dout.copy()
    first = max_pool_backward(dout, cache)
    np.testing.assert_array_equal(max_pool_backward(dout, cache), first)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, d_copy)


# --------------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------------

def test_pool_classes(rng):
    x = _distinct(rng, (2, 3, 6, 6))
    for cls, fwd, bwd in [(MaxPool2D, max_pool_forward, max_pool_backward),
                          (AvgPool2D, avg_pool_forward, avg_pool_backward)]:
        layer = cls(3, stride=2)
        assert layer.output_shape((3, 6, 6)) == (3, 2, 2)
        assert layer.macs((3, 6, 6)) == 0 and layer.params == {}
        out = layer.forward(x)
        ref, cache = fwd(x, pool_size=3, stride=2)
        np.testing.assert_array_equal(out, ref)
        dout = rng.standard_normal(out.shape)
        np.testing.assert_array_equal(layer.backward(dout), bwd(dout, cache))
        assert layer.grads == {}
    assert MaxPool2D(2).stride == (2, 2)
    g = GlobalAvgPool2D()
    assert g.output_shape((7, 4, 4)) == (7,)
    out = g.forward(x)
    assert out.shape == (2, 3)
    assert g.backward(np.ones((2, 3))).shape == x.shape


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("forward", [max_pool_forward, max_pool_forward_naive, avg_pool_forward,
                                     avg_pool_forward_naive])
@pytest.mark.parametrize(
    ("x", "kwargs", "exc", "match"),
    [
        (np.zeros((2, 3, 4)), {}, ValueError, r"x must be 4-D, got 3-D array of shape \(2, 3, 4\)"),
        (np.zeros((1, 1, 3, 3)), {"pool_size": 4}, ValueError,
         r"pooling window 4×4 with stride 4×4 does not fit x of shape \(1, 1, 3, 3\)"),
        (np.zeros((1, 1, 4, 4)), {"stride": 0}, ValueError, "stride must be >= 1"),
        (np.zeros((1, 1, 4, 4)), {"pool_size": 0}, ValueError, "pool_size must be >= 1"),
        (np.zeros((1, 1, 4, 4)), {"pool_size": 2.0}, TypeError, "pool_size must be an integer"),
        (np.zeros((1, 1, 4, 4)), {"pool_size": (2, 2, 2)}, ValueError, "pool_size must be an int or a pair"),
        (np.zeros((1, 1, 4, 4), dtype=int), {}, TypeError, "x must have a floating dtype"),
        (np.full((1, 1, 4, 4), np.nan), {}, ValueError, "x contains 16 non-finite"),
        (np.zeros((0, 1, 4, 4)), {}, ValueError, "must not be empty"),
    ],
)
def test_pool_forward_rejects_bad_inputs(forward, x, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        forward(x, **kwargs)


@pytest.mark.parametrize(("forward", "backward"), MAX + AVG)
def test_pool_backward_rejects_bad_dout(forward, backward):
    _, cache = forward(np.zeros((1, 2, 4, 4)), pool_size=2)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(1, 2, 2, 2\), got \(1, 2, 2, 3\)"):
        backward(np.zeros((1, 2, 2, 3)), cache)


def test_global_avg_pool_rejects_bad_inputs():
    with pytest.raises(ValueError, match="x must be 4-D"):
        global_avg_pool_forward(np.zeros((2, 3)))
    _, cache = global_avg_pool_forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 3\)"):
        global_avg_pool_backward(np.zeros((2, 4)), cache)
