"""Tests for course_lib.widgets: the static figures are right, and explorers work without a kernel.

Expected values are derived by hand in the comments (not copied from the functions' output).
Widgets whose chapter module is not written yet are skipped via ``importorskip``.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from matplotlib.figure import Figure

from course_lib import widgets as w

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _image(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def _assert_static_bundle(explorer: w.Explorer) -> None:
    """The display data a static page uses: a real PNG and a readable label, no object repr."""
    bundle = explorer._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_SIGNATURE)
    text = bundle["text/plain"]
    assert explorer.title in text
    for raw in ("<function", "<Figure size", "object at 0x", "children="):
        assert raw not in text
    # A live Jupyter front end still gets the widget itself.
    assert "application/vnd.jupyter.widget-view+json" in bundle


# ------------------------------------------------------------------------------------------------
# Chapter 1: activations
# ------------------------------------------------------------------------------------------------

def test_plot_activations_draws_each_function_and_its_derivative() -> None:
    names = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")
    fig = w.plot_activations(names, x_max=4.0, alpha=0.2, num=9)  # x = -4, -3, ..., 4
    assert isinstance(fig, Figure)
    ax_f, ax_d = fig.axes
    f = {line.get_label(): line for line in ax_f.lines[: len(names)]}
    d = {line.get_label(): line for line in ax_d.lines[: len(names)]}
    assert tuple(f) == names and tuple(d) == names
    x = np.arange(-4.0, 5.0)
    np.testing.assert_allclose(f["sigmoid"].get_xdata(), x)
    mid = 4  # index of x = 0
    # σ(0) = 1/2 and σ'(0) = σ(0)(1 − σ(0)) = 1/4; tanh'(0) = 1 − tanh²(0) = 1.
    assert f["sigmoid"].get_ydata()[mid] == pytest.approx(0.5)
    assert d["sigmoid"].get_ydata()[mid] == pytest.approx(0.25)
    assert d["tanh"].get_ydata()[mid] == pytest.approx(1.0)
    # ReLU: slope 0 left of 0, 1 right of 0; leaky ReLU: slope alpha = 0.2 on the left.
    np.testing.assert_array_equal(d["relu"].get_ydata()[:mid], 0.0)
    np.testing.assert_array_equal(d["relu"].get_ydata()[mid + 1 :], 1.0)
    np.testing.assert_allclose(d["leaky_relu"].get_ydata()[:mid], 0.2)
    # ELU at x = −4 with alpha 0.2: 0.2·(e^−4 − 1), derivative 0.2·e^−4.
    assert f["elu"].get_ydata()[0] == pytest.approx(0.2 * (np.exp(-4.0) - 1))
    assert d["elu"].get_ydata()[0] == pytest.approx(0.2 * np.exp(-4.0))


def test_plot_activations_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="activation must be one of"):
        w.plot_activations(["softplus"])
    with pytest.raises(ValueError, match="x_max"):
        w.plot_activations(x_max=0)
    with pytest.raises(ValueError, match="names"):
        w.plot_activations([])
    with pytest.raises(ValueError, match="alpha"):
        w.plot_activations(alpha=1.5)


def test_activation_explorer_without_kernel() -> None:
    explorer = w.activation_explorer()
    assert set(explorer.values) == {"names", "x_max", "alpha"}
    explorer.controls["names"].value = ("relu",)
    fig = explorer.figure()
    assert [line.get_label() for line in fig.axes[0].lines[:1]] == ["relu"]
    _assert_static_bundle(explorer)


# ------------------------------------------------------------------------------------------------
# Chapter 3: gradient descent
# ------------------------------------------------------------------------------------------------

def test_plot_gradient_descent_path_matches_hand_computed_step() -> None:
    # quadratic_bowl is ½(x² + 10 y²), gradient (x, 10 y), demo start (−1.8, 0.9). One SGD step
    # with η = 0.1: x = −1.8 − 0.1·(−1.8) = −1.62, y = 0.9 − 0.1·9 = 0.
    fig = w.plot_gradient_descent("quadratic_bowl", "sgd", learning_rate=0.1, steps=1)
    ax_path, ax_f = fig.axes
    path = np.column_stack([ax_path.lines[0].get_xdata(), ax_path.lines[0].get_ydata()])
    np.testing.assert_allclose(path, [[-1.8, 0.9], [-1.62, 0.0]], atol=1e-12)
    # The minimum marker sits at the origin; f after the step is ½·1.62² = 1.3122.
    np.testing.assert_allclose([ax_path.lines[1].get_xdata()[0], ax_path.lines[1].get_ydata()[0]], [0, 0])
    assert ax_f.lines[0].get_ydata()[-1] == pytest.approx(0.5 * 1.62**2)


@pytest.mark.parametrize("optimizer", ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam"])
def test_plot_gradient_descent_every_optimizer(optimizer: str) -> None:
    fig = w.plot_gradient_descent("beale", optimizer, learning_rate=1e-3, momentum=0.5, steps=5)
    assert len(fig.axes[0].lines[0].get_xdata()) == 6  # start + 5 steps
    assert optimizer in fig.axes[1].get_title()


def test_plot_gradient_descent_reports_divergence() -> None:
    # On the bowl's steep axis SGD is stable only for η < 2/10; η = 0.5 multiplies y by −4 per step.
    fig = w.plot_gradient_descent("quadratic_bowl", "sgd", learning_rate=0.5, steps=500)
    assert "diverged" in fig.axes[1].get_title()


def test_plot_gradient_descent_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="function must be one of"):
        w.plot_gradient_descent("himmelblau")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        w.plot_gradient_descent("beale", "lbfgs")
    with pytest.raises(ValueError, match="learning_rate"):
        w.plot_gradient_descent(learning_rate=0)
    with pytest.raises(ValueError, match="momentum"):
        w.plot_gradient_descent(momentum=1.0)


def test_gradient_descent_explorer_without_kernel() -> None:
    explorer = w.gradient_descent_explorer("quadratic_bowl")
    explorer.controls["steps"].value = 3
    explorer.controls["optimizer"].value = "adam"
    fig = explorer.figure()
    assert len(fig.axes[0].lines[0].get_xdata()) == 4
    _assert_static_bundle(explorer)


# ------------------------------------------------------------------------------------------------
# Receptive field (the function itself is tested in test_conv.py)
# ------------------------------------------------------------------------------------------------

def test_plot_receptive_field_growth_curve() -> None:
    fig = w.plot_receptive_field(num_layers=3, kernel_size=3, stride=1)
    ax_grid, ax_growth = fig.axes
    np.testing.assert_array_equal(ax_growth.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax_growth.lines[0].get_ydata(), [3, 5, 7])
    # The outermost square drawn on the grid is the 7×7 field.
    assert max(p.get_width() for p in ax_grid.patches) == 7


def test_receptive_field_explorer_without_kernel() -> None:
    explorer = w.receptive_field_explorer()
    explorer.controls["num_layers"].value = 4
    assert list(explorer.figure().axes[1].lines[0].get_ydata()) == [3, 5, 7, 9]
    _assert_static_bundle(explorer)


# ------------------------------------------------------------------------------------------------
# Chapter 4: convolution
# ------------------------------------------------------------------------------------------------

def test_plot_conv_output_size_and_values() -> None:
    pytest.importorskip("course_lib.conv")
    # ⌊(7 + 0 − 3) / 2⌋ + 1 = 3 and ⌊(7 + 2 − 3) / 1⌋ + 1 = 7.
    fig = w.plot_conv(7, 3, pad=0, stride=2)
    assert _image(fig.axes[2]).shape == (3, 3)
    assert "output 3×3" in fig.axes[2].get_title()
    assert "= 3" in fig._suptitle.get_text()
    # A centred identity kernel with "same" padding reproduces the input exactly.
    fig = w.plot_conv(7, 3, pad=1, stride=1, kernel="identity")
    np.testing.assert_allclose(_image(fig.axes[2]), _image(fig.axes[0])[1:-1, 1:-1])


def test_conv_demo_box_blur_by_hand() -> None:
    pytest.importorskip("course_lib.conv")
    # 4×4 demo image: ones in rows/cols 1..2. A 4×4 box blur sees all of it: 4 ones / 16 = 0.25.
    image, _weights, out = w.conv_demo(4, 4, pad=0, stride=1, kernel="box blur")
    assert image.sum() == 4
    np.testing.assert_allclose(out, [[0.25]])
    # Vertical-edge kernel (−1, 0, 1 across columns) at the square's left edge: columns 0..2 of
    # rows 0..2 hold [[0,0,0],[0,1,1],[0,1,1]] → (−1·0 + 0·1 + 1·1)·2 rows = 2.
    _, _, out = w.conv_demo(4, 3, kernel="vertical edges")
    assert out[0, 0] == pytest.approx(2.0)


def test_conv_explorer_shows_a_message_when_the_kernel_does_not_fit() -> None:
    pytest.importorskip("course_lib.conv")
    explorer = w.conv_explorer()
    explorer.controls["n"].value = 3
    explorer.controls["kernel_size"].value = 7
    fig = explorer.figure()
    assert "Not possible" in fig.axes[0].texts[0].get_text()
    explorer.controls["kernel_size"].value = 3
    assert _image(explorer.figure().axes[2]).shape == (1, 1)
    _assert_static_bundle(explorer)


def test_demo_kernel_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="kernel must be one of"):
        w.demo_kernel("emboss", 3)


# ------------------------------------------------------------------------------------------------
# Chapter 5: pooling
# ------------------------------------------------------------------------------------------------

def test_plot_pooling_routes_gradient_to_each_max() -> None:
    pytest.importorskip("course_lib.pooling")
    x = np.array(
        [[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 7.0, 8.0], [9.0, 10.0, 13.0, 14.0], [11.0, 12.0, 15.0, 16.0]]
    )
    fig = w.plot_pooling(x, pool_size=2, stride=2)
    _x, out, dout, dx = (_image(ax) for ax in fig.axes)
    # Each 2×2 window's maximum is its bottom-right entry.
    np.testing.assert_array_equal(out, [[4, 8], [12, 16]])
    expected = np.zeros((4, 4))
    expected[1::2, 1::2] = dout
    np.testing.assert_array_equal(dx, expected)
    assert sorted(dout.ravel()) == [1, 2, 3, 4]


def test_pooling_explorer_without_kernel() -> None:
    pytest.importorskip("course_lib.pooling")
    explorer = w.pooling_explorer()
    explorer.controls["stride"].value = 1
    # 4×4 input, 2×2 windows, stride 1 → ⌊(4 − 2)/1⌋ + 1 = 3.
    assert _image(explorer.figure().axes[1]).shape == (3, 3)
    _assert_static_bundle(explorer)


# ------------------------------------------------------------------------------------------------
# Chapter 8: dropout
# ------------------------------------------------------------------------------------------------

def test_dropout_demo_inverted_scaling() -> None:
    pytest.importorskip("course_lib.dropout")
    x, out, kept = w.dropout_demo(0.5, (8, 12), "train", seed=3)
    # Kept units are divided by keep_prob = 0.5, dropped ones are 0.
    np.testing.assert_allclose(out[kept], x[kept] / 0.5)
    np.testing.assert_array_equal(out[~kept], 0.0)
    assert 0.25 < kept.mean() < 0.75  # 96 Bernoulli(0.5) draws
    # Test mode and keep_prob = 1 are the identity.
    np.testing.assert_array_equal(w.dropout_demo(0.5, (4, 4), "test")[1], w.dropout_demo(0.5, (4, 4), "test")[0])
    x, out, _ = w.dropout_demo(1.0, (4, 4), "train")
    np.testing.assert_allclose(out, x)


def test_plot_dropout_and_explorer() -> None:
    pytest.importorskip("course_lib.dropout")
    fig = w.plot_dropout(0.25, "train", seed=1, shape=(6, 10))
    assert [_image(ax).shape for ax in fig.axes] == [(6, 10)] * 3
    explorer = w.dropout_explorer()
    explorer.controls["mode"].value = "test"
    fig = explorer.figure()
    np.testing.assert_allclose(_image(fig.axes[2]), _image(fig.axes[0]))
    _assert_static_bundle(explorer)


# ------------------------------------------------------------------------------------------------
# Chapter 7: batch normalization
# ------------------------------------------------------------------------------------------------

def test_batchnorm_demo_output_follows_gamma_and_beta() -> None:
    pytest.importorskip("course_lib.batchnorm")
    x, out = w.batchnorm_demo(mean=5.0, std=3.0, gamma=2.0, beta=-1.0, batch_size=400)
    # Input feature j: mean 5 + j, std 3·(j + 1) (up to sampling error).
    np.testing.assert_allclose(x.mean(axis=0), [5, 6, 7], atol=1.5)
    # Train-mode BN: exact batch statistics, so out = β + γ·(x − μ_B)/sqrt(σ_B² + eps).
    np.testing.assert_allclose(out.mean(axis=0), -1.0, atol=1e-9)
    np.testing.assert_allclose(out.std(axis=0), 2.0, rtol=1e-5)
    manual = -1.0 + 2.0 * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    np.testing.assert_allclose(out, manual, rtol=1e-7, atol=1e-9)


def test_plot_batchnorm_and_explorer() -> None:
    pytest.importorskip("course_lib.batchnorm")
    fig = w.plot_batchnorm(mean=3.0, std=2.0, gamma=1.5, beta=0.5)
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == [f"feature {j}: μ=0.50, σ=1.50" for j in range(3)]
    explorer = w.batchnorm_explorer()
    explorer.controls["gamma"].value = 3.0
    labels = [t.get_text() for t in explorer.figure().axes[1].get_legend().get_texts()]
    assert all("σ=3.00" in label for label in labels)
    _assert_static_bundle(explorer)
