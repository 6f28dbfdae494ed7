"""Chapter 9: composing layers into networks — the MNIST seed CNN, LeNet-5, AlexNet and VGG-16.

A network here is a :class:`Sequential` stack of the thin layer classes of chapters 1–8. Its
forward pass runs the layers in order; its backward pass runs them in reverse, each layer turning
``dL/d(its output)`` into ``dL/d(its input)`` and storing the gradients of its own parameters.

Two ways to describe a network
------------------------------
Every architecture function (:func:`seed_cnn`, :func:`mlp`, :func:`lenet5`, :func:`alexnet`,
:func:`vgg16`) first writes the network down as a :class:`ModelSpec`, a list of
:class:`LayerSpec` ("a 3×3 convolution from 64 to 128 channels with padding 1"). A spec asks its
layer class for output shapes, parameter shapes and multiply-adds, built "on paper" (the layer
without parameter memory, ``Layer.on_paper``), so
``summary(vgg16(materialize=False), (3, 224, 224))`` counts VGG-16's 138 million parameters
without allocating them (the weights alone would take 553 MB in float32). With
``materialize=True`` (the default) the spec is built into a trainable :class:`Sequential`.
The tests check that a spec and the network built from it report the same numbers.

Parameter counts, derived from the papers' layer tables
-------------------------------------------------------
A conv layer with F filters of size C×HH×WW has F·C·HH·WW weights and F biases; an affine layer
D→M has D·M weights and M biases. Pooling, activations and Flatten have none.

- seed CNN (MNIST): 416 + 12,832 + 65,664 + 1,290 = **80,202**.
- LeNet-5 as built here (C3 fully connected to S2, parameter-free average pooling, an affine
  output layer): 156 + 2,416 + 48,120 + 10,164 + 850 = **61,706**. LeCun et al. (1998) connect
  C3 to S2 through a table (60 of the 96 map pairs), which gives C3 1,516 parameters instead of
  2,416, give S2/S4 a trainable scale and bias per map (12 + 32), and end in an RBF layer with
  fixed weights: 156 + 12 + 1,516 + 32 + 48,120 + 10,164 = 60,000 trainable parameters.
- AlexNet, single tower (every conv sees all channels of the previous layer): **62,378,344**.
  The two-GPU original splits conv2, conv4 and conv5 into two groups that see half of the
  channels each, which leaves **60,965,224** (``alexnet(grouped=True, materialize=False)``).
  Local response normalisation (no parameters) is left out, as in most re-implementations.
- VGG-16, configuration D: 14,714,688 in the 13 convolutions + 123,642,856 in the three
  affine layers = **138,357,544**.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The chapter modules that define layer classes: importing them fills the registry LAYERS
# (tests/test_registries.py checks that no module defining a layer is missing here).
import course_lib.backprop
import course_lib.batchnorm
import course_lib.conv
import course_lib.dropout
import course_lib.pooling  # noqa: F401
from course_lib.conv import Conv2D, receptive_field
from course_lib.fast import fused as fast_fused
from course_lib.fast import parallel as fast_parallel
from course_lib.init import as_rng
from course_lib.layers import LAYERS, Layer, StepCache, build_layer, layer_class
from course_lib.neuron import ACTIVATIONS, ReLU
from course_lib.pooling import MaxPool2D
from course_lib.validate import check_array, check_int

__all__ = [
    "FORMAT_VERSION",
    "Flatten",
    "LayerSpec",
    "ModelSpec",
    "Residual",
    "Sequential",
    "Summary",
    "alexnet",
    "lenet5",
    "mlp",
    "seed_cnn",
    "stacked_vs_single",
    "summary",
    "vgg16",
]

#: Version of the ``.npz`` layout written by :meth:`Sequential.save`; bump it when the layout changes.
#: Version 2 records each layer's config (version 1 only its class and array shapes: such a file
#: still loads into the network it came from, but cannot rebuild one).
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_FORMAT_NAME = "course_lib.Sequential"

_BIAS_NAMES = frozenset({"b", "beta", "bias"})


# ------------------------------------------------------------------------------------------------
# Flatten
# ------------------------------------------------------------------------------------------------

class Flatten(Layer):
    """Reshape ``(N, d1, d2, ...)`` to ``(N, d1·d2·...)``: the bridge from conv to affine layers.

    The order is C-order (channel, row, column), the same "vectorisation" the chapter's seed
    network uses; backward reshapes the gradient back, so no numbers change on the way.
    """

    per_example = True

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        x = check_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"Flatten needs a batch axis and at least one more, got shape {x.shape}")
        return x.reshape(x.shape[0], -1), x.shape

    def _backward(self, dout: np.ndarray, cache: tuple[int, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dout = check_array(dout, "dout", ndim=2)
        n, d = cache[0], math.prod(cache[1:])
        if dout.shape != (n, d):
            raise ValueError(f"dout must have shape {(n, d)} to match the forward input {cache}, got {dout.shape}")
        return dout.reshape(cache), {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) < 1:
            raise ValueError("Flatten needs an input shape with at least one axis")
        return (math.prod(input_shape),)


# ------------------------------------------------------------------------------------------------
# Specs: a network on paper
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSpec:
    """One layer on paper: the class name and its constructor arguments.

    ``LayerSpec("Conv2D", (3, 64, 3), {"pad": 1})`` is the layer ``Conv2D(3, 64, 3, pad=1)``.
    Its :meth:`output_shape`, :meth:`param_shapes` and :meth:`macs` are those of the layer class
    itself, asked through ``Layer.on_paper`` (the layer without parameter memory), so a spec
    costs no memory. ``groups`` (conv only) describes grouped convolutions, which exist only on
    paper here (to count the two-GPU AlexNet); such a spec cannot be built.
    """

    kind: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layer_class(self.kind)
        groups = self.kwargs.get("groups", 1)
        if groups != 1:
            if self.kind != "Conv2D":
                raise ValueError(f"{self!r}: only Conv2D specs can have groups")
            c_in, f = self.args[0], self.args[1]
            if check_int(groups, "groups", low=1) and (c_in % groups or f % groups):
                raise ValueError(f"{self!r}: groups={groups} must divide in_channels {c_in} and out_channels {f}")

    def __hash__(self) -> int:
        return hash((self.kind, self.args, tuple(sorted(self.kwargs.items()))))

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.kind}({', '.join(parts)})"

    def label(self) -> str:
        """Short name for tables: the repr without the options that do not change the numbers."""
        parts = [repr(a) for a in self.args] + [
            f"{k}={v!r}" for k, v in self.kwargs.items() if k not in ("init", "need_dx")
        ]
        return f"{self.kind}({', '.join(parts)})"

    @property
    def groups(self) -> int:
        return int(self.kwargs.get("groups", 1))

    # -- building -----------------------------------------------------------------------------------
    def _call(self, make: Any, **defaults: Any) -> Layer:
        """``make(*args, **kwargs)`` with ``defaults`` for the keywords the class accepts."""
        kwargs = {k: v for k, v in self.kwargs.items() if k != "groups"}
        accepted = inspect.signature(layer_class(self.kind)).parameters
        for key, value in defaults.items():
            if key in accepted:
                kwargs.setdefault(key, value)
        return make(*self.args, **kwargs)

    def build(self, *, rng: np.random.Generator | None = None, dtype: type = np.float32) -> Layer:
        """Construct the real layer (weights drawn from ``rng``, stored in ``dtype``)."""
        if self.groups != 1:
            raise ValueError(
                f"{self!r}: grouped convolutions exist only as specs (for counting parameters); "
                "Conv2D has no groups — build the single-tower variant instead"
            )
        return self._call(layer_class(self.kind), rng=rng, dtype=dtype)

    def on_paper(self) -> Layer:
        """The layer without parameter memory (see ``Layer.on_paper``); a grouped conv as one tower."""
        return self._call(layer_class(self.kind).on_paper)

    # -- arithmetic: asked of the layer class --------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """One example's output shape for one example's ``input_shape`` (no batch axis)."""
        return tuple(self.on_paper().output_shape(tuple(input_shape)))

    def param_shapes(self, input_shape: tuple[int, ...] | None = None) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every trainable parameter (the names the real layer uses).

        A grouped convolution is ``groups`` convolutions side by side, each from C/groups to
        F/groups channels: its ``w`` is (F, C/groups, HH, WW).
        """
        shapes = {k: tuple(v.shape) for k, v in self.on_paper().params.items()}
        if self.groups != 1:
            f, c, *kernel = shapes["w"]
            shapes["w"] = (f, c // self.groups, *kernel)
        return shapes

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-adds for one example, the layer class's ``macs`` (divided by ``groups``)."""
        return int(self.on_paper().macs(tuple(input_shape))) // self.groups


class ModelSpec:
    """A network on paper: a list of :class:`LayerSpec`; :meth:`build` turns it into a Sequential."""

    def __init__(self, specs: Iterable[LayerSpec], name: str = "model") -> None:
        self.specs = list(specs)
        for i, s in enumerate(self.specs):
            if not isinstance(s, LayerSpec):
                raise TypeError(f"ModelSpec entry {i} must be a LayerSpec, got {type(s).__name__}")
        self.name = name

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __repr__(self) -> str:
        body = ",\n".join(f"  {s!r}" for s in self.specs)
        return f"ModelSpec({self.name!r}, [\n{body}\n])"

    def build(self, *, rng: np.random.Generator | int | None = None, dtype: type = np.float32) -> Sequential:
        """Allocate the weights: one generator, drawn from in layer order, makes it reproducible."""
        gen = as_rng(rng)
        return Sequential(*(s.build(rng=gen, dtype=dtype) for s in self.specs))

    def num_params(self) -> int:
        return sum(math.prod(shape) for s in self.specs for shape in s.param_shapes().values())


# ------------------------------------------------------------------------------------------------
# Sequential
# ------------------------------------------------------------------------------------------------

# How Sequential runs its layers: a plan of steps, each one layer or a group run as one.

class _Step:
    """One layer run by itself (the default step); subclasses run a group of consecutive layers
    of exactly the classes ``kinds`` as one step, with the same numbers.

    A group's forward may leave one :class:`~course_lib.layers.StepCache` in every layer of the
    group; backward then uses it, and otherwise (someone ran a layer's own ``forward`` in
    between) runs the layers' own ``backward`` in reverse, where a layer still holding a
    StepCache refuses with a clear error instead of computing something else.
    """

    kinds: tuple[type[Layer], ...] = ()

    def forward(self, group: Sequence[Layer], x: np.ndarray) -> np.ndarray:
        for layer in group:
            x = layer.forward(x)
        return x

    def backward(self, group: Sequence[Layer], dout: np.ndarray) -> np.ndarray | None:
        held = group[0]._cache
        if isinstance(held, StepCache) and held.data[0] is self and all(layer._cache is held for layer in group):
            dx, grads = self.backward_held(group, held.data[1], dout)
            for layer, g in zip(group, grads):
                layer._cache, layer.grads = None, dict(g)
            return dx
        for i in range(len(group) - 1, -1, -1):
            dout = group[i].backward(dout)
            if dout is None and i > 0:
                raise RuntimeError(f"{group[i]!r} returned no input gradient but {group[i - 1]!r} needs one")
        return dout

    def backward_held(self, group: Sequence[Layer], data: Any, dout: np.ndarray) -> tuple[Any, Sequence[Any]]:
        """``(dL/dx, the gradients of every layer of the group)`` from the ``data`` that
        :meth:`forward` held (only groups hold any)."""
        raise NotImplementedError

    def hold(self, group: Sequence[Layer], data: Any) -> None:
        """Leave one StepCache with ``data`` (for :meth:`backward_held`) in every layer of ``group``."""
        held = StepCache((self, data))
        for layer in group:
            layer._cache = held


class _PoolThenReLU(_Step):
    """ReLU -> MaxPool2D run as max pooling -> ReLU: the same numbers, the ReLU on the pooled
    output (4× fewer values for 2 × 2 windows).

    Max commutes with max(0, ·). Backward agrees too: where a window's maximum is > 0 its
    maxima are at the same places in ``x`` and in ``relu(x)`` (the first one gets the gradient
    in both orders); where it is <= 0 the gradient is 0 in both.
    """

    kinds = (ReLU, MaxPool2D)

    def forward(self, group: Sequence[Layer], x: np.ndarray) -> np.ndarray:
        relu, pool = group
        out = relu.forward(pool.forward(x))
        self.hold(group, (relu._cache, pool._cache))
        return out

    def backward_held(self, group: Sequence[Layer], data: Any, dout: np.ndarray) -> tuple[Any, Sequence[Any]]:
        relu, pool = group
        d, relu_grads = relu._backward(dout, data[0])
        dx, pool_grads = pool._backward(d, data[1])
        return dx, (relu_grads, pool_grads)


class _ConvReLUPool(_Step):
    """Conv2D -> ReLU -> MaxPool2D as one step (:mod:`course_lib.fast.fused`) when the pooling
    windows tile the convolution's output exactly; otherwise the convolution, then
    :class:`_PoolThenReLU`."""

    kinds = (Conv2D, ReLU, MaxPool2D)

    def forward(self, group: Sequence[Layer], x: np.ndarray) -> np.ndarray:
        conv, _, pool = group
        if not any(layer.paper for layer in group):
            inputs = conv._conv_inputs(x)  # type: ignore[attr-defined]
            if fast_fused.applies(inputs[-2:], pool.pool_size, pool.stride):  # type: ignore[attr-defined]
                out, cache = fast_fused.conv_relu_pool_forward(*inputs, pool.pool_size,  # type: ignore[attr-defined]
                                                               conv._workspace)  # type: ignore[attr-defined]
                self.hold(group, cache)
                return out
        return _POOL_THEN_RELU.forward(group[1:], conv.forward(x))

    def backward(self, group: Sequence[Layer], dout: np.ndarray) -> np.ndarray | None:
        if isinstance(group[0]._cache, StepCache):
            return super().backward(group, dout)
        return group[0].backward(_POOL_THEN_RELU.backward(group[1:], dout))

    def backward_held(self, group: Sequence[Layer], data: Any, dout: np.ndarray) -> tuple[Any, Sequence[Any]]:
        conv = group[0]
        dx, conv_grads = conv._grads(  # type: ignore[attr-defined]
            *fast_fused.conv_relu_pool_backward(dout, data, conv.need_dx, conv._workspace))  # type: ignore[attr-defined]
        return dx, (conv_grads, {}, {})


_ONE, _POOL_THEN_RELU = _Step(), _PoolThenReLU()
_GROUPS = (_ConvReLUPool(), _POOL_THEN_RELU)  # tried in this order at every position


@functools.lru_cache(maxsize=256)
def _plan(kinds: tuple[type[Layer], ...]) -> tuple[tuple[int, int, _Step], ...]:
    """The steps ``(start, stop, step)`` for layers of the classes ``kinds``: the first group of
    :data:`_GROUPS` whose classes come next, else one layer."""
    plan, i = [], 0
    while i < len(kinds):
        step = next((g for g in _GROUPS if kinds[i:i + len(g.kinds)] == g.kinds), _ONE)
        stop = i + max(1, len(step.kinds))
        plan.append((i, stop, step))
        i = stop
    return tuple(plan)


class Sequential(Layer):
    """Layers applied one after the other; backward runs them in reverse (the chain rule).

    ``parameters()`` and ``gradients()`` flatten the layers' dictionaries into one, keyed
    ``"<layer index>.<name>"`` (``"0.w"``, ``"0.b"``, ``"3.w"``, ...), the same arrays the layers
    hold — an optimiser that updates them in place updates the network; one that returns new
    arrays writes them back with :meth:`set_parameters`.
    """

    def __init__(self, *layers: Layer) -> None:
        # Layer.__init__ would bind self.params; here params are a view of the layers' params.
        self.training = True
        self._cache = None
        if len(layers) == 1 and isinstance(layers[0], list | tuple):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: layer {i} must be a course_lib Layer, got {type(layer).__name__}")
        self.layers: list[Layer] = list(layers)

    # -- container --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        body = ",\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{body}\n)"

    def config(self) -> dict[str, Any]:
        """``{"layers": [record of each layer]}`` (see :func:`course_lib.layers.build_layer`)."""
        return {"layers": [layer.record() for layer in self.layers]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, on_paper: bool = False) -> Sequential:
        layers = config["layers"]
        if not isinstance(layers, list):
            raise TypeError(f"'layers' must be a list of layer records, got {type(layers).__name__}")
        return cls(*(build_layer(r, on_paper=on_paper) for r in layers))

    # -- forward / backward -------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run every layer on ``x`` (shape ``(N, ...)``, what the first layer takes) and return the output.

        With several threads (:func:`course_lib.fast.set_num_threads`) a large enough batch
        through layers that treat each example on its own is split into one share per thread,
        the shares after the first running in worker processes when every layer is one of
        course_lib's classes (:mod:`course_lib.fast.parallel`); the result is the same. Each
        layer then keeps the cache of the first share only, so run the backward pass through
        :meth:`backward` (which sends every share back) — calling the layers' own ``backward``
        one by one after a split forward raises a shape error; run the layers' ``forward`` one
        by one too, or ``set_num_threads(1)``, to step through a network by hand.

        A few groups of consecutive layers run as one step, with the same numbers: Conv2D ->
        ReLU -> MaxPool2D (when the windows tile the convolution's output) as one fused pass
        (:mod:`course_lib.fast.fused`), ReLU -> MaxPool2D as the pooling followed by the ReLU.
        The layers of such a group then hold a cache of the step that only :meth:`backward` can
        use: calling one of their own ``backward`` after this forward raises a RuntimeError
        (after the layers' own ``forward``, their caches are theirs again).
        """
        split = self._batch_split(x)
        if split is None:
            self._cache = None
            return self._run_forward(self.layers, x)
        try:
            out = split.forward(x)
        except (TypeError, ValueError):
            self._cache = None  # the error as the whole batch raises it (shapes and all)
            return self._run_forward(self.layers, x)
        self._cache = split
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """Propagate ``dL/dout`` back through every layer; return ``dL/dx`` for the network input.

        Returns None when the first layer skips its input gradient (``Conv2D(..., need_dx=False)``,
        which the architectures use on the first convolution: nobody needs ``dL/d(image)`` to train).
        """
        if isinstance(self._cache, fast_parallel.BatchSplit):
            split, self._cache = self._cache, None
            return split.backward(dout)
        return self._run_backward(self.layers, dout)

    @staticmethod
    def _run_forward(layers: Sequence[Layer], x: np.ndarray) -> np.ndarray:
        for start, stop, step in _plan(tuple(map(type, layers))):
            x = step.forward(layers[start:stop], x)
        return x

    @staticmethod
    def _run_backward(layers: Sequence[Layer], dout: np.ndarray) -> np.ndarray | None:
        for start, stop, step in reversed(_plan(tuple(map(type, layers)))):
            dout = step.backward(layers[start:stop], dout)
            if dout is None and start > 0:
                raise RuntimeError(
                    f"layer {start} ({layers[start]!r}) returned no input gradient (need_dx=False?) "
                    "but layers before it need one"
                )
        return dout

    def _batch_split(self, x: Any) -> fast_parallel.BatchSplit | None:
        """The data-parallel runner for ``x``, or None when the batch is not split (one thread,
        a small batch, or a layer that is not :attr:`~course_lib.layers.Layer.per_example`)."""
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            return None
        t = fast_parallel.shares(x.shape[0])
        if t < 2 or not all(layer.per_example for layer in self.layers):
            return None
        split = getattr(self, "_split", None)
        if split is None or not split.matches(self.layers, t):
            split = self._split = fast_parallel.BatchSplit(self.layers, t, self._run_forward, self._run_backward)
        return split

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class scores ``(N, K)`` in evaluation mode, computed in batches; restores the mode after."""
        batch_size = check_int(batch_size, "batch_size", low=1)
        was_training = self.training
        self.eval()
        try:
            outs = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        finally:
            for layer in self.layers:
                layer._cache = None
            if was_training:
                self.train()
        return np.concatenate(outs) if outs else np.empty((0,))

    # -- parameters ---------------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return self.parameters()

    @property
    def grads(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return self.gradients()

    def parameters(self) -> dict[str, np.ndarray]:
        """All trainable arrays, ``"<index>.<name>" -> array`` (the layers' own arrays, not copies)."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients from the last backward pass, under the same keys as :meth:`parameters`."""
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for k in layer.params:
                if k not in layer.grads:
                    raise RuntimeError(
                        f"layer {i} ({type(layer).__name__}) has no gradient for {k!r}: run backward first"
                    )
                out[f"{i}.{k}"] = layer.grads[k]
        return out

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace parameters by key (shape and dtype kept); unknown keys raise ``ValueError``."""
        mine = self.parameters()
        for key, value in params.items():
            if key not in mine:
                raise ValueError(f"set_parameters: unknown parameter {key!r}; known: {sorted(mine)}")
            if np.shape(value) != mine[key].shape:
                raise ValueError(
                    f"set_parameters: {key!r} must have shape {mine[key].shape}, got {np.shape(value)}"
                )
            i, name = key.split(".", 1)
            layer = self.layers[int(i)]
            if isinstance(layer, Sequential | Residual):     # nested: its params are a view
                layer.set_parameters({name: value})
            else:
                layer.params[name] = np.asarray(value, dtype=mine[key].dtype)

    def num_params(self) -> int:
        return int(sum(layer.num_params() for layer in self.layers))

    # -- modes ----------------------------------------------------------------------------------------
    def train(self) -> Sequential:
        """Training mode for every layer (Dropout drops, BatchNorm uses batch statistics)."""
        self.training = True
        for layer in self.layers:
            layer.train()
        return self

    def eval(self) -> Sequential:
        """Evaluation mode for every layer (Dropout is the identity, BatchNorm uses running stats)."""
        self.training = False
        for layer in self.layers:
            layer.eval()
        return self

    # -- shapes -----------------------------------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return tuple(input_shape)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        total = 0
        for layer in self.layers:
            total += layer.macs(input_shape)
            input_shape = layer.output_shape(input_shape)
        return total

    # -- state (for nesting) ----------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.state().items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        per_layer: dict[int, dict[str, np.ndarray]] = {}
        for key, v in state.items():
            i, name = key.split(".", 1)
            per_layer.setdefault(int(i), {})[name] = v
        for i, s in per_layer.items():
            self.layers[i].load_state(s)

    # -- save / load --------------------------------------------------------------------------------------
    def architecture(self) -> list[dict[str, Any]]:
        """What save() records per layer: its class and config (which rebuild it) and the shapes
        of its parameters and state (which the file's arrays must have)."""
        return [_entry(layer) for layer in self.layers]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write parameters, layer state (running statistics) and the architecture to ``.npz``."""
        arrays: dict[str, np.ndarray] = {
            "__format__": np.array(_FORMAT_NAME),
            "__version__": np.array(FORMAT_VERSION),
            "__architecture__": np.array(json.dumps(self.architecture())),
        }
        for key, v in self.parameters().items():
            arrays[f"param/{key}"] = v
        for key, v in self.state().items():
            arrays[f"state/{key}"] = np.asarray(v)
        np.savez(path, **arrays)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Sequential:
        """The network saved in ``path``, rebuilt layer by layer through the layer registry
        (:func:`course_lib.layers.build_layer`), with its parameters and state.

        Raises:
            ValueError: as :meth:`load`, and for a version-1 file (it records no configs).
        """
        version, saved, data = _read_model_file(path)
        if version < 2:
            raise ValueError(
                f"{os.fspath(path)!r} has format version {version}, which does not record the layers' "
                "configs: load it into the network it was saved from (net.load(path)) and save it again"
            )
        net = cls(*(_rebuild(path, i, entry, on_paper=False) for i, entry in enumerate(saved)))
        net._copy_arrays(data)
        return net

    def load(self, path: str | os.PathLike[str]) -> Sequential:
        """Load weights saved by :meth:`save` into this network (in place; returns ``self``).

        The file's layers are rebuilt on paper through the layer registry and must be this
        network's layers: same classes, same configs (the parameters' dtype aside, the values are
        cast) and the same array shapes.

        Raises:
            ValueError: the file is not a readable course_lib model file, was written by another
                format version, names a layer class this library does not have or a config its
                class refuses, or describes a different architecture (the message names the
                first layer that differs).
        """
        version, saved, data = _read_model_file(path)
        mine = self.architecture()
        if len(saved) != len(mine):
            raise ValueError(
                f"architecture mismatch: the file has {len(saved)} layers, this network has {len(mine)}"
            )
        for i, (s, m) in enumerate(zip(saved, mine)):
            if version < 2:  # no configs recorded: classes and shapes are all there is to compare
                s, m = ({k: e[k] for k in ("class", "params", "state")} for e in (s, m))
                theirs = s["class"]
            else:
                theirs = repr(_rebuild(path, i, s, on_paper=True))
                s, m = _strict(s), _strict(m)
            if s != m:
                raise ValueError(
                    f"architecture mismatch at layer {i}: the file has {theirs} with parameters "
                    f"{s['params']}, this network has {self.layers[i]!r} with parameters {m['params']}"
                )
        self._copy_arrays(data)
        return self

    def _copy_arrays(self, data: Mapping[str, np.ndarray]) -> None:
        """Parameters and state from a model file's arrays (checked against the architecture)."""
        for key, v in self.parameters().items():
            stored = data.get(f"param/{key}")
            if stored is None or stored.shape != v.shape:
                raise ValueError(f"model file is missing parameter {key!r} or has the wrong shape")
            v[...] = stored.astype(v.dtype, copy=False)
        state = {k[len("state/"):]: v for k, v in data.items() if k.startswith("state/")}
        if state:
            self.load_state(state)


def _entry(layer: Layer) -> dict[str, Any]:
    """A layer's line of :meth:`Sequential.architecture`: record plus array shapes."""
    return {
        **layer.record(),
        "params": {k: list(v.shape) for k, v in layer.params.items()},
        "state": {k: list(np.shape(v)) for k, v in layer.state().items()},
    }


def _strict(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An architecture entry without the config entries a loading network may differ in
    (``Layer.loose_config``), containers' layers included."""
    cls = LAYERS[entry["class"]]
    config = {k: v for k, v in entry["config"].items() if k not in cls.loose_config}
    if isinstance(config.get("layers"), list):
        config["layers"] = [_strict({**r, "params": {}, "state": {}}) for r in config["layers"]]
    return {**entry, "config": config}


def _read_model_file(path: str | os.PathLike[str]) -> tuple[int, list[dict[str, Any]], dict[str, np.ndarray]]:
    """(format version, architecture entries, arrays) of a model file; every class it names is
    one of the layer registry."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"cannot read model file {os.fspath(path)!r}: {e}") from e
    if "__format__" not in data or str(data["__format__"]) != _FORMAT_NAME:
        raise ValueError(f"{os.fspath(path)!r} is not a course_lib Sequential file (no format marker)")
    version = int(data["__version__"]) if "__version__" in data else -1
    if version not in _READABLE_VERSIONS:
        raise ValueError(
            f"{os.fspath(path)!r} has format version {version}, this library reads versions "
            f"{', '.join(map(str, _READABLE_VERSIONS))}: re-save the model with the current library"
        )
    try:
        saved = json.loads(str(data["__architecture__"]))
    except (KeyError, ValueError) as e:
        raise ValueError(f"{os.fspath(path)!r}: no readable architecture record ({e})") from None
    keys = {"class", "params", "state"} | ({"config"} if version >= 2 else set())
    for i, s in enumerate(saved if isinstance(saved, list) else [None]):
        if not isinstance(s, dict) or not keys <= set(s):
            raise ValueError(f"{os.fspath(path)!r}: layer {i} is recorded as {s!r}, not a dict with {sorted(keys)}")
        if s["class"] not in LAYERS:
            raise ValueError(
                f"{os.fspath(path)!r}: layer {i} is a {s['class']!r}, which is not a layer "
                f"class of this library (known: {sorted(LAYERS)})"
            )
    return version, saved, data


def _rebuild(path: str | os.PathLike[str], i: int, entry: Mapping[str, Any], *, on_paper: bool) -> Layer:
    """Layer ``i`` of a model file, built through the registry from its recorded config; its
    parameter and state shapes must be the recorded ones."""
    try:
        layer = build_layer(entry, on_paper=on_paper)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)!r}: layer {i}: {e}") from None
    built = _entry(layer)
    for what in ("params", "state"):
        if built[what] != entry[what]:
            raise ValueError(
                f"{os.fspath(path)!r}: layer {i} ({layer!r}) records {what} {entry[what]}, but its config "
                f"builds {built[what]}: the file is corrupt"
            )
    return layer


class Residual(Layer):
    """A skip connection around a stack of layers: ``y = x + body(x)`` (He et al., 2016).

    ``body`` is a :class:`Sequential` of the given layers; it must map an input ``(N, ...)`` to an
    output of the same shape (a ResNet *basic block*'s body is conv–BN–ReLU–conv–BN; the block's
    final ReLU, if wanted, is a separate layer after the ``Residual``). The backward pass adds the
    two paths' gradients: ``dL/dx = dL/dy + body.backward(dL/dy)`` — the identity path hands the
    upstream gradient back unchanged, whatever the body does to it.

    Parameters, gradients, running statistics and train/eval mode are the body's, under the
    body's keys (``"0.w"``, ``"0.b"``, ...); in an enclosing :class:`Sequential` they appear as
    ``"<index>.0.w"`` and so on.
    """

    def __init__(self, *layers: Layer) -> None:
        # Layer.__init__ would bind self.params; here params are a view of the body's params.
        self.training = True
        self._cache = None
        if not layers:
            raise ValueError("Residual needs at least one layer in its body")
        self.body = Sequential(*layers)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.body)
        return f"Residual({inner})"

    def config(self) -> dict[str, Any]:
        """``{"layers": [record of each layer of the body]}``."""
        return self.body.config()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, on_paper: bool = False) -> Residual:
        return cls(*Sequential.from_config(config, on_paper=on_paper).layers)

    @property
    def params(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return self.body.parameters()

    @property
    def grads(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return self.body.gradients()

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace the body's parameters by key (see :meth:`Sequential.set_parameters`)."""
        self.body.set_parameters(params)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x (N, ...) -> x + body(x)``, same shape; ValueError if the body changes the shape."""
        x = check_array(x, "x")
        out = self.body.forward(x)
        if out.shape != x.shape:
            raise ValueError(
                f"Residual: the body maps input shape {x.shape} to {out.shape}; a skip connection "
                "needs the same shape (change the body, or project the shortcut)"
            )
        self._cache = x.shape
        return x + out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dL/dy (N, ...) -> dL/dx = dL/dy + body.backward(dL/dy)``; the body stores its gradients."""
        if self._cache is None:
            raise RuntimeError("Residual.backward was called before forward: run forward on the batch first")
        dout = check_array(dout, "dout")
        if dout.shape != self._cache:
            raise ValueError(f"Residual: dout must have the output's shape {self._cache}, got {dout.shape}")
        dx_body = self.body.backward(dout)
        if dx_body is None:
            raise RuntimeError("Residual: the body's first layer returned no input gradient (need_dx=False?)")
        self._cache = None
        return dout + dx_body

    def train(self) -> Residual:
        self.training = True
        self.body.train()
        return self

    def eval(self) -> Residual:
        self.training = False
        self.body.eval()
        return self

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        out = self.body.output_shape(input_shape)
        if tuple(out) != tuple(input_shape):
            raise ValueError(f"Residual: the body maps {tuple(input_shape)} to {tuple(out)}; the shapes must match")
        return tuple(out)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        return self.body.macs(input_shape)

    def num_params(self) -> int:
        return self.body.num_params()

    def state(self) -> dict[str, np.ndarray]:
        return self.body.state()

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.body.load_state(state)


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------

@dataclass
class SummaryRow:
    index: int
    name: str
    output_shape: tuple[int, ...]
    weights: int
    biases: int
    macs: int

    @property
    def params(self) -> int:
        return self.weights + self.biases


@dataclass
class Summary:
    """Per-layer table of output shapes, weights, biases and multiply-adds, with totals."""

    input_shape: tuple[int, ...]
    rows: list[SummaryRow]

    @property
    def total_weights(self) -> int:
        return sum(r.weights for r in self.rows)

    @property
    def total_biases(self) -> int:
        return sum(r.biases for r in self.rows)

    @property
    def total_params(self) -> int:
        return self.total_weights + self.total_biases

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    def __str__(self) -> str:
        head = ("#", "layer", "output shape", "weights", "biases", "mult-adds")
        body = [(str(r.index), r.name, str(r.output_shape), f"{r.weights:,}", f"{r.biases:,}", f"{r.macs:,}")
                for r in self.rows]
        foot = ("", "total", "", f"{self.total_weights:,}", f"{self.total_biases:,}", f"{self.total_macs:,}")
        cols = list(zip(head, *body, foot))
        widths = [max(len(c) for c in col) for col in cols]

        # Two spaces between columns, one when that keeps a wide model (AlexNet, VGG) within the
        # 76 characters of a book page's output column.
        gap = "  " if sum(widths) + 2 * (len(widths) - 1) <= 76 else " "

        def fmt(cells: Sequence[str]) -> str:
            return gap.join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths)))

        rule = "-" * len(fmt(head))
        lines = [f"input shape {self.input_shape}", fmt(head), rule, *(fmt(b) for b in body), rule, fmt(foot),
                 f"parameters: {self.total_params:,}   multiply-adds per example: {self.total_macs:,}"]
        return "\n".join(lines)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731


def _layer_name(layer: Layer | LayerSpec) -> str:
    if isinstance(layer, LayerSpec):
        return layer.label()
    r = repr(layer)
    # Layers without a descriptive repr show as "Name()": fall back to the class name.
    return r if len(r) <= 60 else type(layer).__name__


def summary(model: Sequential | ModelSpec, input_shape: Sequence[int], *, show: bool = False) -> Summary:
    """Per-layer output shape, weights, biases and multiply-adds of ``model`` for one example.

    Args:
        model: a :class:`Sequential` (numbers from its layers) or a :class:`ModelSpec` (numbers by
            arithmetic, nothing allocated).
        input_shape: one example's shape, without the batch axis, e.g. ``(1, 28, 28)``.
        show: also print the table.

    Returns:
        a :class:`Summary` (``print`` it for the table; ``.total_params``, ``.total_macs``, ``.rows``).

    Raises:
        ValueError: the input shape does not fit the network (the message names the layer).
    """
    if not isinstance(model, Sequential | ModelSpec):
        raise TypeError(f"model must be a Sequential or a ModelSpec, got {type(model).__name__}")
    shape = tuple(check_int(s, "input_shape", low=1) for s in input_shape)
    rows: list[SummaryRow] = []
    items: list[Any] = list(model.specs) if isinstance(model, ModelSpec) else list(model.layers)
    for i, layer in enumerate(items):
        try:
            out = tuple(int(s) for s in layer.output_shape(shape))
            macs = int(layer.macs(shape))
        except ValueError as e:
            raise ValueError(f"layer {i} ({_layer_name(layer)}) cannot take input shape {shape}: {e}") from e
        if isinstance(layer, LayerSpec):
            shapes = layer.param_shapes(shape)
        else:
            shapes = {k: v.shape for k, v in layer.params.items()}
        # Nested layers (Residual, Sequential) name their arrays "<index>.<name>".
        biases = sum(math.prod(s) for k, s in shapes.items() if k.rsplit(".", 1)[-1] in _BIAS_NAMES)
        weights = sum(math.prod(s) for k, s in shapes.items() if k.rsplit(".", 1)[-1] not in _BIAS_NAMES)
        rows.append(SummaryRow(i, _layer_name(layer), out, weights, biases, macs))
        shape = out
    result = Summary(tuple(int(s) for s in input_shape), rows)
    if show:
        print(result)
    return result


# ------------------------------------------------------------------------------------------------
# VGG's argument for small kernels
# ------------------------------------------------------------------------------------------------

def stacked_vs_single(channels: int, k_small: int = 3, n: int = 3, k_big: int | None = None,
                      *, bias: bool = False) -> tuple[int, int]:
    """Parameters of ``n`` stacked k_small×k_small convolutions vs one k_big×k_big, C -> C channels.

    ``k_big`` defaults to the size with the same receptive field, ``n·(k_small − 1) + 1``
    (three 3×3 see 7×7). Each conv has k²·C·C weights (plus C biases if ``bias``):
    ``stacked_vs_single(C)`` is ``(27·C², 49·C²)``.

    Returns:
        ``(stacked, single)`` parameter counts.
    """
    c = check_int(channels, "channels", low=1)
    ks = check_int(k_small, "k_small", low=1)
    n = check_int(n, "n", low=1)
    kb = receptive_field([ks] * n)[-1] if k_big is None else check_int(k_big, "k_big", low=1)
    per_bias = c if bias else 0
    return n * (ks * ks * c * c + per_bias), kb * kb * c * c + per_bias


# ------------------------------------------------------------------------------------------------
# Architectures
# ------------------------------------------------------------------------------------------------

def _activation(name: str) -> str:
    """The layer kind of activation ``name`` (an entry of ``neuron.ACTIVATIONS`` with a layer)."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string, got {type(name).__name__}")
    layered = sorted(k for k, a in ACTIVATIONS.items() if a.layer is not None)
    if name not in layered:
        raise ValueError(f"activation must be one of {layered}, got {name!r}")
    return ACTIVATIONS[name].layer.__name__  # type: ignore[union-attr]


def _init_for(activation: str) -> str:
    # He keeps the variance through ReLU-like units; Xavier suits the saturating ones (chapter 8).
    return ACTIVATIONS[activation].init


def _finish(spec: ModelSpec, materialize: bool, rng: Any, dtype: type) -> Sequential | ModelSpec:
    if not isinstance(materialize, bool):
        raise TypeError(f"materialize must be True or False, got {type(materialize).__name__}")
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return spec.build(rng=rng, dtype=dtype) if materialize else spec


def seed_cnn(activation: str = "relu", dtype: type = np.float32, rng: Any = None, *,
             materialize: bool = True) -> Sequential | ModelSpec:
    """The chapter's MNIST network: input ``(N, 1, 28, 28)`` -> scores ``(N, 10)``, 80,202 parameters.

    conv 16@5×5 (28->24) -> pool 2 (->12) -> conv 32@5×5 (->8) -> pool 2 (->4) -> flatten (512)
    -> affine 128 -> affine 10, with ``activation`` after both convolutions and the hidden affine
    layer. The source thesis uses the sigmoid everywhere; ReLU (the default) trains much faster.
    """
    act = _activation(activation)
    init = _init_for(activation)
    spec = ModelSpec([
        LayerSpec("Conv2D", (1, 16, 5), {"init": init, "need_dx": False}), LayerSpec(act), LayerSpec("MaxPool2D", (2,)),
        LayerSpec("Conv2D", (16, 32, 5), {"init": init}), LayerSpec(act), LayerSpec("MaxPool2D", (2,)),
        LayerSpec("Flatten"),
        LayerSpec("Affine", (512, 128), {"init": init}), LayerSpec(act),
        LayerSpec("Affine", (128, 10), {"init": "xavier"}),
    ], name="seed_cnn")
    return _finish(spec, materialize, rng, dtype)


def mlp(hidden: int = 45, activation: str = "sigmoid", dtype: type = np.float32, rng: Any = None, *,
        materialize: bool = True) -> Sequential | ModelSpec:
    """The source's fully connected baseline 784-45-10: input ``(N, 1, 28, 28)`` or ``(N, 784)``.

    flatten -> affine 784->``hidden`` -> ``activation`` -> affine ->10 (35,785 parameters for 45
    hidden units). The sigmoid is the default because the source's network used it; with softmax
    cross-entropy (instead of its quadratic loss) and Adam it still trains in a few epochs.
    """
    hidden = check_int(hidden, "hidden", low=1)
    act = _activation(activation)
    spec = ModelSpec([
        LayerSpec("Flatten"),
        LayerSpec("Affine", (784, hidden), {"init": _init_for(activation)}), LayerSpec(act),
        LayerSpec("Affine", (hidden, 10), {"init": "xavier"}),
    ], name="mlp")
    return _finish(spec, materialize, rng, dtype)


def lenet5(activation: str = "relu", num_classes: int = 10, dtype: type = np.float32, rng: Any = None, *,
           pool: str = "max", materialize: bool = True) -> Sequential | ModelSpec:
    """LeNet-5 (LeCun et al. 1998) on ``(N, 1, 32, 32)`` inputs; 61,706 parameters for 10 classes.

    C1 conv 6@5×5 (32->28) -> S2 pool 2 (->14) -> C3 conv 16@5×5 (->10) -> S4 pool 2
    (->5) -> C5 conv 120@5×5 (->1) -> flatten -> F6 affine 84 -> affine ``num_classes``: the
    paper's layer sizes. The modern variant (the defaults) uses ReLU and 2×2 max-pooling;
    ``activation="tanh", pool="avg"`` is closer to the paper. Simplifications in both, stated:
    C3 sees all six S2 maps (the paper's connection table uses 60 of the 96 pairs: 1,516 instead
    of 2,416 parameters), the pools have no trainable scale and bias, the tanh is plain (the
    paper's is 1.7159·tanh(2x/3)), and the output is an affine layer for softmax cross-entropy
    instead of the fixed Euclidean RBF units.
    """
    num_classes = check_int(num_classes, "num_classes", low=1)
    act = _activation(activation)
    init = _init_for(activation)
    pools = {"max": "MaxPool2D", "avg": "AvgPool2D"}
    if pool not in pools:
        raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
    spec = ModelSpec([
        LayerSpec("Conv2D", (1, 6, 5), {"init": init, "need_dx": False}), LayerSpec(act), LayerSpec(pools[pool], (2,)),
        LayerSpec("Conv2D", (6, 16, 5), {"init": init}), LayerSpec(act), LayerSpec(pools[pool], (2,)),
        LayerSpec("Conv2D", (16, 120, 5), {"init": init}), LayerSpec(act),
        LayerSpec("Flatten"),
        LayerSpec("Affine", (120, 84), {"init": init}), LayerSpec(act),
        LayerSpec("Affine", (84, num_classes), {"init": "xavier"}),
    ], name="lenet5")
    return _finish(spec, materialize, rng, dtype)


def alexnet(num_classes: int = 1000, *, grouped: bool = False, keep_prob: float = 0.5,
            dtype: type = np.float32, rng: Any = None, materialize: bool = True) -> Sequential | ModelSpec:
    """AlexNet (Krizhevsky, Sutskever, Hinton 2012) on ``(N, 3, 227, 227)``; 62,378,344 parameters.

    conv1 96@11×11 stride 4 (227->55) -> max-pool 3 stride 2 (->27) -> conv2 256@5×5 pad 2 ->
    pool (->13) -> conv3 384@3×3 pad 1 -> conv4 384@3×3 pad 1 -> conv5 256@3×3 pad 1 -> pool (->6)
    -> flatten (9,216) -> dropout -> fc6 4096 -> dropout -> fc7 4096 -> fc8 ``num_classes``; ReLU
    after every conv and hidden affine layer. The paper's "224×224" input only fits its stride-4
    11×11 conv1 with 227 pixels (or padding), so 227 it is.

    ``grouped=True`` gives the two-GPU original, where conv2, conv4 and conv5 see only the half of
    the channels on their own GPU (60,965,224 parameters); it exists only as a spec
    (``materialize=False``) because Conv2D has no groups. Local response normalisation is left
    out (it has no parameters and later work found it unnecessary).
    """
    num_classes = check_int(num_classes, "num_classes", low=1)
    g = 2 if grouped else 1

    def conv(c: int, f: int, k: int, groups: int = 1, **kw: Any) -> LayerSpec:
        if groups != 1:
            kw["groups"] = groups
        return LayerSpec("Conv2D", (c, f, k), kw)

    spec = ModelSpec([
        conv(3, 96, 11, stride=4, need_dx=False), LayerSpec("ReLU"), LayerSpec("MaxPool2D", (3,), {"stride": 2}),
        conv(96, 256, 5, g, pad=2), LayerSpec("ReLU"), LayerSpec("MaxPool2D", (3,), {"stride": 2}),
        conv(256, 384, 3, pad=1), LayerSpec("ReLU"),
        conv(384, 384, 3, g, pad=1), LayerSpec("ReLU"),
        conv(384, 256, 3, g, pad=1), LayerSpec("ReLU"), LayerSpec("MaxPool2D", (3,), {"stride": 2}),
        LayerSpec("Flatten"),
        LayerSpec("Dropout", (keep_prob,)), LayerSpec("Affine", (9216, 4096)), LayerSpec("ReLU"),
        LayerSpec("Dropout", (keep_prob,)), LayerSpec("Affine", (4096, 4096)), LayerSpec("ReLU"),
        LayerSpec("Affine", (4096, num_classes), {"init": "xavier"}),
    ], name="alexnet-grouped" if grouped else "alexnet")
    if grouped and materialize:
        raise ValueError("alexnet(grouped=True) exists only as a spec: pass materialize=False")
    return _finish(spec, materialize, rng, dtype)


#: VGG configuration D: channels of each 3×3 conv, "M" = 2×2 max-pool.
_VGG16_D: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                   512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(num_classes: int = 1000, *, keep_prob: float = 0.5, dtype: type = np.float32, rng: Any = None,
          materialize: bool = True) -> Sequential | ModelSpec:
    """VGG-16, configuration D (Simonyan & Zisserman 2014), on ``(N, 3, 224, 224)``; 138,357,544 parameters.

    Thirteen 3×3 convolutions with padding 1 (shape-preserving) in five blocks of 64, 128, 256,
    512, 512 channels, each block closed by a 2×2 max-pool (224 -> 7), then 25,088 -> 4096 ->
    4096 -> ``num_classes`` with dropout after each of the two hidden affine layers (after its
    ReLU, so fc7 and fc8 see dropped units), as in the paper. In float32 the
    weights take 553 MB: use ``materialize=False`` to count without allocating.
    """
    num_classes = check_int(num_classes, "num_classes", low=1)
    layers: list[LayerSpec] = []
    c = 3
    for v in _VGG16_D:
        if v == "M":
            layers.append(LayerSpec("MaxPool2D", (2,)))
        else:
            first = {"need_dx": False} if c == 3 else {}
            layers += [LayerSpec("Conv2D", (c, v, 3), {"pad": 1, **first}), LayerSpec("ReLU")]
            c = int(v)
    layers += [
        LayerSpec("Flatten"),
        LayerSpec("Affine", (512 * 7 * 7, 4096)), LayerSpec("ReLU"), LayerSpec("Dropout", (keep_prob,)),
        LayerSpec("Affine", (4096, 4096)), LayerSpec("ReLU"), LayerSpec("Dropout", (keep_prob,)),
        LayerSpec("Affine", (4096, num_classes), {"init": "xavier"}),
    ]
    return _finish(ModelSpec(layers, name="vgg16"), materialize, rng, dtype)
