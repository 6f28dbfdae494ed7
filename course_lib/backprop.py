"""Chapter 6 — backpropagation: computational graphs, gates, the affine layer, a two-layer net.

Backpropagation is the chain rule applied in a fixed order. Write the computation as a graph of
small operations; each operation knows only its *local* gradient (how its output moves with each
input). Walking the graph backwards from the output, every node multiplies the gradient arriving
from above, dL/dz, by its local gradient and passes dL/dx = dL/dz · dz/dx down. Where a value
feeds several operations, the gradients arriving from each use are *added* (multivariable chain
rule) — forgetting that sum is the classic bug.

Three views of the same idea, from small to large:

1. :class:`Value` — a scalar autodiff engine in the spirit of micrograd: each operation creates
   its output node and, right beside it, the closure that pushes the gradient back;
   :meth:`Value.backward` visits the nodes in reverse topological order. :func:`draw_graph` draws
   the graph with each node's value and gradient.
2. Gates with the lecture's ``forward``/``backward`` API (:class:`AddGate`, :class:`MultiplyGate`,
   :class:`MaxGate`, :class:`SigmoidGate`): the add gate *distributes* the gradient, the multiply
   gate *swaps* its inputs (dx = y·dz), the max gate *routes* it to the larger input.
3. Vectorised layers: :func:`affine_forward`/:func:`affine_backward` (``out = x @ w + b``) and the
   :class:`Affine` layer class, composed into :class:`TwoLayerNet`
   (affine – ReLU – affine – softmax cross-entropy, with L2 regularisation), which trains with
   the course's one training loop, :func:`course_lib.train.fit`.

For the affine layer, with ``dout = dL/dout`` of shape (N, M)::

    dx = dout @ w.T      (N, D)    each input feeds every output through its weight
    dw = x.T @ dout      (D, M)    summed over the batch: w is shared by all N examples
    db = dout.sum(0)     (M,)      likewise b

Each shape follows from the shapes alone — the quickest check of a backward pass.

Caches: the affine cache is the NamedTuple :class:`course_lib.validate.AffineCache` ``(x, w, b)``
(the convention of every chapter, see :mod:`course_lib.validate`);
:class:`TwoLayerNet` keeps the caches of its three layers inside :meth:`TwoLayerNet.loss`, and
the scalar graph keeps each node's inputs on the node itself.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from course_lib.init import as_rng, check_init, init_weights
from course_lib.layers import Layer
from course_lib.loss import l2_penalty, softmax_cross_entropy
from course_lib.neuron import relu_backward, relu_forward
from course_lib.validate import (
    AffineCache,
    check_array,
    check_cache,
    check_int,
    check_number,
    describe,
)

__all__ = [
    "AddGate",
    "Affine",
    "MaxGate",
    "MultiplyGate",
    "SigmoidGate",
    "TwoLayerNet",
    "Value",
    "affine_backward",
    "affine_forward",
    "draw_graph",
    "topological_order",
]


# ============================================================================================
# 1. A scalar computational graph
# ============================================================================================

def _real(x: object, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number or a Value, got {describe(x)}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


class Value:
    """A scalar node of a computational graph: its value ``data`` and ``grad`` = d(root)/d(self).

    Build expressions with ``+ - * / **`` (numbers are wrapped automatically) and the methods
    :meth:`exp`, :meth:`log`, :meth:`relu`, :meth:`max`, :meth:`sigmoid`, :meth:`tanh`; then call
    :meth:`backward` on the result.

    Gradient bookkeeping (the same as PyTorch's): ``backward`` recomputes the gradient of every
    *intermediate* node from scratch, but *adds* to the ``grad`` of the leaves (the inputs you
    created yourself). So two ``backward`` calls on two losses sum their gradients in the shared
    inputs; call :meth:`zero_grad` between training steps.

    Attributes:
        data: the value (float).
        grad: d(root)/d(this node) after ``root.backward()`` (float, 0.0 before).
        label: a name for drawings (optional).
    """

    def __init__(self, data: float, _children: Iterable[Value] = (), _op: str = "", label: str = "") -> None:
        self.data = _real(data, "data")
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev: tuple[Value, ...] = tuple(_children)
        self._op = _op
        self.label = label

    @staticmethod
    def _lift(other: object) -> Value:
        return other if isinstance(other, Value) else Value(_real(other, "operand"))

    # -- binary operations: the local gradient sits right beside each forward ------------------
    def __add__(self, other: object) -> Value:
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(a+b)/da = d(a+b)/db = 1: the gradient is copied to both
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: object) -> Value:
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(ab)/da = b, d(ab)/db = a: the inputs swap
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k: object) -> Value:
        if isinstance(k, Value):
            raise TypeError("only constant exponents are supported: x ** 2, not x ** Value(2)")
        k = _real(k, "exponent")
        x = self.data
        if x == 0 and k < 1 and k != 0:
            raise ValueError(f"0 ** {k}: the power has no finite derivative at 0")
        if x < 0 and not float(k).is_integer():
            raise ValueError(f"({x}) ** {k}: a negative base needs an integer exponent")
        out = Value(x**k, (self,), f"**{k:g}")

        def _backward() -> None:  # d(x^k)/dx = k x^(k−1)
            self.grad += (k * x ** (k - 1) if k != 0 else 0.0) * out.grad

        out._backward = _backward
        return out

    def max(self, other: object) -> Value:
        """``max(self, other)``; the gradient goes to the larger input (to ``self`` on a tie)."""
        other = self._lift(other)
        first = self.data >= other.data
        out = Value(self.data if first else other.data, (self, other), "max")

        def _backward() -> None:  # a router: the winner gets everything, the loser nothing
            if first:
                self.grad += out.grad
            else:
                other.grad += out.grad

        out._backward = _backward
        return out

    # -- unary operations -------------------------------------------------------------------------
    def exp(self) -> Value:
        if self.data > 709.0:  # e^709.78 is the largest float64
            raise ValueError(f"exp({self.data}) overflows float64")
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward() -> None:  # (e^x)' = e^x: reuse the forward result
            self.grad += e * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log needs a positive argument, got {self.data}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward() -> None:  # 1 for x > 0, 0 otherwise (including the kink at 0)
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        """σ(x) = 1 / (1 + e^(−x)) as *one* node, with the local gradient σ(1 − σ)."""
        x = self.data
        # exponentiate only −|x| so that neither branch overflows
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "σ")

        def _backward() -> None:
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    # -- everything else is built from the above ------------------------------------------------
    def __neg__(self) -> Value:
        return self * -1

    def __radd__(self, other: object) -> Value:
        return self + other

    def __sub__(self, other: object) -> Value:
        return self + (-self._lift(other))

    def __rsub__(self, other: object) -> Value:
        return self._lift(other) + (-self)

    def __rmul__(self, other: object) -> Value:
        return self * other

    def __truediv__(self, other: object) -> Value:
        other = self._lift(other)
        if other.data == 0:
            raise ValueError("division by a Value equal to 0")
        return self * other**-1

    def __rtruediv__(self, other: object) -> Value:
        if self.data == 0:
            raise ValueError("division by a Value equal to 0")
        return self._lift(other) * self**-1

    # -- backward -----------------------------------------------------------------------------
    def backward(self) -> None:
        """Fill ``grad`` of every node of the graph below with d(self)/d(node).

        Nodes are visited in reverse topological order, so a node's gradient is complete (all
        its uses have contributed) before it is passed on to its inputs.
        """
        order = topological_order(self)
        for node in order:
            if node._prev:  # intermediates: this pass only; leaves keep accumulating
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    def zero_grad(self) -> None:
        """Set ``grad`` of this node and every node below it to 0."""
        for node in topological_order(self):
            node.grad = 0.0

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"


def topological_order(root: Value) -> list[Value]:
    """All nodes that ``root`` depends on (and ``root``), each after all of its inputs.

    Iterative depth-first search, so deep graphs (a sum of thousands of terms) do not hit
    Python's recursion limit. A node used twice appears once.
    """
    if not isinstance(root, Value):
        raise TypeError(f"root must be a Value, got {describe(root)}")
    order: list[Value] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in node._prev if id(child) not in seen)
    return order


def _node_text(node: Value) -> str:
    head = node.label or ""
    if node._op:
        head = f"{head} [{node._op}]" if head else f"[{node._op}]"
    return f"{head}\ndata {node.data:.4g}\ngrad {node.grad:.4g}"


def draw_graph(
    root: Value,
    *,
    figsize: tuple[float, float] | None = None,
    fontsize: float | None = None,
    vertical: bool = False,
) -> Any:
    """Draw the computational graph of ``root``: one box per node, left (inputs) to right.

    Columns are depths: the output is on the right, and every node sits one column left of its
    leftmost consumer (longest path to the output), so inputs and constants appear next to the
    operation that uses them. Each box
    shows the node's label and operation, its value and its gradient (run ``root.backward()``
    first to see gradients). Pure matplotlib — no graphviz needed.

    Args:
        root: the output node.
        figsize: (width, height) in inches; default grows with the graph.
        fontsize: of the boxes and the title, in points. Default: 0.95 pt per inch of width
            (at least 9), so the text stays >= 9 px when a page column 688 px wide scales a wide
            graph down to fit (book/AUTHORING.md).
        vertical: draw top (inputs) to bottom (output) instead; a deep graph then fits a narrow
            page column with readable text.

    Returns:
        a ``matplotlib.figure.Figure`` with one axes whose ``texts`` are the node boxes (one text
        per node, in topological order). It is not registered with pyplot, so it neither shows
        twice in a notebook nor leaks memory in a loop.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    order = topological_order(root)
    # Column = distance to the output along the longest path, counted from the right, so every
    # node sits just left of its first consumer (constants appear next to the op that uses them).
    dist: dict[int, int] = {id(root): 0}
    parents: dict[int, list[Value]] = {}
    for node in reversed(order):  # consumers before their inputs
        for child in node._prev:
            dist[id(child)] = max(dist.get(id(child), 0), dist[id(node)] + 1)
            parents.setdefault(id(child), []).append(node)
    n_cols = max(dist.values()) + 1
    columns: dict[int, list[Value]] = {}
    for node in order:
        columns.setdefault(n_cols - 1 - dist[id(node)], []).append(node)
    n_rows = max(len(c) for c in columns.values())
    pos: dict[int, tuple[float, float]] = {}
    for d in sorted(columns, reverse=True):  # right to left: consumers are placed first
        # order each column by the mean height of the node's consumers (fewer crossing arrows)
        nodes = sorted(
            columns[d],
            key=lambda v: -float(np.mean([pos[id(p)][1] for p in parents.get(id(v), [])] or [0.0])),
        )
        for i, node in enumerate(nodes):
            pos[id(node)] = (float(d), (len(nodes) - 1) / 2 - i)  # centre each column
    depth = {key: x for key, (x, _) in pos.items()}  # column of each node, before any rotation
    if vertical:  # column d becomes row d from the top, a column's nodes spread left to right
        pos = {key: (-y, -x) for key, (x, y) in pos.items()}
        size = (max(3.0, 1.6 * n_rows), max(2.0, 1.0 * n_cols))
    else:
        size = (max(3.0, 2.3 * n_cols), max(2.0, 1.3 * n_rows))

    fig = Figure(figsize=figsize or size)
    if fontsize is None:
        fontsize = max(9.0, round(0.95 * fig.get_figwidth(), 1))
    ax = fig.add_subplot()
    shrink = 24 if vertical else 28  # points from a box's centre to where its arrows start/end
    for node in order:
        x, y = pos[id(node)]
        for k, child in enumerate(node._prev):
            # the same input used twice (x * x) gets two arrows, bent apart; an arrow that skips
            # columns is bent too, so it does not hide behind the boxes in between
            rad = 0.25 * k if node._prev.count(child) > 1 else 0.0
            skips = depth[id(node)] - depth[id(child)] > 1
            if skips and (pos[id(child)][0] == x or pos[id(child)][1] == y):
                rad = rad or -0.3
            ax.add_patch(FancyArrowPatch(
                pos[id(child)], (x, y), arrowstyle="-|>", mutation_scale=12, shrinkA=shrink, shrinkB=shrink,
                connectionstyle=f"arc3,rad={rad}", color="0.4", linewidth=1,
            ))
    for node in order:
        x, y = pos[id(node)]
        leaf = not node._prev
        ax.text(
            x, y, _node_text(node), ha="center", va="center", fontsize=fontsize, family="monospace",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#dbeafe" if leaf else "#fef3c7", "edgecolor": "0.3"},
        )
    if vertical:
        ax.set_xlim(-n_rows / 2 - 0.1, n_rows / 2 + 0.1)
        ax.set_ylim(-n_cols + 0.5, 0.5)
    else:
        ax.set_xlim(-0.6, n_cols - 0.4)
        ax.set_ylim(-n_rows / 2 - 0.2, n_rows / 2 + 0.2)
    ax.set_axis_off()
    ax.set_title("inputs (blue) → operations (yellow); data = forward value, grad = d(output)/d(node)",
                 fontsize=fontsize)
    return fig


# ============================================================================================
# 2. Gates with the lecture's forward/backward API
# ============================================================================================

def _operand(x: object, name: str) -> Any:
    if isinstance(x, np.ndarray):
        return check_array(x, name)
    return _real(x, name)


class _Gate:
    """Remembers its inputs in ``forward`` because ``backward`` needs them."""

    @staticmethod
    def _pair(x: Any, y: Any) -> tuple[Any, Any]:
        x, y = _operand(x, "x"), _operand(y, "y")
        # broadcasting would make dx, dy come back in the wrong shape: demand equal shapes
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
        return x, y

    def __init__(self) -> None:
        self._inputs: tuple[Any, ...] | None = None

    def _saved(self) -> tuple[Any, ...]:
        if self._inputs is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._inputs

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AddGate(_Gate):
    """``z = x + y``; backward *distributes*: dx = dy = dz. Scalars or same-shape arrays."""

    def forward(self, x: Any, y: Any) -> Any:
        self._inputs = self._pair(x, y)
        return self._inputs[0] + self._inputs[1]

    def backward(self, dz: Any) -> tuple[Any, Any]:
        self._saved()
        dz = _operand(dz, "dz")
        # two separate arrays: a caller that edits dx in place must not change dy
        return (dz.copy(), dz.copy()) if isinstance(dz, np.ndarray) else (dz, dz)


class MultiplyGate(_Gate):
    """``z = x · y``; backward *swaps*: dx = y · dz, dy = x · dz."""

    def forward(self, x: Any, y: Any) -> Any:
        self._inputs = self._pair(x, y)
        return self._inputs[0] * self._inputs[1]

    def backward(self, dz: Any) -> tuple[Any, Any]:
        x, y = self._saved()
        dz = _operand(dz, "dz")
        return y * dz, x * dz


class MaxGate(_Gate):
    """``z = max(x, y)``; backward *routes* dz to the larger input (to ``x`` on a tie)."""

    def forward(self, x: Any, y: Any) -> Any:
        x, y = self._inputs = self._pair(x, y)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return np.maximum(x, y)
        return max(x, y)

    def backward(self, dz: Any) -> tuple[Any, Any]:
        x, y = self._saved()
        dz = _operand(dz, "dz")
        x_wins = np.greater_equal(x, y)
        dx, dy = dz * x_wins, dz * np.logical_not(x_wins)
        if np.ndim(dx) == 0:
            return float(dx), float(dy)
        return dx, dy


class SigmoidGate(_Gate):
    """``z = σ(x)`` as one gate; backward uses the local gradient σ(x)(1 − σ(x)) = z(1 − z)."""

    def forward(self, x: Any) -> Any:
        x = _operand(x, "x")
        # −|x| in the exponent never overflows; σ(x) = e^x / (1 + e^x) for x < 0
        e = np.exp(-np.abs(x))
        z = np.where(np.asarray(x) >= 0, 1 / (1 + e), e / (1 + e))
        z = float(z) if not isinstance(x, np.ndarray) else z
        self._inputs = (z,)
        return z

    def backward(self, dz: Any) -> Any:
        (z,) = self._saved()
        dz = _operand(dz, "dz")
        return z * (1 - z) * dz


# ============================================================================================
# 3. The affine (fully connected) layer
# ============================================================================================

def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, AffineCache]:
    """Fully connected layer ``out = x @ w + b``.

    Args:
        x: (N, D) inputs, one example per row (flatten images first).
        w: (D, M) weights.
        b: (M,) biases.

    Returns:
        ``(out, cache)``: ``out`` (N, M) in ``x``'s dtype; ``cache = AffineCache(x, w, b)``.
    """
    x = check_array(x, "x", ndim=2)
    w = check_array(w, "w", ndim=2)
    b = check_array(b, "b", ndim=1)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} features per example (shape {x.shape}) but w expects {w.shape[0]} "
            f"(shape {w.shape}): x (N, D) needs w (D, M)"
        )
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
    out = (x @ w + b).astype(x.dtype, copy=False)
    return out, AffineCache(x, w, b)


def affine_backward(dout: np.ndarray, cache: AffineCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_forward`.

    Args:
        dout: (N, M) upstream gradient dL/dout.
        cache: the :class:`~course_lib.validate.AffineCache` ``(x, w, b)`` from the forward pass.

    Returns:
        ``(dx, dw, db)`` of shapes (N, D), (D, M), (M,), each in the dtype of its input:
        ``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = dout.sum(axis=0)``.
    """
    x, w, b = check_cache(cache, AffineCache, "affine_forward")
    dout = check_array(dout, "dout", ndim=2)
    if dout.shape != (x.shape[0], w.shape[1]):
        raise ValueError(f"dout must have the forward output's shape {(x.shape[0], w.shape[1])}, got {dout.shape}")
    dx = (dout @ w.T).astype(x.dtype, copy=False)
    dw = (x.T @ dout).astype(w.dtype, copy=False)
    db = dout.sum(axis=0).astype(b.dtype, copy=False)
    return dx, dw, db


class Affine(Layer):
    """Fully connected layer: ``x (N, D) -> x @ w + b (N, M)``.

    Args:
        in_features: D, integer >= 1.
        out_features: M, integer >= 1.
        init: ``"he"`` (for ReLU networks) or ``"xavier"`` weights; biases start at 0.
        rng: Generator, int seed or None.
        dtype: the parameters' dtype (float64 for gradient checks, float32 for speed).

    ``params``: ``w`` (D, M), ``b`` (M,). The output keeps the input's dtype.
    """

    per_example = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "he",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", low=1)
        self.out_features = check_int(out_features, "out_features", low=1)
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"dtype must be a floating type, got {np.dtype(dtype)}")
        self.init = check_init(init)
        shape = (self.in_features, self.out_features)
        gen = as_rng(rng)
        self.add_param("w", shape, dtype, lambda: init_weights(shape, init, gen, dtype))
        self.add_param("b", (self.out_features,), dtype, lambda: np.zeros(self.out_features, dtype=dtype))

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, AffineCache]:
        x = check_array(x, "x", ndim=2)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} expects x of shape (N, {self.in_features}), got {x.shape}")
        return affine_forward(x, self.params["w"], self.params["b"])

    def _backward(self, dout: np.ndarray, cache: AffineCache) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dx, dw, db = affine_backward(dout, cache)
        return dx, {"w": dw, "b": db}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"{self!r} needs one example of shape ({self.in_features},), got {tuple(input_shape)}")
        return (self.out_features,)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        self.output_shape(input_shape)
        return self.in_features * self.out_features

    def __repr__(self) -> str:
        return f"Affine({self.in_features}, {self.out_features})"


# ============================================================================================
# 4. A two-layer network
# ============================================================================================

class TwoLayerNet:
    """affine – ReLU – affine – softmax: ``scores = relu(X W1 + b1) W2 + b2``.

    The loss is the mean softmax cross-entropy plus the L2 penalty ``reg · (ΣW1² + ΣW2²)`` of
    :func:`course_lib.loss.l2_penalty` — the lecture's λ·R(W), without CS231n's factor ½, so the
    penalty adds ``2·reg·W`` to each weight gradient. Biases are not regularised.

    Args:
        input_dim: D; hidden_dim: H; num_classes: C (integers >= 1; C >= 2).
        init: ``"he"`` (default) or ``"xavier"``, unless ``weight_scale`` is given;
        weight_scale: if given, weights ~ N(0, weight_scale²) (CS231n's convention).
        reg: λ >= 0.
        seed: seed (or Generator) of the initialisation.
        dtype: parameter dtype.

    Attributes:
        params: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        num_classes: int,
        *,
        init: str = "he",
        weight_scale: float | None = None,
        reg: float = 0.0,
        seed: np.random.Generator | int | None = 0,
        dtype: Any = np.float64,
    ) -> None:
        d = check_int(input_dim, "input_dim", low=1)
        h = check_int(hidden_dim, "hidden_dim", low=1)
        c = check_int(num_classes, "num_classes", low=2)
        self.reg = check_number(reg, "reg", low=0)
        rng = as_rng(seed)
        if weight_scale is not None:
            scale = check_number(weight_scale, "weight_scale", low=0, low_inclusive=False)
            W1 = (scale * rng.standard_normal((d, h))).astype(dtype)
            W2 = (scale * rng.standard_normal((h, c))).astype(dtype)
        else:
            W1 = init_weights((d, h), init, rng, dtype)
            W2 = init_weights((h, c), init, rng, dtype)
        self.params: dict[str, np.ndarray] = {
            "W1": W1, "b1": np.zeros(h, dtype=dtype), "W2": W2, "b2": np.zeros(c, dtype=dtype),
        }
        self.input_dim, self.hidden_dim, self.num_classes = d, h, c

    def _check_X(self, X: object) -> np.ndarray:
        X = check_array(X, "X", ndim=2)
        if X.shape[1] != self.input_dim:
            raise ValueError(f"X must have shape (N, {self.input_dim}), got {X.shape}")
        return X

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Scores, or loss and gradients.

        Args:
            X: (N, D) inputs.
            y: (N,) integer labels in [0, C), or None.

        Returns:
            ``scores`` (N, C) if ``y`` is None; else ``(loss, grads)`` with ``grads`` holding an
            array of each parameter's shape under the parameter's name.
        """
        X = self._check_X(X)
        p = self.params
        h, cache1 = affine_forward(X, p["W1"], p["b1"])
        a, cache_relu = relu_forward(h)
        scores, cache2 = affine_forward(a, p["W2"], p["b2"])
        if y is None:
            return scores
        data_loss, dscores = softmax_cross_entropy(scores, y)
        reg_loss, (dW1_reg, dW2_reg) = l2_penalty([p["W1"], p["W2"]], self.reg)
        # backward: the same three layers in reverse order
        da, dW2, db2 = affine_backward(dscores.astype(scores.dtype, copy=False), cache2)
        dh = relu_backward(da, cache_relu)
        _, dW1, db1 = affine_backward(dh, cache1)
        grads = {"W1": dW1 + dW1_reg, "b1": db1, "W2": dW2 + dW2_reg, "b2": db2}
        return data_loss + reg_loss, grads

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class per row of ``X`` (N, D): the argmax of the scores, (N,) int."""
        return np.argmax(self.loss(X), axis=1)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows of ``X`` whose prediction equals ``y``."""
        pred = self.predict(X)
        y = np.asarray(y)
        if y.shape != pred.shape:
            raise ValueError(f"y must have shape {pred.shape}, got {y.shape}")
        return float(np.mean(pred == y))

    def __repr__(self) -> str:
        return f"TwoLayerNet({self.input_dim}, {self.hidden_dim}, {self.num_classes}, reg={self.reg:g})"
