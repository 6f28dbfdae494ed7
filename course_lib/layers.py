"""The thin layer classes' common base.

The functional pair ``out, cache = layer_forward(x, ...)`` / ``dx, *dparams = layer_backward(dout,
cache)`` in each chapter module is the core; the classes here wrap a pair, own its parameters and
their gradients, and compose in :class:`course_lib.architectures.Sequential`. A cache is one array
or a NamedTuple of :mod:`course_lib.validate` named after its forward function (the convention
is written down there); a layer keeps only the latest one, from ``forward`` to ``backward``.

A subclass implements ``_forward(x) -> (out, cache)``, ``_backward(dout, cache) -> (dx, grads)``
and ``output_shape(input_shape)``; it may override ``macs(input_shape)`` (multiply-adds per example,
used by ``summary``). Parameters live in ``self.params`` (name -> array) and their gradients,
after ``backward``, in ``self.grads`` under the same names; a subclass creates them with
:meth:`Layer.add_param`, so that :meth:`Layer.on_paper` can build it without their memory.

**Modes.** Every layer (and a whole :class:`~course_lib.architectures.Sequential`) is in training
mode after construction; ``layer.train()`` and ``layer.eval()`` are the one way to switch it, and
``layer.training`` says which. The functional core spells the same thing ``mode="train"`` /
``mode="test"`` (``dropout_forward``, BatchNorm's ``bn_param["mode"]``, as in CS231n); a layer
hands its :attr:`Layer.mode` to those functions, so the translation happens in one place.

**The layer registry.** :data:`LAYERS` maps the name of every public layer class to the class; a
class enters it when it is defined (``Layer.__init_subclass__``), so there is no list to keep.
:class:`~course_lib.architectures.LayerSpec`, ``summary`` and ``Sequential.load`` look layer
kinds up there (:func:`layer_class`).

**Rebuilding a layer.** ``layer.record()`` is ``{"class": name, "config": layer.config()}``: the
class's registered name and the constructor arguments that make the same layer (JSON-ready;
``init`` and ``rng`` are left out, they only choose the initial weights, which a saved file
replaces). :func:`build_layer` turns a record back into a layer through the registry —
``LAYERS[name].from_config(config)`` — which is how ``Sequential.save``/``Sequential.load`` store
and rebuild networks. A container's config is ``{"layers": [record, ...]}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar

import numpy as np

__all__ = ["LAYERS", "Layer", "StepCache", "build_layer", "layer_class"]

#: Every public layer class by its name (``"Conv2D" -> Conv2D``), filled as classes are defined.
LAYERS: dict[str, type[Layer]] = {}

# True while Layer.on_paper constructs a layer: add_param then allocates nothing.
_BUILDING_ON_PAPER: ContextVar[bool] = ContextVar("building_on_paper", default=False)

# Constructor arguments a config leaves out: they only choose the initial weights (or a random
# stream), and a loaded file brings the weights.
_NOT_IN_CONFIG = frozenset({"init", "rng"})


def layer_class(kind: str) -> type[Layer]:
    """The layer class registered as ``kind`` in :data:`LAYERS`.

    Raises:
        ValueError: no layer class of that name (the message lists the known kinds).
    """
    cls = LAYERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown layer kind {kind!r}; known kinds: {sorted(LAYERS)}")
    return cls


def build_layer(record: Mapping[str, Any], *, on_paper: bool = False) -> Layer:
    """The layer described by ``record`` (what :meth:`Layer.record` returns), built through the
    registry: ``LAYERS[record["class"]].from_config(record["config"])``; without parameter memory
    when ``on_paper`` (see :meth:`Layer.on_paper`).

    Raises:
        ValueError: not a record, an unknown class, or a config its class refuses (the message
            names the class, the config and the constructor's complaint).
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("config"), Mapping):
        raise ValueError(f"a layer record is a dict {{'class': name, 'config': dict}}, got {record!r}")
    cls = layer_class(record.get("class"))  # type: ignore[arg-type]
    config = dict(record["config"])
    try:
        return cls.from_config(config, on_paper=on_paper)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot build {cls.__name__} from config {config}: {e}") from None


def _plain(value: Any) -> Any:
    """``value`` as JSON data: tuples become lists, NumPy scalars Python numbers."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class StepCache:
    """The cache a container leaves in each layer of a group it ran as one step (see
    :class:`~course_lib.architectures.Sequential`): ``data`` is for the container's backward
    pass only; the layer's own :meth:`Layer.backward` refuses it with a clear error."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data


class Layer:
    """Base class: parameters, gradients, train/eval mode and the forward/backward protocol."""

    #: True for a layer built by :meth:`on_paper` (its parameters have shapes but no memory).
    paper: bool = False
    #: True for a layer kind that treats every example of a batch on its own and keeps no state
    #: but its cache: :class:`~course_lib.architectures.Sequential` may then split a batch across
    #: threads (:mod:`course_lib.fast.parallel`). Not BatchNorm (batch statistics), not Dropout
    #: (random masks drawn in order).
    per_example: bool = False

    #: Config entries in which a network may differ from a file it loads: they do not change the
    #: function the weights compute (the saved values are cast to the parameters' dtype).
    loose_config: ClassVar[frozenset[str]] = frozenset({"dtype"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Private helpers (``_ConvLayer``) are not layer kinds. A class defined again under the
        # same name (a re-run notebook cell) replaces the old one.
        if not cls.__name__.startswith("_"):
            LAYERS[cls.__name__] = cls

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training: bool = True
        self._cache: Any = None

    @classmethod
    def on_paper(cls, *args: Any, **kwargs: Any) -> Layer:
        """The layer ``cls(*args, **kwargs)`` without parameter memory, for counting.

        Its hyperparameters, ``output_shape``, ``macs`` and the shapes of ``params`` are those of
        the real layer; each parameter is a read-only zero-stride view (0 bytes), so VGG-16's
        553 MB of weights can be counted without allocating them. It cannot run.
        """
        token = _BUILDING_ON_PAPER.set(True)
        try:
            layer = cls(*args, **kwargs)
        finally:
            _BUILDING_ON_PAPER.reset(token)
        layer.paper = True
        return layer

    def add_param(self, name: str, shape: tuple[int, ...], dtype: Any, make: Callable[[], np.ndarray]) -> None:
        """Store parameter ``name`` of ``shape`` and ``dtype``, made by ``make()`` (e.g. He weights).

        Inside :meth:`on_paper` ``make`` is not called and the parameter takes no memory.
        """
        if _BUILDING_ON_PAPER.get():
            value = np.broadcast_to(np.zeros((), dtype=dtype), tuple(shape))
        else:
            value = make()
            if value.shape != tuple(shape):
                raise ValueError(f"{type(self).__name__}: parameter {name!r} was made with shape "
                                 f"{value.shape}, expected {tuple(shape)}")
        self.params[name] = value

    # -- protocol -------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run the layer on ``x`` and remember what backward needs. Shapes: see the subclass."""
        if self.paper:
            raise RuntimeError(f"{self!r} was built on paper (for counting): build the real layer to run it")
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Given ``dL/dout``, store ``dL/dparam`` in ``self.grads`` and return ``dL/dx``."""
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward (or twice after one "
                "forward): run forward on the batch first"
            )
        if isinstance(self._cache, StepCache):
            raise RuntimeError(
                f"{type(self).__name__}.backward: the last forward pass ran this layer inside a "
                "Sequential together with the layers next to it, as one step whose cache only "
                "Sequential.backward can use; run Sequential.backward, or run the layers' own "
                "forward passes first to step through them by hand"
            )
        dx, grads = self._backward(dout, self._cache)
        self.grads = dict(grads)
        self._cache = None
        return dx

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    # -- modes ----------------------------------------------------------------------------------
    def train(self) -> Layer:
        """Switch to training mode (dropout drops, BatchNorm uses batch statistics)."""
        self.training = True
        return self

    def eval(self) -> Layer:
        """Switch to evaluation mode (dropout is the identity, BatchNorm uses running statistics)."""
        self.training = False
        return self

    @property
    def mode(self) -> str:
        """The current mode as the functional core spells it: ``"train"`` or ``"test"``."""
        return "train" if self.training else "test"

    # -- bookkeeping for summary() ----------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one example's output, given one example's input shape (no batch axis)."""
        return tuple(input_shape)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-adds for one example with input shape ``input_shape`` (0 if negligible)."""
        return 0

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save besides ``params`` (e.g. BatchNorm running statistics)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # -- rebuilding (Sequential.save / Sequential.load) ----------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer, as JSON data.

        Read from the attributes that keep the constructor's arguments under their own names
        (``Conv2D(3, 8, 3, pad=1)`` keeps ``in_channels``, ``pad``, ...); ``dtype`` is the
        parameters' dtype; ``init`` and ``rng`` are left out. A class whose constructor keeps an
        argument otherwise overrides this method (containers do).

        Raises:
            TypeError: a constructor argument with no attribute of its name.
        """
        out: dict[str, Any] = {}
        for name, p in inspect.signature(type(self).__init__).parameters.items():
            if name == "self" or name in _NOT_IN_CONFIG or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name == "dtype" and self.params:
                value: Any = np.dtype(next(iter(self.params.values())).dtype).name
            elif hasattr(self, name):
                value = getattr(self, name)
            else:
                raise TypeError(
                    f"{type(self).__name__}.config: the constructor argument {name!r} is not kept as "
                    f"an attribute of that name; override config()"
                )
            out[name] = _plain(value)
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, on_paper: bool = False) -> Layer:
        """The layer ``cls(**config)`` (built :meth:`on_paper` if asked)."""
        return (cls.on_paper if on_paper else cls)(**config)

    def record(self) -> dict[str, Any]:
        """``{"class": registered name, "config": config()}``: what :func:`build_layer` rebuilds."""
        return {"class": type(self).__name__, "config": self.config()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
