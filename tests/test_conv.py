"""Tests for chapter 4, course_lib.conv: geometry, naive and fast convolution, transposed convolution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import conv
from course_lib.architectures import LayerSpec, ModelSpec, summary
from course_lib.backprop import Affine
from course_lib.conv import (
    Conv2D,
    ConvTranspose2D,
    col2im,
    conv_backward,
    conv_backward_input_as_full_conv,
    conv_backward_naive,
    conv_forward,
    conv_forward_naive,
    conv_output_size,
    conv_transpose_backward,
    conv_transpose_forward,
    conv_transpose_forward_naive,
    im2col,
    receptive_field,
)
from course_lib.gradcheck import check_layer, rel_error

# --------------------------------------------------------------------------------------------
# Output size
# --------------------------------------------------------------------------------------------

# (n, k, pad, stride, expected, where the example comes from)
OUTPUT_SIZE_TABLE = [
    (7, 3, 0, 1, 5, "001: 7x7 input, 3x3 filter, stride 1"),
    (7, 3, 0, 2, 3, "001: stride 2 -> 3x3"),
    (7, 3, 1, 1, 7, "001: pad 1 keeps 7x7"),
    (32, 5, 2, 1, 32, "001: 32x32x3, 5x5, stride 1, pad 2"),
    (32, 5, 0, 1, 28, "001/004: 32 -> 28"),
    (28, 5, 0, 1, 24, "001: 28 -> 24; 003 and 000: 28x28 with 5x5 -> 24x24"),
    (12, 5, 0, 1, 8, "000: 12x12 with 5x5 -> 8x8; 16x12x12 -> 32x8x8"),
    (4, 3, 0, 1, 2, "004: valid, Q = M - (K - 1)"),
    (5, 3, 1, 1, 5, "004: same padding"),
    (5, 3, 2, 1, 7, "004: full padding, Q = M + (K - 1)"),
    (5, 3, 0, 2, 2, "004: floor((5 + 0 - 3)/2) + 1"),
    (5, 3, 1, 2, 3, "004: floor((5 + 2 - 3)/2) + 1"),
    (6, 3, 1, 2, 3, "004: 'when it does not come out nicely', floor(5/2) + 1"),
    (6, 3, 0, 1, 4, "002 figure 6: 3x3 kernel over 6x6 -> 4x4"),
    (7, 3, 0, 3, 2, "001: stride 3 'does not fit' -> floors to 2"),
]


@pytest.mark.parametrize(("n", "k", "pad", "stride", "expected", "source"), OUTPUT_SIZE_TABLE)
def test_conv_output_size_table(n, k, pad, stride, expected, source):
    assert conv_output_size(n, k, pad, stride) == expected, source


def test_conv_output_size_strict_rejects_uneven_fit():
    # CS231n's example: (7 - 3)/3 + 1 = 2.33, "cannot apply 3x3 filter on 7x7 input with stride 3".
    with pytest.raises(ValueError, match=r"1\.333 is not an integer"):
        conv_output_size(7, 3, 0, 3, strict=True)
    assert conv_output_size(7, 3, 0, 2, strict=True) == 3


@given(
    n=st.integers(1, 40), k=st.integers(1, 9), pad=st.integers(0, 4), stride=st.integers(1, 5)
)
def test_conv_output_size_counts_window_positions(n, k, pad, stride):
    padded = n + 2 * pad
    starts = [s for s in range(0, padded, stride) if s + k <= padded]
    if not starts:
        with pytest.raises(ValueError, match="does not fit"):
            conv_output_size(n, k, pad, stride)
    else:
        assert conv_output_size(n, k, pad, stride) == len(starts)


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ((5, 7, 0, 1), ValueError, r"kernel of size 7 does not fit.*5 \+ 2·0 = 5"),
        ((5, 3, 0, 0), ValueError, "stride must be >= 1"),
        ((5, 3, -1, 1), ValueError, "pad must be >= 0"),
        ((0, 3, 0, 1), ValueError, r"n \(input size\) must be >= 1"),
        ((5.0, 3, 0, 1), TypeError, "must be an integer"),
        ((5, 3, 0, 1.5), TypeError, "stride must be an integer"),
        ((5, True, 0, 1), TypeError, "must be an integer"),
    ],
)
def test_conv_output_size_rejects_bad_geometry(args, exc, match):
    with pytest.raises(exc, match=match):
        conv_output_size(*args)


def test_conv_output_size_takes_numpy_integers_and_returns_python_ints():
    """Integers of any kind (check_int's exact-int shortcut aside): NumPy's too, bool never."""
    got = conv_output_size(np.int64(28), np.int32(5), np.uint8(2), np.int16(1))
    assert got == 28 and type(got) is int
    with pytest.raises(TypeError, match="pad must be an integer"):
        conv_output_size(28, 5, np.bool_(True), 1)


def test_conv_transpose_output_size_inverts_conv_output_size():
    # (H - 1)·s - 2p + k, and a convolution with the same k, p, s maps it back to H.
    for n, k, p, s in [(3, 3, 0, 1), (3, 3, 1, 2), (4, 4, 1, 2), (5, 5, 2, 3)]:
        out = conv.conv_transpose_output_size(n, k, p, s)
        assert out == (n - 1) * s - 2 * p + k
        assert conv_output_size(out, k, p, s, strict=True) == n
    with pytest.raises(ValueError, match="pad is too large"):
        conv.conv_transpose_output_size(1, 1, 1, 1)


# --------------------------------------------------------------------------------------------
# Worked examples from the sources
# --------------------------------------------------------------------------------------------

# Source 000, tables 1 and 2: a 12x12 image and the first 5x5 filter (bias 4).
TABLE1 = np.array([
    [3, 1, 6, 4, 4, 1, 3, 6, 3, 2, 3, 5],
    [4, 5, 6, 1, 5, 6, 5, 2, 2, 4, 6, 4],
    [5, 1, 4, 5, 1, 3, 4, 3, 1, 1, 5, 4],
    [1, 4, 4, 5, 2, 2, 2, 5, 4, 3, 1, 1],
    [4, 2, 1, 4, 4, 4, 2, 6, 3, 1, 3, 6],
    [2, 5, 5, 3, 5, 5, 4, 2, 1, 5, 1, 4],
    [4, 3, 2, 5, 1, 5, 2, 5, 3, 1, 1, 5],
    [6, 3, 2, 4, 2, 4, 1, 5, 3, 6, 6, 5],
    [2, 5, 1, 6, 4, 4, 3, 2, 1, 1, 5, 2],
    [6, 2, 4, 2, 1, 5, 4, 1, 6, 4, 6, 5],
    [3, 5, 2, 2, 5, 6, 2, 5, 3, 2, 4, 1],
    [6, 2, 1, 3, 2, 5, 5, 6, 5, 6, 6, 3],
], dtype=np.float64)
TABLE2 = np.array([
    [1, 4, 4, 5, 2],
    [5, 2, 3, 5, 2],
    [4, 5, 1, 5, 4],
    [3, 4, 1, 3, 5],
    [4, 5, 2, 1, 4],
], dtype=np.float64)


def test_source000_worked_example_row3_col7_is_231_not_227():
    """Source 000, eq. (10): output (row 3, column 7) with bias 4. The source prints 227.

    By hand, row by row of the 5x5 window (rows 3-7, columns 7-11 of table 1) times table 2:
    35 + 49 + 58 + 41 + 44 = 227 is the weighted sum *before* the bias; adding the bias 4
    gives 231. The source's own equation lists the "+ 4" and still writes 227 (erratum).
    """
    x = TABLE1[None, None]
    w = TABLE2[None, None]
    b = np.array([4.0])
    out, _ = conv_forward_naive(x, w, b)
    assert out.shape == (1, 1, 8, 8)  # e = (12 - 5)/1 + 1 = 8, as the source says
    row_sums = (TABLE1[2:7, 6:11] * TABLE2).sum(axis=1)
    np.testing.assert_array_equal(row_sums, [35, 49, 58, 41, 44])
    assert out[0, 0, 2, 6] == 231.0
    assert out[0, 0, 2, 6] - b[0] == 227.0
    fast, _ = conv_forward(x, w, b)
    assert fast[0, 0, 2, 6] == 231.0


def test_source004_blur_demo():
    # 3x3 blur kernel [1 2 1; 2 4 2; 1 2 1] / 16 on the slide's pixel neighbourhood: 179.375,
    # shown rounded as 179.
    patch = np.array([[139, 192, 190], [139, 191, 197], [149, 191, 190]], dtype=np.float64)
    kernel = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16
    out, _ = conv_forward_naive(patch[None, None], kernel[None, None], np.zeros(1))
    assert out.shape == (1, 1, 1, 1)
    assert out[0, 0, 0, 0] == 179.375
    assert round(out[0, 0, 0, 0]) == 179


def test_source004_convolution_as_a_sparse_matrix():
    """Source 004: a 3x3 kernel on a 4x4 image is z = M x with the 4x16 matrix on the slide.

    Column k of M is the convolution of the k-th basis image. Row 0 of the slide reads
    w11 w12 w13 0 w21 w22 w23 0 w31 w32 w33 0 0 0 0 0; each further row shifts it.
    """
    w = np.arange(1.0, 10.0).reshape(3, 3)  # w11..w33 = 1..9, all distinct
    basis = np.eye(16).reshape(16, 1, 4, 4)
    out, _ = conv_forward_naive(basis, w[None, None], np.zeros(1))
    M = out.reshape(16, 4).T  # (4 outputs, 16 inputs)
    row0 = np.array([1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0], dtype=float)
    expected = np.stack([row0, np.roll(row0, 1), np.roll(row0, 4), np.roll(row0, 5)])
    np.testing.assert_array_equal(M, expected)
    # The input gradient is M^T dout — the transposed convolution with the same kernel.
    dout = np.array([1.0, -2.0, 0.5, 3.0])
    _, cache = conv_forward_naive(np.zeros((1, 1, 4, 4)), w[None, None], np.zeros(1))
    dx, _, _ = conv_backward_naive(dout.reshape(1, 1, 2, 2), cache)
    np.testing.assert_allclose(dx.reshape(16), M.T @ dout, rtol=0, atol=1e-12)
    ct, _ = conv_transpose_forward(dout.reshape(1, 1, 2, 2), w[None, None], np.zeros(1))
    np.testing.assert_allclose(ct.reshape(16), M.T @ dout, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("layer", "input_shape", "out_shape", "params", "source"),
    [
        (Conv2D(3, 10, 5, pad=2), (3, 32, 32), (10, 32, 32), 760, "001: 76 params per filter x 10"),
        (Conv2D(3, 10, 5), (3, 32, 32), (10, 28, 28), 760, "004: 5*5*3*10 + 10"),
        (Conv2D(3, 6, 5), (3, 32, 32), (6, 28, 28), 456, "001: 6 filters -> 28x28x6"),
        (Conv2D(1, 20, 5), (1, 28, 28), (20, 24, 24), 520, "20 filters of 26 parameters"),
        (Conv2D(1, 40, 5), (1, 28, 28), (40, 24, 24), 1040, "003: 40 filters 5x5 (source: 520)"),
        (Conv2D(1, 16, 5), (1, 28, 28), (16, 24, 24), 416, "000: 16*(1*5^2 + 1)"),
        (Conv2D(16, 32, 5), (16, 12, 12), (32, 8, 8), 12832, "000: 32*(16*5^2 + 1)"),
        (Conv2D(3, 96, 11, stride=4), (3, 227, 227), (96, 55, 55), 34944, "004: AlexNet CONV1"),
    ],
)
def test_parameter_counts_and_shapes(layer, input_shape, out_shape, params, source):
    assert layer.output_shape(input_shape) == out_shape, source
    assert layer.num_params() == params, source


def test_parameter_count_details():
    # 004 counts AlexNet CONV1 and CONV2 without biases: 11*11*3*96 and 5*5*96*256.
    assert Conv2D(3, 96, 11, stride=4).params["w"].size == 34848
    assert Conv2D(96, 256, 5, pad=2).params["w"].size == 614400
    # 003: one 5x5 filter needs 26 parameters; a dense layer 784 -> 30 needs 23,550.
    assert Conv2D(1, 1, 5).num_params() == 26
    assert Affine(784, 30).num_params() == 23550
    # 004: a dense layer (32*32*3) -> (28*28*10) would have about 24 million weights (counted on
    # paper: allocating them would take 190 MB).
    dense = ModelSpec([LayerSpec("Flatten"), LayerSpec("Affine", (32 * 32 * 3, 28 * 28 * 10))])
    assert summary(dense, (3, 32, 32)).total_weights == 24_084_480
    # 000: whole seed network, conv 16 + conv 32 + FC 512->128 + FC 128->10.
    total = sum(layer.num_params() for layer in
                (Conv2D(1, 16, 5), Conv2D(16, 32, 5), Affine(512, 128), Affine(128, 10)))
    assert total == 80202
    # 004 (VGG): three 3x3 convolutions vs one 7x7, C -> C channels, weights only.
    C = 8
    assert 3 * Conv2D(C, C, 3).params["w"].size == 27 * C * C
    assert Conv2D(C, C, 7).params["w"].size == 49 * C * C


# ------------------------------------------------------------------------------------------------
# Receptive field of a stack (chapters 4 and 9)
# ------------------------------------------------------------------------------------------------

def test_receptive_field_worked_examples():
    # Three 3×3 stride-1 convs: each adds k − 1 = 2 pixels: 3, 5, 7 (the VGG argument).
    assert receptive_field([3, 3, 3]) == [3, 5, 7]
    # Stride 2 everywhere: jumps 1, 2, 4 → 3, 3 + 2·2 = 7, 7 + 2·4 = 15.
    assert receptive_field([3, 3, 3], [2, 2, 2]) == [3, 7, 15]
    # LeNet-like: 5×5 conv (s1), 2×2 pool (s2), 5×5 conv: 5, 5 + 1·1 = 6, 6 + 4·2 = 14.
    assert receptive_field([5, 2, 5], [1, 2, 1]) == [5, 6, 14]
    # A single 7×7 layer sees 7×7, like three 3×3 layers.
    assert receptive_field([7]) == [7]


def test_receptive_field_rejects_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        receptive_field([3, 3], [1])
    with pytest.raises(ValueError, match=r"kernel_sizes\[1\] must be >= 1"):
        receptive_field([3, 0])
    with pytest.raises(ValueError, match=r"strides\[0\] must be >= 1"):
        receptive_field([3], [0])
    with pytest.raises(TypeError, match=r"kernel_sizes\[0\] must be an integer"):
        receptive_field([2.5])


def test_stacked_3x3_receptive_field():
    # 004: a 3x3 conv on top of a 3x3 conv sees a 5x5 patch; three see 7x7. Gradient of one
    # output pixel with respect to the input is non-zero exactly on its receptive field.
    w = np.ones((1, 1, 3, 3))
    for depth, field in [(1, 3), (2, 5), (3, 7)]:
        x = np.zeros((1, 1, 9, 9))
        caches = []
        for _ in range(depth):
            x, c = conv_forward(x, w, np.zeros(1))
            caches.append(c)
        g = np.zeros(x.shape)
        g[0, 0, 0, 0] = 1.0
        for c in reversed(caches):
            g, _, _ = conv_backward(g, c)
        rows, cols = np.nonzero(g[0, 0])
        assert (rows.max() + 1, cols.max() + 1) == (field, field)
        assert receptive_field([3] * depth)[-1] == field


# --------------------------------------------------------------------------------------------
# Gradient checks
# --------------------------------------------------------------------------------------------

def _conv_inputs(rng, N=2, C=3, H=5, W=5, F=4, HH=3, WW=3):
    return {
        "x": rng.standard_normal((N, C, H, W)),
        "w": rng.standard_normal((F, C, HH, WW)),
        "b": rng.standard_normal(F),
    }


def _assert_gradients_agree(forward, backward, inputs, stride, pad):
    """Analytic and numerical gradients of x, w and b agree to a relative error < 1e-7."""
    report = check_layer(forward, backward, inputs, kwargs={"stride": stride, "pad": pad})
    assert report.passed, str(report)
    for name in "xwb":
        assert report[name].rel_error < 1e-7, str(report)


@pytest.mark.parametrize(("N", "stride", "pad"), [(2, 1, 0), (1, 1, 1), (2, 2, 1), (2, 2, 2)])
def test_conv_naive_gradient_check(rng, N, stride, pad):
    # Small shapes: the numerical gradient runs the naive forward twice per input entry.
    inputs = _conv_inputs(rng, N=N, C=2, H=4, W=5, F=2, HH=3, WW=2)
    _assert_gradients_agree(conv_forward_naive, conv_backward_naive, inputs, stride, pad)


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (1, 1), (2, 1), (2, 2), (3, 0)])
def test_conv_fast_gradient_check(rng, stride, pad):
    _assert_gradients_agree(conv_forward, conv_backward, _conv_inputs(rng, H=6, W=7), stride, pad)


@given(
    N=st.integers(1, 2), C=st.integers(2, 3), F=st.integers(2, 3), H=st.integers(3, 6),
    W=st.integers(3, 6), HH=st.integers(1, 3), WW=st.integers(1, 3), stride=st.integers(1, 2),
    pad=st.integers(0, 2), seed=st.integers(0, 2**16),
)
def test_conv_fast_gradient_check_random_shapes(N, C, F, H, W, HH, WW, stride, pad, seed):
    rng = np.random.default_rng(seed)
    report = check_layer(conv_forward, conv_backward, _conv_inputs(rng, N, C, H, W, F, HH, WW),
                         kwargs={"stride": stride, "pad": pad}, seed=seed)
    assert report.passed, str(report)


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1), (3, 2)])
def test_conv_transpose_gradient_check(rng, stride, pad):
    inputs = {"x": rng.standard_normal((2, 3, 3, 4)), "w": rng.standard_normal((3, 2, 3, 3)),
              "b": rng.standard_normal(2)}
    _assert_gradients_agree(conv_transpose_forward, conv_transpose_backward, inputs, stride, pad)


# --------------------------------------------------------------------------------------------
# Naive vs fast, float32
# --------------------------------------------------------------------------------------------

@given(
    N=st.integers(1, 3), C=st.integers(1, 4), F=st.integers(1, 4), H=st.integers(1, 8),
    W=st.integers(1, 8), HH=st.integers(1, 4), WW=st.integers(1, 4), stride=st.integers(1, 3),
    pad=st.integers(0, 2), seed=st.integers(0, 2**16),
)
def test_fast_matches_naive(N, C, F, H, W, HH, WW, stride, pad, seed):
    if HH > H + 2 * pad or WW > W + 2 * pad:
        return
    rng = np.random.default_rng(seed)
    x, w, b = _conv_inputs(rng, N, C, H, W, F, HH, WW).values()
    out_n, cache_n = conv_forward_naive(x, w, b, stride=stride, pad=pad)
    out_f, cache_f = conv_forward(x, w, b, stride=stride, pad=pad)
    assert out_f.shape == out_n.shape
    assert rel_error(out_f, out_n) < 1e-10
    dout = rng.standard_normal(out_n.shape)
    for g_n, g_f in zip(conv_backward_naive(dout, cache_n), conv_backward(dout, cache_f)):
        assert g_f.shape == g_n.shape
        assert rel_error(g_f, g_n) < 1e-10


def test_fast_matches_naive_many_channels(rng):
    # C > 64 takes the other col2im branch (one GEMM, then per-offset adds of C values).
    x, w, b = _conv_inputs(rng, N=2, C=70, H=5, W=6, F=3, HH=3, WW=2).values()
    out_n, cn = conv_forward_naive(x, w, b, stride=2, pad=1)
    out_f, cf = conv_forward(x, w, b, stride=2, pad=1)
    assert rel_error(out_f, out_n) < 1e-10
    dout = rng.standard_normal(out_n.shape)
    for g_n, g_f in zip(conv_backward_naive(dout, cn), conv_backward(dout, cf)):
        assert rel_error(g_f, g_n) < 1e-10


def test_float32_in_float32_out(rng):
    x64, w64, b64 = _conv_inputs(rng, N=3, C=4, H=9, W=9, F=5, HH=3, WW=3).values()
    x, w, b = (a.astype(np.float32) for a in (x64, w64, b64))
    out, cache = conv_forward(x, w, b, stride=2, pad=1)
    assert out.dtype == np.float32
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = conv_backward(dout, cache)
    assert all(g.dtype == np.float32 for g in grads)
    # Against float64: float32 keeps ~7 digits; sums of 36 products lose about one more.
    ref, cache64 = conv_forward_naive(x64, w64, b64, stride=2, pad=1)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    for g, g64 in zip(grads, conv_backward_naive(dout.astype(np.float64), cache64)):
        np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-4)
    t_out, t_cache = conv_transpose_forward(x, w.transpose(1, 0, 2, 3).copy(), np.zeros(5, np.float32))
    assert t_out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_transpose_backward(t_out, t_cache))


def test_forward_and_backward_do_not_mutate(rng):
    x, w, b = _conv_inputs(rng).values()
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv_forward(x, w, b, stride=2, pad=1)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    conv_backward(dout, cache)
    conv_backward(dout, cache)  # the cache survives a first backward
    for a, c in zip((x, w, b, dout), (*copies, dout_copy)):
        np.testing.assert_array_equal(a, c)


# --------------------------------------------------------------------------------------------
# The structure of the backward pass
# --------------------------------------------------------------------------------------------

def test_full_convolution_with_rotated_kernel_small_example():
    # 1 channel, 2x2 kernel [[1, 2], [3, 4]], 2x2 upstream gradient [[1, 0], [0, 0]]:
    # only output (0, 0) has gradient, and it read x[0:2, 0:2] with those weights, so dx is the
    # kernel itself in the top-left corner of a 3x3 zero image.
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dout = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
    dx = conv_backward_input_as_full_conv(dout, w)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])


@given(
    N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(3, 7),
    HH=st.integers(1, 3), pad=st.integers(0, 1), seed=st.integers(0, 2**16),
)
def test_input_gradient_is_full_convolution_with_rotated_kernel(N, C, F, H, HH, pad, seed):
    """Source 002, eqs. (41)-(42): for stride 1, dx = Σ_f rot180(w) * padded dout."""
    rng = np.random.default_rng(seed)
    x, w, b = _conv_inputs(rng, N, C, H, H + 1, F, HH, HH).values()
    out, cache = conv_forward(x, w, b, pad=pad)
    dout = rng.standard_normal(out.shape)
    dx, _, _ = conv_backward(dout, cache)
    assert rel_error(conv_backward_input_as_full_conv(dout, w, pad=pad), dx) < 1e-10


@given(
    N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), Ho=st.integers(1, 4),
    Wo=st.integers(1, 4), HH=st.integers(1, 4), WW=st.integers(1, 4), stride=st.integers(1, 3),
    pad=st.integers(0, 2), seed=st.integers(0, 2**16),
)
def test_conv_transpose_is_the_adjoint_of_conv(N, C, F, Ho, Wo, HH, WW, stride, pad, seed):
    """⟨conv(x; w), y⟩ = ⟨x, conv_transpose(y; w)⟩ with zero bias, same w, stride and pad."""
    H = (Ho - 1) * stride - 2 * pad + HH
    W = (Wo - 1) * stride - 2 * pad + WW
    if H < 1 or W < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, HH, WW))
    y = rng.standard_normal((N, F, Ho, Wo))
    cx, _ = conv_forward(x, w, np.zeros(F), stride=stride, pad=pad)
    ty, _ = conv_transpose_forward(y, w, np.zeros(C), stride=stride, pad=pad)
    assert cx.shape == y.shape and ty.shape == x.shape
    lhs, rhs = np.vdot(cx, y), np.vdot(x, ty)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    tn, _ = conv_transpose_forward_naive(y, w, np.zeros(C), stride=stride, pad=pad)
    assert rel_error(tn, ty) < 1e-10


def test_conv_transpose_small_example():
    # One input pixel per stamp: x = [[1, 2]] with kernel [[1, 1], [1, 1]], stride 2, stamps
    # two separate 2x2 blocks: [[1, 1, 2, 2], [1, 1, 2, 2]]; stride 1 overlaps the middle column.
    x = np.array([[[[1.0, 2.0]]]])
    w = np.ones((1, 1, 2, 2))
    out2, _ = conv_transpose_forward(x, w, np.zeros(1), stride=2)
    np.testing.assert_array_equal(out2[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2]])
    out1, _ = conv_transpose_forward(x, w, np.array([0.5]), stride=1)
    np.testing.assert_array_equal(out1[0, 0], [[1.5, 3.5, 2.5], [1.5, 3.5, 2.5]])


def test_im2col_small_example_and_matrix_product():
    # 1x1x3x3 image 0..8, 2x2 windows, stride 1: four rows, one per output pixel.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    cols = im2col(x, 2, 2)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    # col2im adds overlapping entries: the centre pixel belongs to all four windows.
    np.testing.assert_array_equal(col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@given(
    N=st.integers(1, 2), C=st.integers(1, 2), H=st.integers(2, 5), W=st.integers(2, 5),
    HH=st.integers(1, 3), WW=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_im2col_col2im_adjoint_and_conv_as_matmul(N, C, H, W, HH, WW, stride, pad, seed):
    if HH > H + 2 * pad or WW > W + 2 * pad:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    cols = im2col(x, HH, WW, stride, pad)
    y = rng.standard_normal(cols.shape)
    assert abs(np.vdot(cols, y) - np.vdot(x, col2im(y, x.shape, HH, WW, stride, pad))) < 1e-10 * max(
        1.0, abs(np.vdot(cols, y))
    )
    F = 2
    w = rng.standard_normal((F, C, HH, WW))
    b = rng.standard_normal(F)
    ref, _ = conv_forward_naive(x, w, b, stride=stride, pad=pad)
    Ho, Wo = ref.shape[2:]
    via = (cols @ w.reshape(F, -1).T + b).reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
    assert rel_error(via, ref) < 1e-10


# --------------------------------------------------------------------------------------------
# Layer classes
# --------------------------------------------------------------------------------------------

def test_conv2d_layer_forward_backward(rng):
    layer = Conv2D(3, 4, (3, 2), stride=2, pad=1, rng=0)
    assert layer.params["w"].shape == (4, 3, 3, 2) and layer.params["b"].shape == (4,)
    # He init: std sqrt(2 / fan_in), fan_in = 3·3·2 = 18 (checked loosely on 72 weights).
    assert 0.5 * np.sqrt(2 / 18) < layer.params["w"].std() < 1.5 * np.sqrt(2 / 18)
    x = rng.standard_normal((2, 3, 5, 6))
    out = layer.forward(x)
    ref, cache = conv_forward_naive(x, layer.params["w"], layer.params["b"], stride=2, pad=1)
    assert out.shape == (2, *layer.output_shape((3, 5, 6))) == (2, 4, 3, 4)
    assert rel_error(out, ref) < 1e-10
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_n, dw_n, db_n = conv_backward_naive(dout, cache)
    assert rel_error(dx, dx_n) < 1e-10
    assert rel_error(layer.grads["w"], dw_n) < 1e-10 and rel_error(layer.grads["b"], db_n) < 1e-10
    assert layer.macs((3, 5, 6)) == 4 * 3 * 4 * 3 * 3 * 2
    assert Conv2D(1, 16, 5).macs((1, 28, 28)) == 16 * 24 * 24 * 25


def test_conv2d_need_dx_false_and_float32(rng):
    layer = Conv2D(1, 2, 3, rng=1, need_dx=False)  # float64 parameters
    x = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)) is None
    assert layer.grads["w"].dtype == np.float64 and layer.grads["w"].shape == (2, 1, 3, 3)
    # dL/db for dout = ones is the number of output positions per filter: 2 · 3 · 3.
    np.testing.assert_array_equal(layer.grads["b"], [18.0, 18.0])


def test_conv_transpose2d_layer(rng):
    layer = ConvTranspose2D(3, 2, 4, stride=2, pad=1, rng=0)
    assert layer.params["w"].shape == (3, 2, 4, 4)
    assert layer.output_shape((3, 5, 5)) == (2, 10, 10)  # (5−1)·2 − 2 + 4 = 10: doubles the size
    x = rng.standard_normal((2, 3, 5, 5))
    out = layer.forward(x)
    ref, _ = conv_transpose_forward_naive(x, layer.params["w"], layer.params["b"], stride=2, pad=1)
    assert rel_error(out, ref) < 1e-10
    dx = layer.backward(rng.standard_normal(out.shape))
    assert dx.shape == x.shape and set(layer.grads) == {"w", "b"}
    assert layer.macs((3, 5, 5)) == 3 * 5 * 5 * 2 * 16


def test_layer_constructor_errors():
    with pytest.raises(ValueError, match="init must be 'he' or 'xavier'"):
        Conv2D(1, 2, 3, init="uniform")
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        Conv2D(1, 2, 0)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2D(1, 2, (3, 3, 3))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        Conv2D(3, 2, 3).output_shape((1, 8, 8))
    with pytest.raises(ValueError, match="does not fit"):
        Conv2D(1, 2, 5).output_shape((1, 3, 3))
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2D(1, 2, 3).backward(np.zeros((1, 2, 1, 1)))


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------

X = np.zeros((2, 3, 5, 5))
Wt = np.zeros((4, 3, 3, 3))
B = np.zeros(4)


@pytest.mark.parametrize("forward", [conv_forward, conv_forward_naive])
@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((X, np.zeros((4, 2, 3, 3)), B), {}, ValueError,
         r"channel mismatch: x of shape \(2, 3, 5, 5\).*C=3.*w of shape \(4, 2, 3, 3\).*C=2"),
        ((X, np.zeros((4, 3, 7, 3)), B), {"pad": 0}, ValueError,
         r"x of shape \(2, 3, 5, 5\) and w of shape \(4, 3, 7, 3\): kernel of size 7 does not fit"),
        ((X, Wt, B), {"stride": 0}, ValueError, "stride must be >= 1"),
        ((X, Wt, B), {"pad": -1}, ValueError, "pad must be >= 0"),
        ((X, Wt, B), {"stride": 1.0}, TypeError, "stride must be an integer"),
        ((X[0], Wt, B), {}, ValueError, r"x must be 4-D, got 3-D array of shape \(3, 5, 5\)"),
        ((X, Wt[0], B), {}, ValueError, "w must be 4-D"),
        ((X, Wt, np.zeros(3)), {}, ValueError, r"b must have shape \(F,\) = \(4,\).*got \(3,\)"),
        ((X, Wt, np.zeros((4, 1))), {}, ValueError, "b must be 1-D"),
        ((X.astype(int), Wt, B), {}, TypeError, "x must have a floating dtype"),
        ((X.tolist(), Wt, B), {}, TypeError, "x must be a NumPy array"),
        ((np.full((2, 3, 5, 5), np.nan), Wt, B), {}, ValueError, "x contains 150 non-finite"),
        ((X, np.full((4, 3, 3, 3), np.inf), B), {}, ValueError, "w contains 108 non-finite"),
    ],
)
def test_conv_forward_rejects_bad_inputs(forward, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        forward(*args, **kwargs)


@pytest.mark.parametrize(("forward", "backward"), [(conv_forward, conv_backward),
                                                   (conv_forward_naive, conv_backward_naive)])
def test_conv_backward_rejects_bad_dout(forward, backward):
    out, cache = forward(X, Wt, B)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 4, 3, 3\), got \(2, 4, 3, 2\)"):
        backward(np.zeros((2, 4, 3, 2)), cache)
    with pytest.raises(ValueError, match="dout contains"):
        backward(np.full(out.shape, np.nan), cache)


def test_conv_transpose_rejects_bad_inputs():
    x = np.zeros((1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"channel mismatch.*C_in=3.*expects C_in=2"):
        conv_transpose_forward(x, np.zeros((2, 4, 3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"b must have shape \(F_out,\) = \(4,\)"):
        conv_transpose_forward(x, np.zeros((3, 4, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="pad is too large"):
        conv_transpose_forward(np.zeros((1, 3, 1, 1)), np.zeros((3, 4, 1, 1)), np.zeros(4), pad=1)
    with pytest.raises(ValueError, match="channels but w"):
        conv_backward_input_as_full_conv(np.zeros((1, 2, 3, 3)), np.zeros((3, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"cols must have shape"):
        col2im(np.zeros((3, 4)), (1, 1, 3, 3), 2, 2)


# --------------------------------------------------------------------------------------------
# Dilated convolution
# --------------------------------------------------------------------------------------------

def _dilated_by_definition(x, w, b, d, stride, pad):
    """out[n,f,i,j] = b[f] + sum_{c,p,q} w[f,c,p,q] x_pad[n,c,i*s+d*p,j*s+d*q], written as loops."""
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho = (H + 2 * pad - d * (HH - 1) - 1) // stride + 1
    Wo = (W + 2 * pad - d * (WW - 1) - 1) // stride + 1
    out = np.empty((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            taps = xp[:, :, i * stride:i * stride + d * (HH - 1) + 1:d, j * stride:j * stride + d * (WW - 1) + 1:d]
            out[:, :, i, j] = np.einsum("ncpq,fcpq->nf", taps, w) + b
    return out


def test_dilate_kernel_small_example():
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = np.array([[1.0, 0, 2.0], [0, 0, 0], [3.0, 0, 4.0]])
    np.testing.assert_array_equal(conv.dilate_kernel(w, 2)[0, 0], expected)
    assert conv.dilate_kernel(np.ones((2, 3, 3, 1)), 3).shape == (2, 3, 7, 1)
    np.testing.assert_array_equal(conv.dilate_kernel(w, 1), w)


@given(
    N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(3, 9),
    W=st.integers(3, 9), HH=st.integers(1, 3), WW=st.integers(1, 3), d=st.integers(1, 3),
    stride=st.integers(1, 2), pad=st.integers(0, 2), seed=st.integers(0, 2**16),
)
def test_dilated_forward_matches_the_definition(N, C, F, H, W, HH, WW, d, stride, pad, seed):
    if d * (HH - 1) + 1 > H + 2 * pad or d * (WW - 1) + 1 > W + 2 * pad:
        return
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, HH, WW)), rng.standard_normal(F)
    out, _ = conv.conv_forward_dilated(x, w, b, dilation=d, stride=stride, pad=pad)
    np.testing.assert_allclose(out, _dilated_by_definition(x, w, b, d, stride, pad), rtol=1e-10, atol=1e-12)
    if d == 1:
        np.testing.assert_allclose(out, conv_forward(x, w, b, stride=stride, pad=pad)[0], rtol=1e-12)


@pytest.mark.parametrize(("dilation", "stride", "pad"), [(1, 1, 0), (2, 1, 0), (2, 2, 1), (3, 1, 2)])
def test_dilated_gradient_check(rng, dilation, stride, pad):
    inputs = _conv_inputs(rng, N=2, C=2, H=8, W=7, F=3, HH=3, WW=2)
    report = check_layer(conv.conv_forward_dilated, conv.conv_backward_dilated, inputs,
                         kwargs={"dilation": dilation, "stride": stride, "pad": pad})
    assert report.passed, str(report)
    for name in "xwb":
        assert report[name].rel_error < 1e-7, str(report)


def test_dilated_rejects_bad_inputs(rng):
    x, w, b = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((1, 1, 3, 3)), np.zeros(1)
    with pytest.raises(ValueError, match="dilation"):
        conv.conv_forward_dilated(x, w, b, dilation=0)
    with pytest.raises(TypeError, match="dilation"):
        conv.dilate_kernel(w, 1.5)
    with pytest.raises(ValueError, match=r"dilation 3 spreads the kernel of shape \(1, 1, 3, 3\) to \(1, 1, 7, 7\)"):
        conv.conv_forward_dilated(x, w, b, dilation=3)
    with pytest.raises(ValueError, match=r"w must be 4-D, got 2-D"):
        conv.dilate_kernel(np.ones((3, 3)), 2)
    with pytest.raises(TypeError, match="conv_forward_dilated"):
        conv.conv_backward_dilated(np.zeros((1, 1, 3, 3)), ("not", "a cache", "at all"))
