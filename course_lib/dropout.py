"""Chapter 8: Dropout and weight initialisation.

**Inverted dropout.** At training time every unit is kept with probability ``keep_prob`` and the
kept ones are divided by ``keep_prob``:

    mask = (u < keep_prob) / keep_prob,   u ~ Uniform[0, 1) per entry,      out = x · mask.

Then E[out] = keep_prob · x / keep_prob = x, so the next layer sees activations of the same
expected size in training and at test time, and the test-time pass is the identity — no
rescaling to remember in ``predict``. (The older "direct" dropout leaves training unscaled and
multiplies by ``keep_prob`` at test time instead; the two agree in expectation.)

We always speak of ``keep_prob``, never of an ambiguous "p": some texts (and PyTorch's
``nn.Dropout(p)``) mean the probability of *dropping*, others of *keeping*, and mixing them up
silently scales activations by the wrong factor.

The backward pass multiplies by the *same* mask: out = x·mask is linear in x, so dx = dout·mask.
A backward that draws a fresh mask computes the gradient of a different function. The random
generator is therefore explicit (``rng``: a ``np.random.Generator`` or an int seed) so that one
seed reproduces one mask.

The cache is a :class:`~course_lib.validate.DropoutCache` NamedTuple (the mask, None in test
mode, and the shape). The :class:`Dropout` layer switches mode with ``train()``/``eval()`` and
passes it on as ``mode``.

**Initialisation** (:func:`he_init`, :func:`xavier_init`, re-exported from
:mod:`course_lib.init`) keeps the activation variance stable through depth;
:func:`activation_stats` measures it layer by layer for the chapter's figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.init import INITS, as_rng, he_init, init_weights, xavier_init
from course_lib.layers import Layer
from course_lib.neuron import ACTIVATIONS
from course_lib.validate import (
    DROPOUT_MODES,
    DropoutCache,
    check_array,
    check_cache,
    check_int,
    check_keep_prob,
    check_number,
)

__all__ = [
    "Dropout",
    "DropoutCache",
    "activation_stats",
    "dropout_backward",
    "dropout_forward",
    "he_init",
    "xavier_init",
]

def dropout_forward(
    x: np.ndarray,
    keep_prob: float = 0.5,
    *,
    mode: str = "train",
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout.

    Args:
        x: input of any shape with at least one axis (e.g. (N, D) or (N, C, H, W)), float dtype;
            the output keeps the dtype.
        keep_prob: probability of *keeping* a unit, in (0, 1]; 1 is the identity.
        mode: ``"train"`` (drop and rescale) or ``"test"`` (identity, no randomness used).
        rng: a ``np.random.Generator`` (advanced by the call), an int seed (the same seed gives
            the same mask), or None (fresh entropy).

    Returns:
        out: ``x * mask`` with ``mask = (rng.random(x.shape) < keep_prob) / keep_prob`` in train
            mode, a copy of ``x`` in test mode; same shape as ``x``.
        cache: a :class:`DropoutCache` holding the mask for :func:`dropout_backward`.

    Raises:
        TypeError: ``x`` not a float array, ``keep_prob`` not a number, ``rng`` of a wrong type.
        ValueError: ``keep_prob`` outside (0, 1] or NaN, unknown ``mode``, 0-d or non-finite ``x``.
    """
    x = check_array(x, "x")
    if x.ndim == 0:
        raise ValueError("x must have at least one axis (a batch), got a 0-d array")
    keep_prob = check_keep_prob(keep_prob)
    if mode not in DROPOUT_MODES:
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if mode == "test":
        return x.copy(), DropoutCache(None, x.shape)
    generator = as_rng(rng)
    # Divide at training time (inverted dropout) so that E[out] = x and testing needs nothing.
    mask = ((generator.random(x.shape) < keep_prob) / keep_prob).astype(x.dtype)
    return x * mask, DropoutCache(mask, x.shape)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Backward pass of :func:`dropout_forward`: ``dx = dout * mask`` with the forward's mask.

    Args:
        dout: upstream gradient, shape of the forward output (not modified).
        cache: from :func:`dropout_forward`.

    Returns:
        dx, shape of ``dout`` (a copy of ``dout`` in test mode).
    """
    cache = check_cache(cache, DropoutCache, "dropout_forward")
    dout = check_array(dout, "dout")
    if dout.shape != cache.shape:
        raise ValueError(
            f"dout must have the shape of the forward output {cache.shape}, got {dout.shape}"
        )
    if cache.mask is None:
        return dout.copy()
    return dout * cache.mask


class Dropout(Layer):
    """Inverted dropout layer; see :func:`dropout_forward`. No parameters.

    ``rng`` (Generator, int seed or None) is turned into one generator owned by the layer, so each
    forward call draws a new mask and a seeded layer reproduces the same sequence of masks.
    ``eval()`` makes the layer the identity.
    """

    def __init__(self, keep_prob: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.keep_prob = check_keep_prob(keep_prob)
        self.rng = as_rng(rng)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return dropout_forward(x, self.keep_prob, mode=self.mode, rng=self.rng)

    def _backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return dropout_backward(dout, cache), {}

    def __repr__(self) -> str:
        return f"Dropout(keep_prob={self.keep_prob})"


# ------------------------------------------------------------------------------------------------
# initialisation experiments
# ------------------------------------------------------------------------------------------------

def activation_stats(
    depth: int = 20,
    width: int = 256,
    init: str | float = "he",
    activation: str = "relu",
    rng: np.random.Generator | int | None = None,
    *,
    batch: int = 256,
) -> np.ndarray:
    """Standard deviation of the activations after each layer of a deep, bias-free network.

    A batch of standard-normal inputs (batch, width) goes through ``depth`` layers
    ``h ← activation(h @ W)`` with square (width, width) weights drawn by ``init``:

    - ``"he"``: N(0, 2/fan_in) — keeps Var(z) constant through ReLU layers, because ReLU halves
      E[z²];
    - ``"xavier"``: N(0, 2/(fan_in + fan_out)) = N(0, 1/width) here — for tanh: near 0 tanh is the
      identity, so the variance is kept to first order (it still decays slowly, roughly like
      1/(2·layer), because tanh bends below the identity);
    - a positive number s: N(0, s²), e.g. 0.01 (activations collapse towards 0) or 1.0
      (ReLU activations explode by ~sqrt(width/2) per layer; tanh saturates at ±1).

    Args:
        depth: number of layers (>= 1).
        width: units per layer (>= 1).
        init: ``"he"``, ``"xavier"`` or a positive float standard deviation.
        activation: a name from :data:`course_lib.neuron.ACTIVATIONS` (``"relu"``, ``"tanh"``,
            ``"identity"``, ...), with its default ``alpha``.
        rng: Generator, int seed or None.
        batch: number of input examples (>= 2).

    Returns:
        array of shape (depth,): ``std(h_l)`` over the batch and units for l = 1..depth (inf if a
        value overflowed float64).
    """
    depth = check_int(depth, "depth", low=1)
    width = check_int(width, "width", low=1)
    batch = check_int(batch, "batch", low=2)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be 'he', 'xavier' or a positive standard deviation, got {init!r}")
        scale = None
    else:
        scale = check_number(init, "init", low=0, low_inclusive=False)
    gen = as_rng(rng)
    act = ACTIVATIONS[activation].forward
    h = gen.standard_normal((batch, width))
    stds = np.empty(depth)
    # An exploding network is one of the outcomes this function exists to show: let it reach inf.
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(depth):
            shape = (width, width)
            w = gen.standard_normal(shape) * scale if scale is not None else init_weights(shape, init, gen)
            z = h @ w
            if not np.isfinite(z).all():  # overflowed: every later layer stays inf
                stds[layer:] = np.inf
                break
            h, _ = act(z)
            s = float(np.std(h))
            stds[layer] = s if np.isfinite(s) else np.inf
    return stds
