"""course_lib.fast: the tuned paths give the teaching functions' numbers.

Forward passes and gradients are compared with the teaching versions (conv.conv_forward /
conv_backward, pooling.max_pool_forward / max_pool_backward, gradient_descent.adam): float64 to
~1e-10 relative, float32 to float32 rounding. Ties in max pooling resolve the same way. A
200-step training run of the seed CNN through the layer classes (tuned) and through the teaching
functions gives the same losses to 1e-3 relative at every step.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import fast
from course_lib.architectures import Flatten, Sequential, seed_cnn
from course_lib.backprop import Affine
from course_lib.conv import Conv2D, conv_backward, conv_forward
from course_lib.fast import activations as fast_activations
from course_lib.fast import conv as fast_conv
from course_lib.fast import parallel as fast_parallel
from course_lib.fast import pooling as fast_pooling
from course_lib.fast._buffers import recycled, recycled_like
from course_lib.fast.optim import adam_step_in_place
from course_lib.gradcheck import rel_error
from course_lib.gradient_descent import adam, make_optimizer
from course_lib.layers import Layer, StepCache
from course_lib.loss import softmax_cross_entropy
from course_lib.neuron import ReLU, relu_backward, relu_forward
from course_lib.pooling import (
    MaxPool2D,
    max_pool_backward,
    max_pool_backward_naive,
    max_pool_forward,
    max_pool_forward_naive,
)

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def close(got: np.ndarray, want: np.ndarray, dtype: type) -> bool:
    """float64: elementwise relative error (rel_error) below 1e-10. float32: the largest
    difference below 1e-5 of the largest entry — a sum of K float32 products is exact only to
    about √K·ε relative to its terms, so entries that cancel to near 0 have no relative accuracy."""
    if dtype == np.float64:
        return rel_error(got, want) < TOL[dtype]
    return float(np.max(np.abs(got - want))) <= TOL[dtype] * float(np.max(np.abs(want)))


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    before = fast.get_num_threads()
    fast.set_num_threads(request.param)
    yield request.param
    fast.set_num_threads(before)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------

CONV_CASES = [  # (N, C, H, W, F, k, stride, pad)
    (9, 1, 28, 28, 4, 5, 1, 0),     # one channel: transposed columns, bias folded into the product
    (9, 3, 12, 10, 5, 5, 1, 2),     # offset-major input gradient, padding
    (8, 16, 12, 12, 8, 5, 1, 0),    # the seed CNN's second layer, smaller
    (4, 2, 9, 9, 3, 3, 2, 1),       # stride 2
    (3, 65, 5, 5, 2, 3, 1, 1),      # more channels than the offset-major limit: one product
    (10, 1, 7, 7, 2, 3, 2, 0),      # one channel with a stride
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "N{}C{}H{}W{}F{}k{}s{}p{}".format(*c))
def test_fast_conv_matches_teaching_conv(case, dtype, threads):
    N, C, H, W, F, k, stride, pad = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, k, k)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    layer = Conv2D(C, F, k, stride=stride, pad=pad, dtype=dtype, rng=0)
    layer.params["w"][...] = w
    layer.params["b"][...] = b
    ref, cache = conv_forward(x, w, b, stride=stride, pad=pad)
    for _ in range(2):  # the second pass reuses the layer's buffers
        out = layer.forward(x)
        assert out.dtype == dtype and out.shape == ref.shape
        assert close(out, ref, dtype)
        dout = rng.standard_normal(ref.shape).astype(dtype)
        dx_ref, dw_ref, db_ref = conv_backward(dout, cache)
        dx = layer.backward(dout)
        assert dx.dtype == dtype and layer.grads["w"].dtype == dtype
        for got, want in ((dx, dx_ref), (layer.grads["w"], dw_ref), (layer.grads["b"], db_ref)):
            assert close(got, want, dtype)


def test_fast_conv_need_dx_false_and_functions_directly(rng):
    x = rng.standard_normal((5, 2, 8, 8))
    w, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    out, cache = fast_conv.conv_forward(x, w, b, 1, 1, 8, 8)
    assert isinstance(cache, fast_conv.ConvCache)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = fast_conv.conv_backward(dout, cache, need_dx=False)
    ref_out, ref_cache = conv_forward(x, w, b, pad=1)
    _, dw_ref, db_ref = conv_backward(dout, ref_cache, need_dx=False)
    assert dx is None and rel_error(out, ref_out) < 1e-12
    assert rel_error(dw, dw_ref) < 1e-10 and rel_error(db, db_ref) < 1e-10
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(5, 3, 8, 8\)"):
        fast_conv.conv_backward(np.zeros((5, 3, 8, 7)), cache)


def test_conv2d_rejects_bad_inputs_with_the_teaching_messages():
    layer = Conv2D(2, 3, 3)
    for x, match in ((np.zeros((1, 3, 5, 5)), "channel mismatch"),
                     (np.zeros((1, 2, 2, 2)), "kernel of size 3 does not fit"),
                     (np.zeros((2, 5, 5)), "x must be 4-D")):
        with pytest.raises(ValueError, match=match):
            layer.forward(x)
        with pytest.raises(ValueError, match=match):
            conv_forward(x, layer.params["w"], layer.params["b"])


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------

@given(count=st.integers(2, 9), tournament=st.booleans(), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_first_max_is_the_sequential_maximum_and_its_first_index(count, tournament, seed, dtype):
    """first_max over views full of ties and ±0: ``best`` has the bits (sign of zero included)
    of np.maximum applied view after view, ``idx`` is the first view attaining it — for the
    2 × 2 tournament (four views with flags) and the sequential passes alike."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-2, 3, size=(count, 50)).astype(dtype)
    values[rng.random(values.shape) < 0.3] = -0.0
    want_best = values[0].copy()
    for v in values[1:]:
        np.maximum(want_best, v, out=want_best)
    want_idx = np.argmax(values == values.max(axis=0), axis=0)  # the first view equal to the max
    best, idx = np.empty(50, dtype), np.empty(50, np.uint8)
    flags = np.empty((3, 50), bool) if tournament else None
    fast_pooling.first_max(list(values.copy()), best, idx, flags)
    np.testing.assert_array_equal(best, want_best)
    np.testing.assert_array_equal(np.signbit(best), np.signbit(want_best))
    np.testing.assert_array_equal(idx, want_idx)


@given(
    N=st.integers(1, 9), C=st.integers(1, 4), k=st.sampled_from([2, 3]), tiles=st.integers(1, 3),
    seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
)
def test_fast_max_pool_matches_teaching_including_ties(N, C, k, tiles, seed, dtype):
    """Channels-last input with tiling windows: ties (0.0 against -0.0 included) resolve to the
    first maximum in row-major window order, as in the naive loops, for every channel."""
    rng = np.random.default_rng(seed)
    H = W = k * tiles
    nhwc = rng.integers(-1, 2, size=(N, H, W, C)).astype(dtype)
    nhwc[rng.random(nhwc.shape) < 0.2] = -0.0
    x = nhwc.transpose(0, 3, 1, 2)
    geom = (k, k, k, k, tiles, tiles)
    assert fast_pooling.applies(x, geom)
    out_f, cache_f = fast_pooling.max_pool_forward(x, geom)
    out_n, cache_n = max_pool_forward_naive(np.ascontiguousarray(x), pool_size=k)
    np.testing.assert_array_equal(out_f, out_n)
    dout = rng.standard_normal(out_n.shape).astype(dtype)
    dx_f = fast_pooling.max_pool_backward(dout, cache_f)
    np.testing.assert_array_equal(dx_f, max_pool_backward_naive(dout, cache_n))
    assert np.count_nonzero(dx_f) <= out_n.size  # each window sends its gradient to one entry


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_layer_takes_the_fast_path_only_where_it_applies(dtype, threads, rng):
    layer = MaxPool2D(2)
    channels_last = rng.standard_normal((8, 6, 6, 3)).astype(dtype).transpose(0, 3, 1, 2)
    c_order = np.ascontiguousarray(channels_last)
    odd = rng.standard_normal((8, 6, 7, 3)).astype(dtype).transpose(0, 3, 1, 2)  # 7 columns: no tiling
    for x, fast_path in ((channels_last, True), (c_order, False), (odd, False)):
        out = layer.forward(x)
        assert isinstance(layer._cache, fast_pooling.MaxPoolCache) == fast_path
        ref, cache = max_pool_forward(x, pool_size=2)
        np.testing.assert_array_equal(out, ref)
        dout = rng.standard_normal(ref.shape).astype(dtype)
        np.testing.assert_array_equal(layer.backward(dout), max_pool_backward(dout, cache))


def test_max_pool_layer_reused_buffers_do_not_clobber_earlier_results(rng):
    """MaxPool2D keeps internal buffers between steps: results handed out must stay intact."""
    layer = MaxPool2D(2)
    x1 = rng.standard_normal((2, 4, 6, 3)).transpose(0, 3, 1, 2)
    x2 = rng.standard_normal((2, 4, 6, 3)).transpose(0, 3, 1, 2)
    out1 = layer.forward(x1)
    keep1 = out1.copy()
    dx1 = layer.backward(np.ones_like(out1))
    keep_dx1 = dx1.copy()
    out2 = layer.forward(x2)
    layer.backward(np.ones_like(out2))
    np.testing.assert_array_equal(out1, keep1)
    np.testing.assert_array_equal(dx1, keep_dx1)
    np.testing.assert_array_equal(out2, max_pool_forward_naive(np.ascontiguousarray(x2), pool_size=2)[0])


# --------------------------------------------------------------------------------------------
# ReLU and recycled outputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C order", "channels-last view", "strided slice"])
def test_fast_relu_matches_teaching_relu_and_keeps_the_memory_order(dtype, layout, rng):
    nhwc = rng.standard_normal((3, 5, 6, 4)).astype(dtype)
    nhwc[0, 0, 0, :2] = 0.0  # the kink: gradient 0 at x = 0, as in the teaching function
    x = {"C order": np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)),
         "channels-last view": nhwc.transpose(0, 3, 1, 2),
         "strided slice": nhwc.transpose(0, 3, 1, 2)[:, ::2]}[layout]
    layer = ReLU()
    for _ in range(2):  # the second pass reuses the layer's memory
        out = layer.forward(x)
        ref, cache = relu_forward(x)
        np.testing.assert_array_equal(out, ref)
        assert out.dtype == dtype and out.strides == ref.strides  # np.maximum keeps the order
        dout = rng.standard_normal(x.shape).astype(dtype).transpose(0, 1, 2, 3)
        np.testing.assert_array_equal(layer.backward(dout), relu_backward(dout, cache))
        del out
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        fast_activations.relu_forward(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2,\)"):
        fast_activations.relu_backward(np.ones(3), np.ones(2))


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_recycled_reuses_an_array_only_when_nobody_holds_it():
    ws: dict[str, np.ndarray] = {}
    a = recycled(ws, "out", (4, 5), np.float32)
    b = recycled(ws, "out", (4, 5), np.float32)
    assert not np.shares_memory(a, b)  # a is still held
    view, b_at = b[1:, ::2], _address(b)
    del a, b
    c = recycled(ws, "out", (4, 5), np.float32)
    assert _address(c) != b_at  # a view keeps b alive
    c_at = _address(c)
    del c, view
    assert _address(recycled(ws, "out", (4, 5), np.float32)) == c_at  # dropped: reused
    assert recycled(ws, "out", (4, 6), np.float32).shape == (4, 6)  # another shape: a new array
    assert recycled(ws, "out", (4, 6), np.float64).dtype == np.float64
    assert recycled(None, "out", (2,), np.float32).shape == (2,)
    d = recycled_like(ws, "like", np.empty((2, 3, 4, 5)).transpose(0, 3, 1, 2))
    assert d.shape == (2, 5, 3, 4) and d.transpose(0, 2, 3, 1).flags.c_contiguous


def test_layers_never_overwrite_outputs_the_caller_still_holds(rng):
    """Conv2D, ReLU and MaxPool2D hand out recycled memory: a result kept from one step stays
    intact through the next, and a dropped one is reused (no fresh pages at every step)."""
    model = Sequential(Conv2D(1, 4, 3, rng=0), ReLU(), MaxPool2D(2), Conv2D(4, 3, 3, rng=1), ReLU())
    x1, x2 = rng.standard_normal((2, 5, 1, 10, 10))
    outs, grads = [], []
    h = x1
    for layer in model.layers:
        h = layer.forward(h)
        outs.append(h)
    g = rng.standard_normal(h.shape)
    for layer in reversed(model.layers):
        g = layer.backward(g)
        grads.append(g)
    kept = [a.copy() for a in outs + grads]
    model.backward(rng.standard_normal(model.forward(x2).shape))
    for held, copy in zip(outs + grads, kept):
        np.testing.assert_array_equal(held, copy)
    del outs, grads, h, g, held

    # The layers one by one (as above), then through Sequential (which runs ReLU -> MaxPool2D
    # as max pool -> ReLU, so its ReLU's buffers have the pooled shape).
    def by_hand(x: np.ndarray) -> list[np.ndarray]:
        h = x
        results = []
        for layer in model.layers:
            results.append(h := layer.forward(h))
        g = np.ones_like(h)
        for layer in reversed(model.layers):
            results.append(g := layer.backward(g))
        return results

    def sequential(x: np.ndarray) -> list[np.ndarray]:
        out = model.forward(x)
        return [out, model.backward(np.ones_like(out))]

    for step in (by_hand, sequential):
        step(x1)  # nothing kept from this step
        # The next step's results live in memory the layers' workspaces already held (alive all
        # along, so no allocator could have handed it out afresh).
        held_before = {_address(a) for layer in model.layers for a in layer._workspace.values()}
        for a in step(x2):
            assert _address(a) in held_before, step.__name__
    np.testing.assert_array_equal(model.forward(x1), kept[len(model.layers) - 1])


# --------------------------------------------------------------------------------------------
# Adam and the thread setting
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_in_place_adam_is_bit_identical_to_adam(dtype, rng):
    params = {"w": rng.standard_normal((4, 3)).astype(dtype), "b": rng.standard_normal(3).astype(dtype)}
    ref = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer("adam", learning_rate=3e-3)
    configs: dict[str, dict] = {}
    for step in range(6):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        opt.step(params, grads)
        for k in ref:
            ref[k], configs[k] = adam(ref[k], grads[k], configs.get(k, {"learning_rate": 3e-3}))
            np.testing.assert_array_equal(params[k], ref[k])  # bit for bit
            np.testing.assert_array_equal(opt.configs[k]["m"], configs[k]["m"])
            assert opt.configs[k]["t"] == configs[k]["t"] == step + 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_in_place_adam_flat_and_per_parameter_paths_are_bit_identical_to_adam(dtype, rng):
    """Same hyperparameters and step count everywhere: one flat update (m and v become views
    of one array); a parameter with another learning rate: one update per parameter. Either
    way, and across the switch (the learning rate set through the optimizer), adam()'s bits."""
    shapes = {"0.w": (3, 2, 2), "0.b": (3,), "1.w": (4, 3)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    ref = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer("adam", learning_rate=3e-3)
    configs: dict[str, dict] = {}
    for step in range(8):
        if step == 3:
            opt.configs["1.w"]["learning_rate"] = 1e-2  # per-parameter path from here
            configs["1.w"]["learning_rate"] = 1e-2
        if step == 6:
            opt.learning_rate = 5e-3  # the same for all again: flat
            for cfg in configs.values():
                cfg["learning_rate"] = 5e-3
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        opt.step(params, grads)
        for k in ref:
            ref[k], configs[k] = adam(ref[k], grads[k], configs.get(k, {"learning_rate": 3e-3}))
            np.testing.assert_array_equal(params[k], ref[k])
            np.testing.assert_array_equal(opt.configs[k]["v"], configs[k]["v"])
        flat = opt._scratch.get("flat adam state")  # built at the first in-place step, kept
        assert (flat is not None and all(np.shares_memory(opt.configs[k]["m"], flat.m) for k in shapes)) == (step > 0)


def test_in_place_adam_declines_without_state_and_validates_before_writing(rng):
    w = rng.standard_normal(3)
    assert adam_step_in_place({"w": w}, {"w": np.ones(3)}, {}, {}) is False  # first step: the rule's
    _, cfg = adam(w, np.ones(3))
    before = w.copy()
    with pytest.raises(ValueError, match="dw contains 1 non-finite"):
        adam_step_in_place({"w": w}, {"w": np.array([1.0, np.nan, 1.0])}, {"w": cfg}, {})
    np.testing.assert_array_equal(w, before)
    assert adam_step_in_place({"w": w}, {"w": np.ones(3, np.float32)}, {"w": cfg}, {}) is False  # dtypes differ


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="the number of threads must be an integer >= 1"):
        fast.set_num_threads(bad)


# --------------------------------------------------------------------------------------------
# Data parallelism in Sequential
# --------------------------------------------------------------------------------------------

def _step(model: Sequential, x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, dict]:
    out = model.forward(x)
    dx = model.backward(dout)
    return out, dx, {k: v.copy() for k, v in model.gradients().items()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [2, 3])
def test_split_batch_gives_the_whole_batch_numbers(dtype, n_threads, rng):
    """Each share of the batch on its own thread: outputs, dL/dx and the summed parameter
    gradients equal those of the whole batch in one thread (to float rounding), two steps
    running (the second reuses replicas and buffers), and BLAS's thread count is restored."""
    from threadpoolctl import threadpool_info

    model = Sequential(Conv2D(2, 4, 3, pad=1, rng=0, dtype=dtype), ReLU(), MaxPool2D(2),
                       Flatten(), Affine(4 * 4 * 4, 5, rng=1, dtype=dtype))
    x = rng.standard_normal((2, 37, 2, 8, 8)).astype(dtype)  # 37: shares of unequal size
    dout = rng.standard_normal((2, 37, 5)).astype(dtype)
    before = fast.get_num_threads()
    blas_before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    try:
        fast.set_num_threads(1)
        want = [_step(model, x[i], dout[i]) for i in range(2)]
        assert model._cache is None and getattr(model, "_split", None) is None
        fast.set_num_threads(n_threads)
        for i in range(2):
            out, dx, grads = _step(model, x[i], dout[i])
            assert isinstance(model._split, fast_parallel.BatchSplit) and len(model._split.chains) == n_threads
            assert close(out, want[i][0], dtype) and close(dx, want[i][1], dtype)
            assert grads.keys() == want[i][2].keys()
            for k in grads:
                assert grads[k].dtype == dtype and close(grads[k], want[i][2][k], dtype), k
    finally:
        fast.set_num_threads(before)
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == blas_before


def test_split_only_what_can_be_split(rng):
    """No split with one thread, for fewer than MIN_SHARE examples per thread, or when a layer
    is not per-example (BatchNorm's statistics, Dropout's masks, a layer of the user's own)."""
    from course_lib.batchnorm import BatchNorm
    from course_lib.dropout import Dropout

    class Doubler(Layer):  # a layer of the user's own: not known to be per-example
        def _forward(self, x):
            return 2 * x, ()

        def _backward(self, dout, cache):
            return 2 * dout, {}

    x = rng.standard_normal((64, 6))
    cases = [
        (Sequential(Affine(6, 3, rng=0), ReLU()), 64, 2, True),
        (Sequential(Affine(6, 3, rng=0), ReLU()), 64, 1, False),
        (Sequential(Affine(6, 3, rng=0), ReLU()), 2 * fast_parallel.MIN_SHARE - 1, 2, False),
        (Sequential(Affine(6, 3, rng=0), BatchNorm(3)), 64, 2, False),
        (Sequential(Affine(6, 3, rng=0), Dropout(0.5, rng=0)), 64, 2, False),
        (Sequential(Affine(6, 3, rng=0), Doubler()), 64, 2, False),
    ]
    before = fast.get_num_threads()
    try:
        for model, n, t, split in cases:
            fast.set_num_threads(t)
            model.forward(x[:n])
            assert isinstance(model._cache, fast_parallel.BatchSplit) == split, (model, n, t)
            assert model.backward(np.ones((n, 3))).shape == (n, 6)
    finally:
        fast.set_num_threads(before)


def test_split_batch_errors_name_the_whole_batch(threads, rng):
    model = Sequential(Conv2D(2, 3, 3, rng=0), ReLU(), Flatten(), Affine(3 * 6 * 6, 4, rng=1))
    with pytest.raises(ValueError, match=r"channel mismatch: x of shape \(32, 3, 8, 8\)"):
        model.forward(np.zeros((32, 3, 8, 8)))
    model.forward(rng.standard_normal((32, 2, 8, 8)))
    with pytest.raises(ValueError, match=r"dout must have .*\(32, 4\), got \(32, 5\)"):
        model.backward(np.zeros((32, 5)))


def test_split_replicas_follow_the_layers_parameters_and_mode(rng):
    """A replica shares its layer's parameters: in-place updates, set_parameters and a rebound
    params dict all reach the next split forward pass."""
    model = Sequential(Affine(5, 3, rng=0), ReLU(), Affine(3, 2, rng=1))
    x = rng.standard_normal((40, 5))
    before = fast.get_num_threads()
    try:
        fast.set_num_threads(2)
        model.forward(x)
        model.layers[0].params["w"] += 1.0
        model.set_parameters({"2.b": np.full(2, 3.0)})
        model.layers[2].params = {k: v * 2 for k, v in model.layers[2].params.items()}
        got = model.forward(x)
        fast.set_num_threads(1)
        np.testing.assert_allclose(got, model.forward(x), rtol=1e-12)
    finally:
        fast.set_num_threads(before)


# --------------------------------------------------------------------------------------------
# ReLU -> MaxPool2D inside Sequential, run as max pool -> ReLU
# --------------------------------------------------------------------------------------------

def _relu_pool_by_hand(x: np.ndarray, dout: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """pool(relu(x)) and its input gradient by the teaching functions, in the network's order."""
    r, cache_r = relu_forward(x)
    out, cache_p = max_pool_forward(r, pool_size=k)
    return out, relu_backward(max_pool_backward(dout, cache_p), cache_r)


@given(
    N=st.integers(1, 20), C=st.integers(1, 3), k=st.sampled_from([2, 3]), H=st.integers(3, 8),
    W=st.integers(3, 8), layout=st.sampled_from(["channels-last view", "C order"]),
    seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
)
def test_sequential_relu_then_max_pool_equals_the_teaching_order_including_ties(N, C, k, H, W, layout, seed, dtype):
    """Sequential runs ReLU -> MaxPool2D as max pool -> ReLU (on the 4× smaller output): the
    same output and input gradient, bit for bit, as ReLU then pooling by the teaching functions —
    on integer inputs full of ties (0.0 and -0.0 included), windows whose values are all <= 0,
    channels-last views that take the tuned pooling and C-order inputs, odd sizes and windows
    that do not tile (the teaching pooling), one thread and two."""
    rng = np.random.default_rng(seed)
    nhwc = rng.integers(-2, 3, size=(N, H, W, C)).astype(dtype)
    nhwc[rng.random(nhwc.shape) < 0.2] = -0.0
    x = nhwc.transpose(0, 3, 1, 2)
    if layout == "C order":
        x = np.ascontiguousarray(x)
    model = Sequential(ReLU(), MaxPool2D(k))
    before = fast.get_num_threads()
    try:
        for t in (1, 2):
            fast.set_num_threads(t)
            out = model.forward(x)
            want_out, want_dx = _relu_pool_by_hand(x, dout := rng.standard_normal(out.shape).astype(dtype), k)
            np.testing.assert_array_equal(out, want_out)
            np.testing.assert_array_equal(model.backward(dout), want_dx)
    finally:
        fast.set_num_threads(before)


def test_sequential_runs_relu_after_the_pool_and_falls_back_after_a_layer_forward(rng):
    """After Sequential.forward the ReLU has seen the pooled values and both layers hold the
    step's cache: their own backward refuses it; after the layers' own forward passes (or with a
    ReLU of another kind) backward runs them in the usual order again."""

    class MyReLU(ReLU):  # a subclass may do anything: never swapped
        pass

    x = rng.standard_normal((4, 3, 6, 6)).transpose(0, 1, 3, 2)
    dout = rng.standard_normal((4, 3, 3, 3))
    want_out, want_dx = _relu_pool_by_hand(x, dout, 2)
    for relu in (ReLU(), MyReLU()):
        model = Sequential(relu, MaxPool2D(2))
        np.testing.assert_array_equal(model.forward(x), want_out)
        assert isinstance(relu._cache, StepCache) == (type(relu) is ReLU)
        np.testing.assert_array_equal(model.backward(dout), want_dx)
        model.forward(x)
        h = x
        for layer in model:  # a step through the layers by hand
            h = layer.forward(h)
        np.testing.assert_array_equal(h, want_out)
        np.testing.assert_array_equal(model.backward(dout), want_dx)
        with pytest.raises(RuntimeError, match="before forward"):
            model.backward(dout)


# --------------------------------------------------------------------------------------------
# Conv2D -> ReLU -> MaxPool2D inside Sequential, as one fused step
# --------------------------------------------------------------------------------------------

def _conv_relu_pool_by_hand(x, w, b, stride, pad, k, dout, need_dx):
    """pool(relu(conv(x))) and its gradients (dx or None, dw, db) by the teaching functions."""
    y, cache_c = conv_forward(x, w, b, stride=stride, pad=pad)
    out, grads = _relu_pool_by_hand(y, dout, k)
    return out, conv_backward(grads, cache_c, need_dx=need_dx)


@given(
    N=st.integers(1, 20), C=st.sampled_from([1, 2, 3, 16]), F=st.integers(1, 5), kernel=st.integers(1, 4),
    stride=st.integers(1, 2), pad=st.integers(0, 2), k=st.sampled_from([2, 3]),
    rows=st.integers(1, 3), cols=st.integers(1, 3), extra=st.sampled_from([(0, 0), (1, 0), (0, 1)]),
    need_dx=st.booleans(), seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
)
def test_sequential_conv_relu_pool_equals_the_teaching_functions_including_ties(
        N, C, F, kernel, stride, pad, k, rows, cols, extra, need_dx, seed, dtype):
    """Sequential runs Conv2D -> ReLU -> MaxPool2D as one step where the pooling windows tile the
    convolution's output (``extra == (0, 0)``), else as the layers (with the pooling before the
    ReLU): either way the output, dL/dx, dL/dw and dL/db are those of the teaching functions run
    in the network's order — exactly, on integer inputs and weights full of ties (zero sums and
    -0.0 included), where every sum is exact; on one thread and two (the batch split across
    them), twice in a row (the second pass reuses the buffers)."""
    rng = np.random.default_rng(seed)
    Ho, Wo = rows * k + extra[0], cols * k + extra[1]  # the convolution's output size
    H, W = ((o - 1) * stride + kernel - 2 * pad for o in (Ho, Wo))
    if min(H, W) < 1:
        return  # so much padding that no input gives this output
    x = rng.integers(-2, 3, size=(N, C, H, W)).astype(dtype)
    x[rng.random(x.shape) < 0.2] = -0.0
    conv = Conv2D(C, F, kernel, stride=stride, pad=pad, dtype=dtype, rng=0, need_dx=need_dx)
    conv.params["w"][...] = rng.integers(-1, 2, size=conv.params["w"].shape)
    conv.params["b"][...] = rng.integers(-1, 2, size=F)
    model = Sequential(conv, ReLU(), MaxPool2D(k))
    assert conv.output_shape((C, H, W)) == (F, Ho, Wo)
    before = fast.get_num_threads()
    try:
        for t in (1, 2, 2):
            fast.set_num_threads(t)
            out = model.forward(x)
            assert isinstance(conv._cache, StepCache) == (extra == (0, 0))  # fused or not (in share 0 if split)
            dout = rng.integers(-3, 4, size=out.shape).astype(dtype)
            want_out, (want_dx, want_dw, want_db) = _conv_relu_pool_by_hand(
                x, conv.params["w"], conv.params["b"], stride, pad, k, dout, need_dx)
            np.testing.assert_array_equal(out, want_out)
            dx = model.backward(dout)
            assert (dx is None) == (not need_dx)
            if need_dx:
                np.testing.assert_array_equal(dx, want_dx)
            np.testing.assert_array_equal(conv.grads["w"], want_dw)
            np.testing.assert_array_equal(conv.grads["b"], want_db)
            assert conv.grads["w"].dtype == dtype and model.layers[1].grads == model.layers[2].grads == {}
    finally:
        fast.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [(1, 28, 5, 0, 2), (16, 12, 5, 0, 2), (3, 9, 3, 1, 3)],
                         ids=["one channel", "seed CNN layer 2", "3x3 windows, padding"])
def test_fused_conv_relu_pool_matches_teaching_on_random_values(case, dtype, threads, rng):
    """The fused step on random (not integer) values: the teaching functions' numbers to
    float rounding (float64 ~1e-10; float32 to its rounding), two passes in a row."""
    C, H, kernel, pad, k = case
    x = rng.standard_normal((13, C, H, H)).astype(dtype)
    conv = Conv2D(C, 6, kernel, pad=pad, dtype=dtype, rng=1)
    conv.params["b"][...] = rng.standard_normal(6)
    model = Sequential(conv, ReLU(), MaxPool2D(k))
    for _ in range(2):
        out = model.forward(x)
        assert isinstance(conv._cache, StepCache) or threads > 1
        dout = rng.standard_normal(out.shape).astype(dtype)
        want_out, (want_dx, want_dw, want_db) = _conv_relu_pool_by_hand(
            x, conv.params["w"], conv.params["b"], 1, pad, k, dout, True)
        assert out.dtype == dtype and close(out, want_out, dtype)
        dx = model.backward(dout)
        for got, want in ((dx, want_dx), (conv.grads["w"], want_dw), (conv.grads["b"], want_db)):
            assert got.dtype == dtype and close(got, want, dtype)


def test_fused_layers_refuse_their_own_backward_and_fall_back_after_their_own_forward(rng):
    """After the fused forward each of the three layers holds the step's cache: its own backward
    raises a clear error (and leaves the cache for Sequential.backward). After the layers' own
    forward passes, Sequential.backward runs them one by one; a plain layer list gets no fusion
    when the windows do not tile, or for subclasses."""
    x = rng.standard_normal((4, 2, 10, 10))
    model = Sequential(Conv2D(2, 3, 3, rng=0), ReLU(), MaxPool2D(2))
    out = model.forward(x)
    dout = rng.standard_normal(out.shape)
    want_out, (want_dx, want_dw, _) = _conv_relu_pool_by_hand(
        x, model[0].params["w"], model[0].params["b"], 1, 0, 2, dout, True)
    for layer in model:
        assert isinstance(layer._cache, StepCache)
        with pytest.raises(RuntimeError, match="inside a Sequential together with the layers next to it"):
            layer.backward(dout)
    np.testing.assert_allclose(model.backward(dout), want_dx, rtol=1e-10)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(dout)
    model.forward(x)
    h = x
    for layer in model:  # a step through the layers by hand replaces the step's caches
        h = layer.forward(h)
    np.testing.assert_allclose(h, want_out, rtol=1e-10)
    np.testing.assert_allclose(model.backward(dout), want_dx, rtol=1e-10)
    np.testing.assert_allclose(model[0].grads["w"], want_dw, rtol=1e-10)
    model.forward(x)
    model[0].forward(x)  # only the convolution by hand: the ReLU and the pool still hold the step
    with pytest.raises(RuntimeError, match="inside a Sequential"):
        model.backward(dout)

    class MyConv(Conv2D):
        pass

    for layers in ([MyConv(2, 3, 3, rng=0), ReLU(), MaxPool2D(2)],  # a subclass: never fused
                   [Conv2D(2, 3, 3, rng=0), ReLU(), MaxPool2D(3)],  # 8 is no multiple of 3
                   [Conv2D(2, 3, 3, rng=0), ReLU(), MaxPool2D(2, stride=1)]):  # overlapping windows
        model = Sequential(*layers)
        model.forward(x)
        assert not isinstance(layers[0]._cache, StepCache)


# --------------------------------------------------------------------------------------------
# 200 training steps: tuned path against teaching path
# --------------------------------------------------------------------------------------------

class _TeachingConv(Layer):
    """A Conv2D's parameters run through conv.conv_forward / conv_backward."""

    def __init__(self, layer: Conv2D) -> None:
        super().__init__()
        self.params = {k: v.copy() for k, v in layer.params.items()}
        self.stride, self.pad, self.need_dx = layer.stride, layer.pad, layer.need_dx

    def _forward(self, x):
        return conv_forward(x, self.params["w"], self.params["b"], stride=self.stride, pad=self.pad)

    def _backward(self, dout, cache):
        dx, dw, db = conv_backward(dout, cache, need_dx=self.need_dx)
        return dx, {"w": dw, "b": db}


class _TeachingMaxPool(Layer):
    def __init__(self, layer: MaxPool2D) -> None:
        super().__init__()
        self.pool_size, self.stride = layer.pool_size, layer.stride

    def _forward(self, x):
        return max_pool_forward(x, pool_size=self.pool_size, stride=self.stride)

    def _backward(self, dout, cache):
        return max_pool_backward(dout, cache), {}


class _TeachingReLU(Layer):
    def __init__(self, layer: ReLU) -> None:
        super().__init__()

    def _forward(self, x):
        return relu_forward(x)

    def _backward(self, dout, cache):
        return relu_backward(dout, cache), {}


def _teaching_copy(model: Sequential) -> Sequential:
    swap = {Conv2D: _TeachingConv, MaxPool2D: _TeachingMaxPool, ReLU: _TeachingReLU}
    layers = []
    for layer in model.layers:
        if type(layer) in swap:
            layers.append(swap[type(layer)](layer))
        else:  # Flatten, Affine: one implementation; copy the parameters
            clone = type(layer).__new__(type(layer))
            clone.__dict__.update(layer.__dict__)
            clone.params = {k: v.copy() for k, v in layer.params.items()}
            layers.append(clone)
    return Sequential(*layers)


def test_200_training_steps_tuned_and_teaching_give_the_same_losses():
    """The seed CNN, float32, batch 16 on 800 MNIST training images: the layer classes +
    Optimizer (tuned) against the functional teaching code + adam(), 200 Adam steps from the same
    weights on the same batches; the losses agree to 1e-3 relative at every step (measured:
    2e-6 at worst). (On random images that no network can fit, Adam's steps on near-zero
    gradients amplify rounding differences instead: there is nothing to learn that keeps the
    two runs together.)"""
    from course_lib.data import load_mnist, subset

    data = subset(load_mnist(progress=False), 800, 1)
    X, y = data.X_train, data.y_train
    rng = np.random.default_rng(0)
    tuned = seed_cnn(rng=0)
    teaching = _teaching_copy(tuned)
    opt = make_optimizer("adam", learning_rate=1e-3)
    params_t, params_r = tuned.parameters(), teaching.parameters()
    configs: dict[str, dict] = {}
    losses_t, losses_r = [], []
    for _ in range(200):
        idx = rng.choice(len(y), size=16, replace=False)
        xb, yb = X[idx], y[idx]
        for model, losses in ((tuned, losses_t), (teaching, losses_r)):
            loss, dscores = softmax_cross_entropy(model.forward(xb), yb)
            model.backward(dscores.astype(np.float32))
            losses.append(loss)
        opt.step(params_t, tuned.gradients())
        grads_r = teaching.gradients()
        for k, w in params_r.items():
            w[...], configs[k] = adam(w, grads_r[k], configs.get(k, {"learning_rate": 1e-3}))
    losses_t, losses_r = np.array(losses_t), np.array(losses_r)
    np.testing.assert_allclose(losses_t, losses_r, rtol=1e-3)
    assert losses_t[-20:].mean() < 0.25 * losses_t[:20].mean()  # and it did learn
