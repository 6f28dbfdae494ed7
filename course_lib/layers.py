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
kinds up there.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import numpy as np

__all__ = ["LAYERS", "Layer"]

#: Every public layer class by its name (``"Conv2D" -> Conv2D``), filled as classes are defined.
LAYERS: dict[str, type[Layer]] = {}

# True while Layer.on_paper constructs a layer: add_param then allocates nothing.
_BUILDING_ON_PAPER: ContextVar[bool] = ContextVar("building_on_paper", default=False)


class Layer:
    """Base class: parameters, gradients, train/eval mode and the forward/backward protocol."""

    #: True for a layer built by :meth:`on_paper` (its parameters have shapes but no memory).
    paper: bool = False
    #: True for a layer kind that treats every example of a batch on its own and keeps no state
    #: but its cache: :class:`~course_lib.architectures.Sequential` may then split a batch across
    #: threads (:mod:`course_lib.fast.parallel`). Not BatchNorm (batch statistics), not Dropout
    #: (random masks drawn in order).
    per_example: bool = False

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
