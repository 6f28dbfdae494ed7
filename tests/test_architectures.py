"""Tests for chapter 9: Sequential, Flatten, summary and the published architectures.

Every expected count below is derived in the test from the papers' layer tables (filters ×
input channels × kernel area + biases; inputs × outputs + biases), never copied from the
implementation's output.
"""

from __future__ import annotations

import math
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import architectures as arch
from course_lib.architectures import (
    FORMAT_VERSION,
    Flatten,
    LayerSpec,
    ModelSpec,
    Sequential,
    alexnet,
    lenet5,
    mlp,
    seed_cnn,
    stacked_vs_single,
    summary,
    vgg16,
)
from course_lib.gradcheck import check_layer


def conv_params(c_in: int, f: int, k: int, groups: int = 1) -> int:
    return f * (c_in // groups) * k * k + f


def fc_params(d: int, m: int) -> int:
    return d * m + m


# ------------------------------------------------------------------------------------------------
# Parameter counts against the papers
# ------------------------------------------------------------------------------------------------

def test_seed_cnn_count_matches_the_thesis_formula() -> None:
    # The thesis: 16·(1·5²+1) + 32·(16·5²+1) + 128·(512+1) + 10·(128+1) = 80202.
    expected = 16 * (1 * 25 + 1) + 32 * (16 * 25 + 1) + 128 * (512 + 1) + 10 * (128 + 1)
    assert expected == 80_202
    s = summary(seed_cnn(materialize=False), (1, 28, 28))
    assert s.total_params == expected
    assert s.total_weights == 16 * 25 + 32 * 16 * 25 + 512 * 128 + 128 * 10
    assert s.total_biases == 16 + 32 + 128 + 10
    # 28 -5+1-> 24 -/2-> 12 -5+1-> 8 -/2-> 4; 32·4·4 = 512
    shapes = [r.output_shape for r in s.rows]
    assert shapes == [(16, 24, 24), (16, 24, 24), (16, 12, 12), (32, 8, 8), (32, 8, 8), (32, 4, 4),
                      (512,), (128,), (128,), (10,)]
    # multiply-adds: one per weight per output position
    assert s.total_macs == 16 * 24 * 24 * 25 + 32 * 8 * 8 * 16 * 25 + 512 * 128 + 128 * 10


def test_mlp_count() -> None:
    s = summary(mlp(materialize=False), (1, 28, 28))
    assert s.total_params == fc_params(784, 45) + fc_params(45, 10) == 35_785
    assert s.output_shape == (10,)
    assert summary(mlp(hidden=30, materialize=False), (784,)).total_params == 784 * 30 + 30 + 30 * 10 + 10


def test_lenet5_count_full_connection_and_paper_table() -> None:
    s = summary(lenet5(materialize=False), (1, 32, 32))
    c1, c3, c5 = conv_params(1, 6, 5), conv_params(6, 16, 5), conv_params(16, 120, 5)
    f6, out = fc_params(120, 84), fc_params(84, 10)
    assert (c1, c3, c5, f6) == (156, 2416, 48_120, 10_164)  # LeCun et al. 1998, section II.B
    assert s.total_params == c1 + c3 + c5 + f6 + out == 61_706
    # The paper's C3 uses 60 of the 6×16 map pairs (table I): 60·25 + 16 = 1516 parameters;
    # with S2's and S4's per-map coefficient and bias (2·6, 2·16) the paper's total is 60,000.
    table_pairs = 6 * 3 + 9 * 4 + 1 * 6
    assert table_pairs == 60
    c3_paper = table_pairs * 25 + 16
    assert c3_paper == 1516
    assert c1 + 2 * 6 + c3_paper + 2 * 16 + c5 + f6 == 60_000
    assert [r.output_shape for r in s.rows if r.name.startswith(("Conv2D", "MaxPool2D"))] == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1)]
    # The modern variant (default) pools by max and uses ReLU; the paper-like one averages.
    older = summary(lenet5(activation="tanh", pool="avg", materialize=False), (1, 32, 32))
    assert older.total_params == s.total_params
    assert [r.output_shape for r in older.rows] == [r.output_shape for r in s.rows]
    assert sum("AvgPool2D" in r.name for r in older.rows) == 2 and sum("Tanh" in r.name for r in older.rows) == 4
    assert sum("MaxPool2D" in r.name for r in s.rows) == 2 and sum("ReLU" in r.name for r in s.rows) == 4
    with pytest.raises(ValueError, match="pool must be 'max' or 'avg', got 'min'"):
        lenet5(pool="min", materialize=False)


ALEXNET_TABLE = [  # (C_in, F, k, groups in the two-GPU paper), Krizhevsky et al. 2012, figure 2
    (3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2), (384, 256, 3, 2)]
ALEXNET_FC = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]


@pytest.mark.parametrize("grouped", [False, True])
def test_alexnet_counts(grouped: bool) -> None:
    expected = sum(conv_params(c, f, k, g if grouped else 1) for c, f, k, g in ALEXNET_TABLE)
    expected += sum(fc_params(d, m) for d, m in ALEXNET_FC)
    assert expected == (60_965_224 if grouped else 62_378_344)
    s = summary(alexnet(grouped=grouped, materialize=False), (3, 227, 227))
    assert s.total_params == expected
    convs = [r for r in s.rows if r.name.startswith("Conv2D")]
    # the paper's feature-map sizes: 55, 27, 13, 13, 13
    assert [r.output_shape for r in convs] == [(96, 55, 55), (256, 27, 27), (384, 13, 13),
                                               (384, 13, 13), (256, 13, 13)]
    # conv1 weights 11·11·3·96 = 34,848 (the slides' number) plus 96 biases
    assert (convs[0].weights, convs[0].biases) == (34_848, 96)
    assert convs[1].weights == (307_200 if grouped else 614_400)


def test_alexnet_grouped_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="only as a spec"):
        alexnet(grouped=True)
    with pytest.raises(ValueError, match="grouped convolutions exist only as specs"):
        LayerSpec("Conv2D", (4, 4, 3), {"groups": 2}).build()


VGG16_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def test_vgg16_count_and_macs() -> None:
    # Simonyan & Zisserman 2014, table 1 column D; all convs 3×3 stride 1 pad 1.
    conv_total, macs, c, side = 0, 0, 3, 224
    for v in VGG16_D:
        if v == "M":
            side //= 2
            continue
        conv_total += conv_params(c, v, 3)
        macs += side * side * v * c * 9
        c = v
    fcs = [(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)]
    assert conv_total == 14_714_688
    total = conv_total + sum(fc_params(d, m) for d, m in fcs)
    assert total == 138_357_544  # the "138M" of the paper's table 2
    macs += sum(d * m for d, m in fcs)
    s = summary(vgg16(materialize=False), (3, 224, 224))
    assert s.total_params == total
    assert s.total_macs == macs
    assert 15.4e9 < macs < 15.6e9  # the widely quoted "15.5 G multiply-adds" of VGG-16
    assert s.output_shape == (1000,)


def test_vgg16_spec_allocates_nothing() -> None:
    tracemalloc.start()
    try:
        s = summary(vgg16(materialize=False), (3, 224, 224))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s.total_params > 10**8
    assert peak < 5 * 2**20  # 553 MB of weights stay on paper


def test_num_classes_changes_only_the_last_layer() -> None:
    a = summary(vgg16(num_classes=10, materialize=False), (3, 224, 224)).total_params
    assert a == 138_357_544 - fc_params(4096, 1000) + fc_params(4096, 10)


def test_summary_table_text() -> None:
    text = str(summary(seed_cnn(materialize=False), (1, 28, 28)))
    assert "80,202" in text and "(16, 24, 24)" in text and "mult-adds" in text


def test_summary_show_prints(capsys: pytest.CaptureFixture[str]) -> None:
    summary(mlp(materialize=False), (784,), show=True)
    assert "35,785" in capsys.readouterr().out


def test_summary_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"layer 0 .*cannot take input shape \(3, 28, 28\)"):
        summary(seed_cnn(materialize=False), (3, 28, 28))
    with pytest.raises(ValueError, match="does not fit"):
        summary(seed_cnn(materialize=False), (1, 10, 10))
    with pytest.raises(TypeError, match="Sequential or a ModelSpec"):
        summary([LayerSpec("ReLU")], (3,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_shape must be >= 1"):
        summary(mlp(materialize=False), (0,))


# ------------------------------------------------------------------------------------------------
# VGG's small-kernel argument
# ------------------------------------------------------------------------------------------------

def test_stacked_vs_single_worked_example() -> None:
    # three 3×3 layers: 3·9·C² = 27C²; one 7×7: 49C² (weights; the slides' comparison)
    assert stacked_vs_single(1) == (27, 49)
    assert stacked_vs_single(64) == (27 * 64**2, 49 * 64**2)
    assert stacked_vs_single(64, bias=True) == (27 * 64**2 + 3 * 64, 49 * 64**2 + 64)
    assert stacked_vs_single(8, k_small=3, n=2) == (2 * 9 * 64, 25 * 64)  # two 3×3 see 5×5
    # k_big defaults to the kernel with the stack's receptive field: n·(k − 1) + 1
    assert stacked_vs_single(1, k_small=3, n=4) == (4 * 9, 9 * 9)


@given(st.integers(1, 512), st.integers(2, 5))
def test_stacked_small_kernels_always_cheaper(c: int, n: int) -> None:
    small, big = stacked_vs_single(c, 3, n)
    assert small == n * 9 * c * c and big == (2 * n + 1) ** 2 * c * c
    assert small < big


def test_stacked_vs_single_bad_inputs() -> None:
    with pytest.raises(ValueError, match="channels must be >= 1"):
        stacked_vs_single(0)
    with pytest.raises(TypeError, match="channels must be an integer"):
        stacked_vs_single(2.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Specs and built networks agree
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("builder", "shape"),
    [(seed_cnn, (1, 28, 28)), (mlp, (1, 28, 28)), (lenet5, (1, 32, 32)),
     (lambda **kw: seed_cnn(activation="sigmoid", **kw), (1, 28, 28))],
)
def test_spec_summary_equals_built_summary(builder, shape) -> None:
    spec_rows = summary(builder(materialize=False), shape).rows
    built = builder(rng=0)
    built_rows = summary(built, shape).rows
    assert [(r.output_shape, r.weights, r.biases, r.macs) for r in spec_rows] == [
        (r.output_shape, r.weights, r.biases, r.macs) for r in built_rows]
    assert built.num_params() == sum(r.params for r in spec_rows)
    out = built.forward(np.zeros((2, *shape), dtype=np.float32))
    assert out.shape == (2, *spec_rows[-1].output_shape) and out.dtype == np.float32


def test_seed_cnn_dtype_and_reproducible_init() -> None:
    a, b = seed_cnn(rng=3), seed_cnn(rng=3)
    for (ka, va), (kb, vb) in zip(a.parameters().items(), b.parameters().items()):
        assert ka == kb and va.dtype == np.float32
        np.testing.assert_array_equal(va, vb)
    assert list(a.parameters()) == ["0.w", "0.b", "3.w", "3.b", "7.w", "7.b", "9.w", "9.b"]
    assert seed_cnn(dtype=np.float64, rng=0).parameters()["0.w"].dtype == np.float64
    assert not np.array_equal(seed_cnn(rng=1).parameters()["0.w"], a.parameters()["0.w"])


def test_architecture_bad_arguments() -> None:
    with pytest.raises(ValueError, match="activation must be one of"):
        seed_cnn(activation="swish")
    with pytest.raises(TypeError, match="activation must be a string"):
        seed_cnn(activation=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dtype must be np\.float32 or np\.float64"):
        seed_cnn(dtype=np.int32)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        vgg16(num_classes=0, materialize=False)
    with pytest.raises(ValueError, match="unknown layer kind 'Conv3D'"):
        LayerSpec("Conv3D")
    with pytest.raises(TypeError, match="must be a LayerSpec"):
        ModelSpec(["ReLU"])  # type: ignore[list-item]


# ------------------------------------------------------------------------------------------------
# Flatten and Sequential
# ------------------------------------------------------------------------------------------------

def test_flatten_worked_example_and_gradient() -> None:
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 2, 2)
    f = Flatten()
    out = f.forward(x)
    np.testing.assert_array_equal(out[1], np.arange(12, 24))  # C-order: channel, row, column
    assert f.output_shape((3, 2, 2)) == (12,)
    dout = np.random.default_rng(0).standard_normal((2, 12))
    np.testing.assert_array_equal(f.backward(dout), dout.reshape(2, 3, 2, 2))
    with pytest.raises(ValueError, match="at least one more"):
        f.forward(np.zeros(3))


def tiny_cnn(rng: int = 0) -> Sequential:
    from course_lib.backprop import Affine
    from course_lib.conv import Conv2D
    from course_lib.neuron import ReLU, Tanh
    from course_lib.pooling import MaxPool2D

    return Sequential(
        Conv2D(2, 3, 3, pad=1, rng=rng, dtype=np.float64), ReLU(), MaxPool2D(2),
        Conv2D(3, 4, 2, rng=rng + 1, dtype=np.float64), Tanh(),
        Flatten(), Affine(4, 5, rng=rng + 2, dtype=np.float64), ReLU(),
        Affine(5, 3, rng=rng + 3, dtype=np.float64),
    )


def _check_whole_network(model: Sequential, x: np.ndarray, seed: int):
    """check_layer on a whole network: the input and every parameter array at once."""
    names = list(model.parameters())

    def forward(x: np.ndarray, *params: np.ndarray) -> tuple[np.ndarray, None]:
        model.set_parameters(dict(zip(names, params)))
        return model.forward(x), None

    def backward(dout: np.ndarray, cache: None) -> tuple[np.ndarray, ...]:
        dx = model.backward(dout)
        g = model.gradients()
        return (dx, *(g[k] for k in names))

    inputs = {"x": x, **{k: v.copy() for k, v in model.parameters().items()}}
    return check_layer(forward, backward, inputs, seed=seed, tol=1e-6)


def test_sequential_gradient_check_all_parameters() -> None:
    model = tiny_cnn()
    x = np.random.default_rng(5).standard_normal((3, 2, 4, 4))
    report = _check_whole_network(model, x, seed=7)
    assert report.passed, str(report)
    assert len(report.results) == 1 + 8
    assert max(r.rel_error for r in report.results) < 1e-7  # measured 5.6e-9 (dx)


def test_sequential_backward_is_chain_of_layers() -> None:
    # Sequential(A, B).backward equals B.backward followed by A.backward.
    from course_lib.backprop import Affine
    from course_lib.neuron import Sigmoid

    rng = np.random.default_rng(0)
    a, s = Affine(4, 3, rng=1, dtype=np.float64), Sigmoid()
    model = Sequential(a, s)
    x = rng.standard_normal((5, 4))
    dout = rng.standard_normal((5, 3))
    out = model.forward(x)
    z = x @ a.params["w"] + a.params["b"]
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-z)))
    dx = model.backward(dout)
    dz = dout * out * (1 - out)
    np.testing.assert_allclose(dx, dz @ a.params["w"].T)
    np.testing.assert_allclose(model.gradients()["0.w"], x.T @ dz)


def test_modes_propagate_to_dropout_and_batchnorm() -> None:
    from course_lib.backprop import Affine
    from course_lib.batchnorm import BatchNorm
    from course_lib.dropout import Dropout

    model = Sequential(Affine(6, 6, rng=0, dtype=np.float64), BatchNorm(6, dtype=np.float64), Dropout(0.5, rng=0))
    x = np.random.default_rng(1).standard_normal((8, 6))
    model.eval()
    assert all(not layer.training for layer in model) and not model.training
    a, b = model.forward(x), model.forward(x)
    np.testing.assert_array_equal(a, b)  # no dropout noise, running statistics
    model.train()
    assert all(layer.training for layer in model)
    out = model.forward(x)
    assert np.any(out == 0)  # dropout zeroes units in training mode
    # predict() evaluates in eval mode and restores the mode
    p = model.predict(x)
    assert model.training and p.shape == (8, 6)


def test_sequential_bad_inputs() -> None:
    with pytest.raises(TypeError, match="layer 1 must be a course_lib Layer"):
        Sequential(Flatten(), "relu")  # type: ignore[arg-type]
    model = tiny_cnn()
    with pytest.raises(ValueError, match=r"unknown parameter '99\.w'"):
        model.set_parameters({"99.w": np.zeros(3)})
    with pytest.raises(ValueError, match=r"'0.b' must have shape \(3,\)"):
        model.set_parameters({"0.b": np.zeros(4)})
    with pytest.raises(RuntimeError, match="run backward first"):
        model.gradients()


def test_first_conv_skips_input_gradient() -> None:
    model = seed_cnn(rng=0)
    out = model.forward(np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    assert model.backward(np.ones_like(out) / out.size) is None
    assert set(model.gradients()) == set(model.parameters())


# ------------------------------------------------------------------------------------------------
# Saving and loading
# ------------------------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path) -> None:
    a = seed_cnn(rng=0)
    x = np.random.default_rng(2).random((4, 1, 28, 28), dtype=np.float32)
    a.save(tmp_path / "m.npz")
    b = seed_cnn(rng=99)
    assert not np.array_equal(a.predict(x), b.predict(x))
    assert b.load(tmp_path / "m.npz") is b
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_save_load_keeps_batchnorm_running_statistics(tmp_path) -> None:
    from course_lib.backprop import Affine
    from course_lib.batchnorm import BatchNorm

    def make() -> Sequential:
        return Sequential(Affine(3, 4, rng=0, dtype=np.float64), BatchNorm(4, dtype=np.float64))

    a = make()
    a.forward(np.random.default_rng(0).standard_normal((16, 3)) * 5 + 2)
    a.save(tmp_path / "bn.npz")
    b = make().load(tmp_path / "bn.npz")
    x = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_shipped_models_rebuild_from_their_files() -> None:
    models = Path(__file__).resolve().parents[1] / "models"
    for name, builder in (("seed_cnn", seed_cnn), ("mlp", mlp), ("lenet5", lenet5)):
        rebuilt = Sequential.from_file(models / f"{name}.npz")
        loaded = builder(rng=0).load(models / f"{name}.npz")
        assert repr(rebuilt) == repr(loaded) and rebuilt.architecture() == loaded.architecture()
        for a, b in zip(rebuilt.parameters().values(), loaded.parameters().values(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_load_wrong_architecture(tmp_path) -> None:
    seed_cnn(rng=0).save(tmp_path / "cnn.npz")
    with pytest.raises(ValueError, match="architecture mismatch: the file has 10 layers, this network has 4"):
        mlp(rng=0).load(tmp_path / "cnn.npz")
    # same layer count, different widths: a mismatch at a named layer
    mlp(hidden=45, rng=0).save(tmp_path / "m45.npz")
    with pytest.raises(ValueError, match=r"architecture mismatch at layer 1: .*\[784, 45\].*\[784, 30\]"):
        mlp(hidden=30, rng=0).load(tmp_path / "m45.npz")


def test_load_corrupt_old_and_foreign_files(tmp_path) -> None:
    path = tmp_path / "m.npz"
    seed_cnn(rng=0).save(path)
    raw = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cannot read model file"):
        seed_cnn(rng=0).load(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="cannot read model file"):
        seed_cnn(rng=0).load(tmp_path / "text.npz")
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="not a course_lib Sequential file"):
        seed_cnn(rng=0).load(tmp_path / "plain.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    # a version this library never wrote, or one from a newer library (version 1, without
    # configs, still loads: tests/test_registries.py)
    for version in (0, FORMAT_VERSION + 1):
        arrays["__version__"] = np.array(version)
        np.savez(tmp_path / "other.npz", **arrays)
        with pytest.raises(ValueError, match=f"format version {version}, this library reads versions 1, 2.*re-save"):
            seed_cnn(rng=0).load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        seed_cnn(rng=0).load(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(path)


def test_param_count_helpers() -> None:
    assert seed_cnn(materialize=False).num_params() == 80_202
    assert math.prod(LayerSpec("Conv2D", (3, 8, 3)).param_shapes()["w"]) == 8 * 3 * 9
    assert arch.ModelSpec([LayerSpec("ReLU")]).build().num_params() == 0


# ------------------------------------------------------------------------------------------------
# Residual (skip connection)
# ------------------------------------------------------------------------------------------------

def _residual_net(rng: int = 0) -> Sequential:
    from course_lib.backprop import Affine
    from course_lib.neuron import ReLU, Tanh

    return Sequential(
        Affine(5, 4, rng=rng, dtype=np.float64), Tanh(),
        arch.Residual(Affine(4, 4, rng=rng + 1, dtype=np.float64), Tanh(),
                      Affine(4, 4, rng=rng + 2, dtype=np.float64)),
        ReLU(), Affine(4, 3, rng=rng + 3, dtype=np.float64),
    )


def test_residual_gradient_check_inside_a_network() -> None:
    model = _residual_net()
    assert set(model.parameters()) == {"0.w", "0.b", "2.0.w", "2.0.b", "2.2.w", "2.2.b", "4.w", "4.b"}
    x = np.random.default_rng(3).standard_normal((6, 5))
    report = _check_whole_network(model, x, seed=11)
    assert report.passed, str(report)
    assert len(report.results) == 1 + 8
    assert max(r.rel_error for r in report.results) < 1e-6


@given(n=st.integers(1, 4), d=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_residual_backward_is_identity_plus_body(n: int, d: int, seed: int) -> None:
    # y = x + x W + b  =>  dx = dout + dout W^T, dW = x^T dout, db = sum of dout.
    from course_lib.backprop import Affine

    rng = np.random.default_rng(seed)
    block = arch.Residual(Affine(d, d, rng=seed, dtype=np.float64))
    x, dout = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    w, b = block.params["0.w"], block.params["0.b"]
    np.testing.assert_allclose(block.forward(x), x + x @ w + b, rtol=1e-12)
    np.testing.assert_allclose(block.backward(dout), dout + dout @ w.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block.grads["0.w"], x.T @ dout, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block.grads["0.b"], dout.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_residual_conv_block_summary_modes_and_save(tmp_path) -> None:
    from course_lib.batchnorm import SpatialBatchNorm
    from course_lib.conv import Conv2D
    from course_lib.neuron import ReLU

    block = arch.Residual(Conv2D(4, 4, 3, pad=1, rng=0, dtype=np.float64), SpatialBatchNorm(4, dtype=np.float64),
                          ReLU(), Conv2D(4, 4, 3, pad=1, rng=1, dtype=np.float64))
    model = Sequential(block, ReLU())
    s = summary(model, (4, 6, 6))
    assert s.rows[0].output_shape == (4, 6, 6)
    assert s.rows[0].weights == 2 * 4 * 4 * 9 + 4          # two kernels + BN's gamma
    assert s.rows[0].biases == 2 * 4 + 4                   # two conv biases + BN's beta
    assert s.rows[0].macs == 2 * (6 * 6) * 4 * 4 * 9
    model.eval()
    assert not block.body[1].training
    model.train()
    assert block.body[1].training
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6))
    model.forward(x)                                        # updates the running statistics
    model.save(tmp_path / "res.npz")
    fresh = Sequential(arch.Residual(Conv2D(4, 4, 3, pad=1, rng=5, dtype=np.float64),
                                     SpatialBatchNorm(4, dtype=np.float64), ReLU(),
                                     Conv2D(4, 4, 3, pad=1, rng=6, dtype=np.float64)), ReLU())
    fresh.load(tmp_path / "res.npz")
    model.eval()
    fresh.eval()
    np.testing.assert_array_equal(fresh.forward(x), model.forward(x))


def test_residual_bad_inputs() -> None:
    from course_lib.backprop import Affine

    with pytest.raises(ValueError, match="at least one layer"):
        arch.Residual()
    with pytest.raises(TypeError, match="must be a course_lib Layer"):
        arch.Residual("relu")  # type: ignore[arg-type]
    block = arch.Residual(Affine(4, 3, rng=0, dtype=np.float64))
    with pytest.raises(ValueError, match=r"maps input shape \(2, 4\) to \(2, 3\)"):
        block.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"maps \(4,\) to \(3,\)"):
        block.output_shape((4,))
    square = arch.Residual(Affine(3, 3, rng=0, dtype=np.float64))
    with pytest.raises(RuntimeError, match="before forward"):
        square.backward(np.zeros((2, 3)))
    square.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"output's shape \(2, 3\)"):
        square.backward(np.zeros((3, 3)))
