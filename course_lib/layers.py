"""The thin layer classes' common base.

The functional pair ``out, cache = layer_forward(x, ...)`` / ``dx, *dparams = layer_backward(dout,
cache)`` in each chapter module is the core; the classes here wrap a pair, own its parameters and
their gradients, and compose in :class:`course_lib.architectures.Sequential`.

A subclass implements ``_forward(x) -> (out, cache)``, ``_backward(dout, cache) -> (dx, grads)``
and ``output_shape(input_shape)``; it may override ``macs(input_shape)`` (multiply-adds per example,
used by ``summary``). Parameters live in ``self.params`` (name -> array) and their gradients,
after ``backward``, in ``self.grads`` under the same names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Layer"]


class Layer:
    """Base class: parameters, gradients, train/eval mode and the forward/backward protocol."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training: bool = True
        self._cache: Any = None

    # -- protocol -------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run the layer on ``x`` and remember what backward needs. Shapes: see the subclass."""
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
