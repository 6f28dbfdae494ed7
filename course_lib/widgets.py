"""Interactive explorers for the book: sliders in Jupyter, a static figure everywhere else.

Each explorer comes in two parts:

* ``plot_<thing>(...) -> Figure`` — a pure function that draws one state as a matplotlib
  :class:`~matplotlib.figure.Figure` (not registered with pyplot, so nothing leaks into other cells).
  Tests and the static book pages use it directly.
* ``<thing>_explorer(...) -> Explorer`` — ipywidgets controls wired to that function with
  :func:`ipywidgets.interactive_output`.

An :class:`Explorer` is displayed as a live widget when a kernel is running, and *also* carries a
PNG of its current state in its display data. The book's HTML build prefers that PNG (see
``nb_mime_priority_overrides`` in ``_config.yml``), so a page reads correctly without a kernel and
never shows a widget's text repr. Put ``<thing>_explorer()`` as the last line of a cell.

The chapter modules (``gradient_descent``, ``conv``, ``pooling``, ``dropout``, ``batchnorm``)
are imported inside the functions, so importing this module stays cheap; ``neuron`` (small) is
imported at once for its activation registry.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib.neuron import ACTIVATIONS
from course_lib.validate import OPTIMIZER_DEFAULTS, check_array, check_int, check_number

__all__ = [
    "ACTIVATION_NAMES",
    "KERNELS",
    "TEST_FUNCTIONS",
    "BookFigure",
    "Explorer",
    "activation_explorer",
    "batchnorm_demo",
    "batchnorm_explorer",
    "conv_demo",
    "conv_explorer",
    "demo_kernel",
    "dropout_demo",
    "dropout_explorer",
    "gradient_descent_explorer",
    "plot_activations",
    "plot_batchnorm",
    "plot_conv",
    "plot_dropout",
    "plot_gradient_descent",
    "plot_pooling",
    "plot_receptive_field",
    "pooling_demo",
    "pooling_explorer",
    "receptive_field_explorer",
]

#: dpi of the PNG an explorer embeds: sharp on screen, a few tens of kB per figure.
STATIC_DPI = 110
_STYLE = {"description_width": "initial"}

#: The activations the explorer draws: every entry of ``neuron.ACTIVATIONS`` except the identity.
ACTIVATION_NAMES: tuple[str, ...] = tuple(name for name in ACTIVATIONS if name != "identity")
TEST_FUNCTIONS: tuple[str, ...] = ("quadratic_bowl", "rosenbrock", "beale")
#: The update rules of chapter 3, in the order of ``validate.OPTIMIZER_DEFAULTS``.
OPTIMIZERS: tuple[str, ...] = tuple(OPTIMIZER_DEFAULTS)
KERNELS: tuple[str, ...] = ("vertical edges", "horizontal edges", "box blur", "identity")


# ------------------------------------------------------------------------------------------------
# The explorer widget
# ------------------------------------------------------------------------------------------------

def _png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=STATIC_DPI, bbox_inches="tight")
    return buffer.getvalue()


def _png_base64(fig: Figure) -> str:
    return base64.b64encode(_png_bytes(fig)).decode("ascii")


class BookFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in Jupyter even if pyplot was never imported.

    Figures made without pyplot do not get IPython's inline-backend formatter, so a notebook (and
    the book) would print ``<Figure size ...>`` instead of the picture.
    """

    def _repr_png_(self) -> bytes:
        return _png_bytes(self)


def _new_figure(ncols: int, width: float = 4.0, height: float = 3.4, nrows: int = 1) -> Figure:
    """A constrained-layout figure of ``nrows`` × ``ncols`` axes (pyplot-free), each axes
    ``width`` × ``height`` inches; ``fig.axes`` is in row-major order.

    The book shows a figure at most 688 px wide (6.25 in at :data:`STATIC_DPI`), so a wider one is
    scaled down with its text: keep ``width·ncols`` ≤ 8 in and text ≥ 9 pt (book/AUTHORING.md).
    """
    fig = BookFigure(figsize=(width * ncols, height * nrows), layout="constrained")
    fig.subplots(nrows, ncols, squeeze=False)
    return fig


def _write_values(ax: Any, values: np.ndarray, *, max_side: int = 12, fontsize: float = 9) -> None:
    """Outline every pixel of an image axes and write its value in it (small images only).

    ``values`` is the (H, W) array the axes shows. Above ``max_side`` pixels a side the numbers
    would not fit their cells, so only the grid is drawn (up to 40 a side).
    """
    rows, cols = values.shape
    if max(rows, cols) <= 40:
        ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="0.55", lw=0.6)
        ax.tick_params(which="minor", length=0)
    if max(rows, cols) > max_side:
        return
    for (i, j), v in np.ndenumerate(values):
        text = f"{v:.2g}" if abs(v - round(v)) > 1e-9 else f"{v:.0f}"
        ax.text(j, i, text.replace("-", "−"), ha="center", va="center", fontsize=fontsize,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.75, "lw": 0})


class Explorer(widgets.VBox):
    """Controls plus a figure that redraws when a control changes.

    Args:
        plot: ``plot(**values) -> Figure``, called with the controls' current values.
        controls: keyword name -> ipywidgets control (slider, dropdown, ...).
        title: shown above the controls and used as the plain-text representation.

    Use :meth:`figure` for the figure of the current state (no kernel needed).
    """

    def __init__(
        self, plot: Callable[..., Figure], controls: Mapping[str, widgets.ValueWidget], title: str
    ) -> None:
        super().__init__()
        self._plot = plot
        self.controls = dict(controls)
        self.title = title
        output = widgets.interactive_output(self._show, self.controls)
        self.children = (
            widgets.HTML(f"<b>{title}</b>"),
            widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
            output,
        )

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values, as passed to the plotting function."""
        return {name: control.value for name, control in self.controls.items()}

    def figure(self) -> Figure:
        """The static figure of the current state."""
        return self._plot(**self.values)

    def _show(self, **values: Any) -> None:
        from IPython import get_ipython
        from IPython.display import display

        # Outside IPython there is nowhere to draw (and display() would print a repr).
        if get_ipython() is not None:
            display(self._plot(**values))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        # A static page cannot run the widget: give it the current figure and a readable label
        # instead of the widget's constructor repr.
        data["image/png"] = _png_base64(self.figure())
        data["text/plain"] = f"{self.title} (interactive in Jupyter; static figure shown)"
        return data

    def __repr__(self) -> str:
        return f"Explorer({self.title!r}, controls={sorted(self.controls)})"


def _slider(kind: type, value: float, lo: float, hi: float, step: float, label: str, **kw: Any):
    return kind(
        value=value, min=lo, max=hi, step=step, description=label, style=_STYLE,
        continuous_update=False, **kw,
    )


# ------------------------------------------------------------------------------------------------
# Chapter 1: activation functions
# ------------------------------------------------------------------------------------------------

def _activation_and_derivative(name: str, x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f'(x) from the library's forward/backward pair (backward of an all-ones dout)."""
    if name not in ACTIVATION_NAMES:
        raise ValueError(f"activation must be one of {ACTIVATION_NAMES}, got {name!r}")
    act = ACTIVATIONS[name]
    out, cache = act.forward(x, **({"alpha": alpha} if act.alpha else {}))
    # With dout = 1 the backward pass returns the local derivative f'(x) itself.
    return out, act.backward(np.ones_like(x), cache)


def plot_activations(
    names: Sequence[str] = ACTIVATION_NAMES, *, x_max: float = 5.0, alpha: float = 0.1, num: int = 401
) -> Figure:
    """Activation functions (left) and their derivatives (right) on ``[-x_max, x_max]``.

    Args:
        names: activations to draw, from :data:`ACTIVATION_NAMES`; one line each, in this order.
        x_max: half-width of the input range, > 0.
        alpha: slope/scale of leaky ReLU and ELU (0 <= alpha <= 1).
        num: number of sample points, >= 2.

    Returns:
        a Figure with two axes; line ``i`` of each axes is ``names[i]`` sampled at ``num`` points.
    """
    x_max = check_number(x_max, "x_max", low=0, low_inclusive=False)
    alpha = check_number(alpha, "alpha", low=0, high=1)
    num = check_int(num, "num", low=2)
    names = tuple(names)
    if not names:
        raise ValueError("names must list at least one activation")
    x = np.linspace(-x_max, x_max, num)
    fig = _new_figure(2)
    ax_f, ax_d = fig.axes
    for name in names:
        out, slope = _activation_and_derivative(name, x, alpha)
        ax_f.plot(x, out, label=name)
        ax_d.plot(x, slope, label=name)
    ax_f.set(title="activation f(x)", xlabel="x")
    ax_d.set(title="derivative f'(x)", xlabel="x")
    for ax in fig.axes:
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3)
    ax_f.legend(loc="upper left", fontsize="small")
    return fig


def activation_explorer() -> Explorer:
    """Pick activations, the input range and the leaky-ReLU/ELU ``alpha``; see f and f'."""
    controls = {
        "names": widgets.SelectMultiple(
            options=ACTIVATION_NAMES, value=ACTIVATION_NAMES, rows=5, description="activations",
            style=_STYLE,
        ),
        "x_max": _slider(widgets.FloatSlider, 5.0, 1.0, 10.0, 0.5, "x range ±"),
        "alpha": _slider(widgets.FloatSlider, 0.1, 0.0, 1.0, 0.05, "alpha (leaky ReLU, ELU)"),
    }
    return Explorer(plot_activations, controls, "Activation functions and their derivatives")


# ------------------------------------------------------------------------------------------------
# Chapter 3: gradient descent on 2-D test functions
# ------------------------------------------------------------------------------------------------

def _test_function(name: str) -> Any:
    from course_lib import gradient_descent as gd

    if name not in TEST_FUNCTIONS:
        raise ValueError(f"function must be one of {TEST_FUNCTIONS}, got {name!r}")
    return getattr(gd, name)


def _trajectory(function: str, optimizer: str, learning_rate: float, momentum: float, steps: int):
    from course_lib import gradient_descent as gd

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    hyper: dict[str, float] = {"learning_rate": learning_rate}
    if "momentum" in OPTIMIZER_DEFAULTS[optimizer]:
        hyper["momentum"] = momentum
    return gd.minimize(_test_function(function), None, optimizer, steps, **hyper)


def plot_gradient_descent(
    function: str = "rosenbrock",
    optimizer: str = "sgd_momentum",
    *,
    learning_rate: float = 1e-3,
    momentum: float = 0.9,
    steps: int = 200,
) -> Figure:
    """An optimiser's path over the contours of a 2-D test function, and f along the way.

    Args:
        function: one of :data:`TEST_FUNCTIONS`.
        optimizer: one of ``sgd``, ``sgd_momentum``, ``nesterov``, ``rmsprop``, ``adam``.
        learning_rate: > 0. momentum: in [0, 1), used by the momentum rules only.
        steps: number of updates, >= 0.

    Returns:
        a Figure with two axes: left, contours of log(1 + f) with the path as line 0
        (``(steps+1, 2)`` points, fewer if the run diverged) and the minimum as line 1;
        right, f at every step (log scale).
    """
    learning_rate = check_number(learning_rate, "learning_rate", low=0, low_inclusive=False)
    momentum = check_number(momentum, "momentum", low=0, high=1, high_inclusive=False)
    steps = check_int(steps, "steps", low=0)
    func = _test_function(function)
    path = _trajectory(function, optimizer, learning_rate, momentum, steps)

    fig = _new_figure(2)
    ax_path, ax_f = fig.axes
    xs = np.linspace(*func.xlim, 241)
    ys = np.linspace(*func.ylim, 241)
    grid = np.stack(np.meshgrid(xs, ys))
    # log(1 + f) spreads the contour levels over valleys whose depth spans many decades.
    ax_path.contourf(xs, ys, np.log1p(func.f(grid)), levels=30, cmap="viridis", alpha=0.85)
    ax_path.plot(path.points[:, 0], path.points[:, 1], "-o", color="tab:red", ms=2.5, lw=1.2,
                 label=optimizer)
    ax_path.plot(*func.minimum, "*", color="white", mec="black", ms=14, label="minimum")
    ax_path.set(xlim=func.xlim, ylim=func.ylim, xlabel="x", ylabel="y", title=function)
    ax_path.legend(loc="lower right", fontsize="small")

    values = np.maximum(path.values, 1e-16)  # f >= 0 for all three; the floor keeps log finite
    ax_f.semilogy(np.arange(len(values)), values, color="tab:red")
    status = "diverged" if path.diverged else f"final f = {path.values[-1]:.3g}"
    ax_f.set(xlabel="step", ylabel="f (log scale)", title=f"{optimizer}, η = {learning_rate:g}: {status}")
    ax_f.grid(alpha=0.3)
    return fig


def gradient_descent_explorer(function: str = "rosenbrock") -> Explorer:
    """Choose the surface, the optimiser, learning rate, momentum and number of steps."""
    controls = {
        "function": widgets.Dropdown(options=TEST_FUNCTIONS, value=function, description="function"),
        "optimizer": widgets.Dropdown(options=OPTIMIZERS, value="sgd_momentum", description="optimiser"),
        "learning_rate": widgets.FloatLogSlider(
            value=1e-3, base=10, min=-5, max=0, step=0.25, description="learning rate",
            style=_STYLE, continuous_update=False,
        ),
        "momentum": _slider(widgets.FloatSlider, 0.9, 0.0, 0.99, 0.01, "momentum"),
        "steps": _slider(widgets.IntSlider, 200, 0, 1000, 10, "steps"),
    }
    return Explorer(plot_gradient_descent, controls, "Gradient descent on a 2-D surface")


# ------------------------------------------------------------------------------------------------
# Chapter 4: convolution geometry
# ------------------------------------------------------------------------------------------------

def demo_kernel(name: str, size: int) -> np.ndarray:
    """A ``(size, size)`` kernel from :data:`KERNELS` (edges are centred differences, blur averages)."""
    size = check_int(size, "kernel_size", low=1)
    ramp = np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros(1)
    if name == "vertical edges":
        return np.tile(ramp, (size, 1))
    if name == "horizontal edges":
        return np.tile(ramp[:, None], (1, size))
    if name == "box blur":
        return np.full((size, size), 1.0 / size**2)
    if name == "identity":
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1.0
        return k
    raise ValueError(f"kernel must be one of {KERNELS}, got {name!r}")


def _demo_image(n: int) -> np.ndarray:
    """An n×n image with a bright square on a dark background: it has edges in both directions."""
    img = np.zeros((n, n))
    lo, hi = n // 4, n - n // 4
    img[lo:hi, lo:hi] = 1.0
    return img


def conv_demo(
    n: int = 7, kernel_size: int = 3, pad: int = 0, stride: int = 1, kernel: str = "vertical edges"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convolve the demo image with a demo kernel using ``course_lib.conv``.

    Returns:
        ``image`` (n, n), ``weights`` (k, k) and ``output`` (n', n') with
        n' = conv_output_size(n, k, pad, stride).
    """
    from course_lib import conv

    n = check_int(n, "n", low=1)
    image = _demo_image(n)
    weights = demo_kernel(kernel, kernel_size)
    out, _ = conv.conv_forward(
        image[None, None], weights[None, None], np.zeros(1), stride=stride, pad=pad
    )
    return image, weights, out[0, 0]


def plot_conv(
    n: int = 7, kernel_size: int = 3, pad: int = 0, stride: int = 1, kernel: str = "vertical edges"
) -> Figure:
    """Padded input with the first two windows outlined, the kernel, and the output map.

    Args:
        n: input side length. kernel_size: k. pad: zeros on each side. stride: window step.
        kernel: one of :data:`KERNELS`.

    Returns:
        a Figure with three axes (input, kernel, output); the output axes' image is the
        ``(n', n')`` convolution result and its title states n'.

    Raises:
        ValueError: the kernel does not fit in the padded input (from ``course_lib.conv``).
    """
    from course_lib import conv

    size = conv.conv_output_size(n, kernel_size, pad, stride)
    image, weights, out = conv_demo(n, kernel_size, pad, stride, kernel)
    padded = np.pad(image, pad)
    fig = _new_figure(3, width=2.6, height=3.0)
    ax_in, ax_k, ax_out = fig.axes
    ax_in.imshow(padded, cmap="gray", vmin=-0.2, vmax=1.2)
    if pad:
        # Mark the zero padding so it is not mistaken for image content.
        side = padded.shape[0]
        ax_in.add_patch(Rectangle((-0.5, -0.5), side, side, fill=False, hatch="//", ec="tab:blue", lw=0))
        ax_in.add_patch(Rectangle((pad - 0.5, pad - 0.5), n, n, fill=False, ec="tab:blue", lw=1.5))
    ax_in.add_patch(Rectangle((-0.5, -0.5), kernel_size, kernel_size, fill=False, ec="tab:red", lw=2.5))
    if size > 1:
        ax_in.add_patch(Rectangle((stride - 0.5, -0.5), kernel_size, kernel_size, fill=False,
                                  ec="tab:orange", lw=2, ls="--"))
    ax_in.set_title(f"input {n}×{n}, pad {pad} → {n + 2 * pad}×{n + 2 * pad}")
    ax_k.imshow(weights, cmap="coolwarm", vmin=-1, vmax=1)
    ax_k.set_title(f"kernel {kernel_size}×{kernel_size} ({kernel})")
    ax_out.imshow(out, cmap="coolwarm")
    ax_out.set_title(f"output {size}×{size}")
    fig.suptitle(
        f"n' = ⌊(n + 2p − k) / s⌋ + 1 = ⌊({n} + 2·{pad} − {kernel_size}) / {stride}⌋ + 1 = {size}"
    )
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    # The pixel grid with every value: the reader can redo one output pixel by hand.
    for ax, values in ((ax_in, padded), (ax_k, weights), (ax_out, out)):
        _write_values(ax, values)
    return fig


def conv_explorer(n: int = 7) -> Explorer:
    """Kernel size, padding and stride of a convolution; the output size updates live."""
    controls = {
        "n": _slider(widgets.IntSlider, n, 3, 16, 1, "input size n"),
        "kernel_size": _slider(widgets.IntSlider, 3, 1, 7, 1, "kernel k"),
        "pad": _slider(widgets.IntSlider, 0, 0, 3, 1, "padding p"),
        "stride": _slider(widgets.IntSlider, 1, 1, 4, 1, "stride s"),
        "kernel": widgets.Dropdown(options=KERNELS, value="vertical edges", description="kernel"),
    }
    return Explorer(_plot_or_message(plot_conv), controls, "Convolution: kernel, padding, stride")


def _plot_or_message(plot: Callable[..., Figure]) -> Callable[..., Figure]:
    """Turn a geometry ValueError (kernel larger than the input, ...) into a figure saying so,
    so that moving a slider too far shows why instead of a traceback."""

    def safe(**values: Any) -> Figure:
        try:
            return plot(**values)
        except ValueError as err:
            fig = _new_figure(1, width=8, height=1.2)
            fig.axes[0].axis("off")
            fig.axes[0].text(0.5, 0.5, f"Not possible: {err}", ha="center", va="center", wrap=True)
            return fig

    return safe


# ------------------------------------------------------------------------------------------------
# Chapter 5: max pooling and its gradient routing
# ------------------------------------------------------------------------------------------------

def pooling_demo(
    x: np.ndarray | None = None, pool_size: int = 2, stride: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Max-pool a 2-D map and send an upstream gradient back through it with ``course_lib.pooling``.

    Args:
        x: (H, W) float input, default a random 4×4 map of small integers (seeded).
        pool_size, stride: pooling window and step.
        seed: seeds the default ``x`` and the upstream gradient.

    Returns:
        ``x`` (H, W), ``out`` (H', W'), ``dout`` (H', W') (distinct integers 1..H'·W') and
        ``dx`` (H, W), the gradient routed back to the inputs.
    """
    from course_lib import pooling

    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.permutation(16).reshape(4, 4).astype(np.float64)
    x = check_array(x, "x", ndim=2)
    out, cache = pooling.max_pool_forward(x[None, None], pool_size=pool_size, stride=stride)
    # Distinct upstream values make it visible which output sent its gradient where.
    dout = rng.permutation(out.size).reshape(out.shape).astype(np.float64) + 1
    dx = pooling.max_pool_backward(dout, cache)
    if isinstance(dx, tuple):  # tolerate a (dx,) return
        dx = dx[0]
    return x, out[0, 0], dout[0, 0], dx[0, 0]


def _annotated(ax: Any, values: np.ndarray, title: str, cmap: str) -> None:
    ax.imshow(values, cmap=cmap)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9, color="black",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_pooling(
    x: np.ndarray | None = None, pool_size: int = 2, stride: int = 2, seed: int = 0
) -> Figure:
    """Forward (input → max-pooled output) and backward (upstream gradient → routed ``dx``).

    Returns:
        a Figure with four axes showing, as images with their values written in, ``x``,
        the pooled ``out``, the upstream ``dout`` and ``dx`` (non-zero only at each window's max).
    """
    x, out, dout, dx = pooling_demo(x, pool_size, stride, seed)
    # Forward pass on the top row, backward pass below: 6.4 in wide, values readable at 9 pt.
    fig = _new_figure(2, width=3.2, height=3.0, nrows=2)
    _annotated(fig.axes[0], x, f"input x {x.shape[0]}×{x.shape[1]}", "Blues")
    _annotated(fig.axes[1], out, f"max pool {pool_size}×{pool_size}, stride {stride}", "Blues")
    _annotated(fig.axes[2], dout, "upstream gradient dout", "Oranges")
    _annotated(fig.axes[3], dx, "dx: gradient goes to each max", "Oranges")
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            fig.axes[0].add_patch(Rectangle((j * stride - 0.5, i * stride - 0.5), pool_size, pool_size,
                                            fill=False, ec="tab:red", lw=1.5))
    return fig


def pooling_explorer() -> Explorer:
    """Window size, stride and random input of max pooling; watch where gradients go."""
    controls = {
        "pool_size": _slider(widgets.IntSlider, 2, 1, 4, 1, "pool size"),
        "stride": _slider(widgets.IntSlider, 2, 1, 4, 1, "stride"),
        "seed": _slider(widgets.IntSlider, 0, 0, 20, 1, "random input"),
    }
    return Explorer(_plot_or_message(plot_pooling), controls, "Max pooling: forward and backward")


# ------------------------------------------------------------------------------------------------
# Chapters 4 and 9: receptive field of stacked convolutions
# ------------------------------------------------------------------------------------------------

def plot_receptive_field(num_layers: int = 3, kernel_size: int = 3, stride: int = 1) -> Figure:
    """Nested receptive fields of one output unit (left) and their growth with depth (right).

    Returns:
        a Figure with two axes; the right one's line 0 has x = 1..num_layers and
        y = :func:`course_lib.conv.receptive_field` of ``num_layers`` identical layers.
    """
    from course_lib.conv import receptive_field

    num_layers = check_int(num_layers, "num_layers", low=1)
    sizes = receptive_field([kernel_size] * num_layers, [stride] * num_layers)
    fig = _new_figure(2)
    ax_grid, ax_growth = fig.axes
    side = sizes[-1]
    ax_grid.set(xlim=(-0.5, side - 0.5), ylim=(side - 0.5, -0.5), aspect="equal",
                title=f"input pixels seen by one unit of layer {num_layers}")
    colors = [f"C{i % 10}" for i in range(num_layers)]
    centre = (side - 1) / 2
    # Draw the deepest layer's field first so shallower (smaller) ones stay visible on top.
    for layer in range(num_layers, 0, -1):
        r = sizes[layer - 1]
        ax_grid.add_patch(Rectangle((centre - r / 2, centre - r / 2), r, r, alpha=0.55,
                                    fc=colors[layer - 1], ec="black", label=f"layer {layer}: {r}×{r}"))
    ax_grid.add_patch(Rectangle((centre - 0.5, centre - 0.5), 1, 1, fc="black"))
    if side <= 40:
        ax_grid.set_xticks(np.arange(side + 1) - 0.5, minor=True)
        ax_grid.set_yticks(np.arange(side + 1) - 0.5, minor=True)
        ax_grid.grid(which="minor", color="white", lw=0.5)
    ax_grid.set_xticks([])
    ax_grid.set_yticks([])
    ax_grid.legend(loc="upper left", fontsize="small", bbox_to_anchor=(1.0, 1.0))
    layers = np.arange(1, num_layers + 1)
    ax_growth.plot(layers, sizes, "o-")
    for layer, r in zip(layers, sizes):
        ax_growth.annotate(str(r), (layer, r), textcoords="offset points", xytext=(0, 6), ha="center")
    ax_growth.set(xlabel="layer", ylabel="receptive field (pixels per side)",
                  title=f"{kernel_size}×{kernel_size} layers, stride {stride}",
                  xticks=layers)
    ax_growth.grid(alpha=0.3)
    return fig


def receptive_field_explorer() -> Explorer:
    """Depth, kernel size and stride of a stack of identical layers; the field grows with depth."""
    controls = {
        "num_layers": _slider(widgets.IntSlider, 3, 1, 8, 1, "layers"),
        "kernel_size": _slider(widgets.IntSlider, 3, 1, 7, 1, "kernel k"),
        "stride": _slider(widgets.IntSlider, 1, 1, 3, 1, "stride s"),
    }
    return Explorer(plot_receptive_field, controls, "Receptive field of stacked convolutions")


# ------------------------------------------------------------------------------------------------
# Chapter 8: dropout masks
# ------------------------------------------------------------------------------------------------

def dropout_demo(
    keep_prob: float = 0.5, shape: tuple[int, int] = (8, 12), mode: str = "train", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``course_lib.dropout.dropout_forward`` to positive activations.

    Returns:
        ``x`` of ``shape`` (values in [0.5, 1.5], never 0, so a zero in ``out`` means "dropped"),
        ``out`` of ``shape`` and the boolean ``kept`` mask (``out != 0``).
    """
    from course_lib import dropout

    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, size=shape)
    out, _ = dropout.dropout_forward(x, keep_prob, mode=mode, rng=rng)
    return x, out, out != 0


def plot_dropout(
    keep_prob: float = 0.5, mode: str = "train", seed: int = 0, shape: tuple[int, int] = (8, 12)
) -> Figure:
    """Activations, the random keep-mask, and the inverted-dropout output (kept units ÷ keep_prob).

    Returns:
        a Figure with three axes whose images are ``x``, the mask and ``out`` (all of ``shape``).
    """
    x, out, kept = dropout_demo(keep_prob, shape, mode, seed)
    fig = _new_figure(3, width=2.6, height=2.4)
    top = max(float(out.max()), float(x.max()))
    fig.axes[0].imshow(x, cmap="viridis", vmin=0, vmax=top)
    fig.axes[0].set_title(f"activations x (mean {x.mean():.2f})")
    fig.axes[1].imshow(kept, cmap="gray", vmin=0, vmax=1)
    fig.axes[1].set_title(f"mask: kept {kept.mean():.0%} (keep_prob {keep_prob:g})")
    fig.axes[2].imshow(out, cmap="viridis", vmin=0, vmax=top)
    fig.axes[2].set_title(f"{mode} output (mean {out.mean():.2f})")
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def dropout_explorer() -> Explorer:
    """keep_prob, train/test mode and a new random mask; the output's mean stays near the input's."""
    controls = {
        "keep_prob": _slider(widgets.FloatSlider, 0.5, 0.05, 1.0, 0.05, "keep_prob"),
        "mode": widgets.ToggleButtons(options=("train", "test"), value="train", description="mode"),
        "seed": _slider(widgets.IntSlider, 0, 0, 50, 1, "new mask"),
    }
    return Explorer(plot_dropout, controls, "Inverted dropout")


# ------------------------------------------------------------------------------------------------
# Chapter 7: batch normalization
# ------------------------------------------------------------------------------------------------

def batchnorm_demo(
    mean: float = 3.0, std: float = 2.0, gamma: float = 1.0, beta: float = 0.0,
    batch_size: int = 512, num_features: int = 3, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a batch whose features have different means/scales with ``course_lib.batchnorm``.

    Feature j of ``x`` is normal with mean ``mean + j`` and standard deviation ``std·(j+1)``,
    so the features start out on different scales.

    Returns:
        ``x`` and ``out``, both (batch_size, num_features); in train mode each column of
        ``out`` has mean ``beta`` and standard deviation ``gamma`` (up to eps).
    """
    from course_lib import batchnorm

    batch_size = check_int(batch_size, "batch_size", low=2)
    num_features = check_int(num_features, "num_features", low=1)
    rng = np.random.default_rng(seed)
    j = np.arange(num_features)
    x = rng.normal(size=(batch_size, num_features)) * (std * (j + 1)) + (mean + j)
    out, _ = batchnorm.batchnorm_forward(
        x, np.full(num_features, float(gamma)), np.full(num_features, float(beta)), {"mode": "train"}
    )
    return x, out


def plot_batchnorm(
    mean: float = 3.0, std: float = 2.0, gamma: float = 1.0, beta: float = 0.0, seed: int = 0
) -> Figure:
    """Histograms of three features before (left) and after (right) batch normalization.

    Returns:
        a Figure with two axes; each holds one histogram per feature, labelled with the
        feature's mean and standard deviation.
    """
    x, out = batchnorm_demo(mean, std, gamma, beta, seed=seed)
    fig = _new_figure(2)
    for ax, data, title in ((fig.axes[0], x, "before BN"), (fig.axes[1], out, f"after BN (γ={gamma:g}, β={beta:g})")):
        for j in range(data.shape[1]):
            col = data[:, j]
            # + 0.0 turns a rounded -0.00 into 0.00 in the label.
            mu, sd = round(float(col.mean()), 2) + 0.0, round(float(col.std()), 2)
            ax.hist(col, bins=40, alpha=0.5, label=f"feature {j}: μ={mu:.2f}, σ={sd:.2f}")
        ax.set(title=title, xlabel="activation", ylabel="count")
        ax.legend(fontsize="small")
    return fig


def batchnorm_explorer() -> Explorer:
    """Shift and scale the incoming activations and set γ, β; BN output follows γ and β only."""
    controls = {
        "mean": _slider(widgets.FloatSlider, 3.0, -10.0, 10.0, 0.5, "input mean"),
        "std": _slider(widgets.FloatSlider, 2.0, 0.1, 5.0, 0.1, "input std"),
        "gamma": _slider(widgets.FloatSlider, 1.0, 0.1, 3.0, 0.1, "γ (scale)"),
        "beta": _slider(widgets.FloatSlider, 0.0, -3.0, 3.0, 0.1, "β (shift)"),
        "seed": _slider(widgets.IntSlider, 0, 0, 20, 1, "new batch"),
    }
    return Explorer(plot_batchnorm, controls, "Batch Normalization: distributions before and after")

