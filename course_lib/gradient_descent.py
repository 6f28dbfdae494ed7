"""Chapter 3 — gradient descent: update rules, learning-rate schedules, 2-D test functions.

Gradient descent follows the negative gradient: for a small step Δw the change of the loss is
ΔL ≈ ∇L · Δw, which is most negative for Δw = −η ∇L (η > 0, the *learning rate*). Every rule
below is a variation of that step:

==================  ==========================================================================
rule                update (g = dL/dw of the current mini-batch)
==================  ==========================================================================
``sgd``             w ← w − η g
``sgd_momentum``    v ← μ v − η g ;  w ← w + v                       (a "velocity" averages g)
``nesterov``        v ← μ v − η g ;  w ← w − μ v_old + (1 + μ) v      (look-ahead momentum)
``rmsprop``         c ← ρ c + (1 − ρ) g² ;  w ← w − η g / (√c + ε)    (per-weight step size)
``adam``            m ← β₁ m + (1 − β₁) g ;  s ← β₂ s + (1 − β₂) g² ;
                    m̂ = m / (1 − β₁ᵗ) ;  ŝ = s / (1 − β₂ᵗ) ;  w ← w − η m̂ / (√ŝ + ε)
==================  ==========================================================================

Each rule has the CS231n signature ``next_w, config = rule(w, dw, config)``: ``config`` is a dict
holding the hyperparameters (missing ones are filled with ``validate.OPTIMIZER_DEFAULTS``) and the
rule's state (``velocity``, ``cache``, ``m``, ``v``, ``t``). The rules never modify ``w``, ``dw``
or the ``config`` passed in: they return a new array and a new dict; pass the returned dict to
the next call. (:class:`Optimizer` is the one place that writes into parameter arrays, see there.)

The module also has learning-rate schedules, three 2-D test functions with analytic gradients
(a quadratic bowl, Rosenbrock's banana, Beale's function) and :func:`minimize`, which records the
path an optimiser takes on them, and :func:`linear_regression_gd`, which compares full-batch,
mini-batch and stochastic gradient descent on a least-squares problem.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib.fast.optim import adam_step_in_place
from course_lib.history import History
from course_lib.init import as_rng
from course_lib.validate import (
    OPTIMIZER_DEFAULTS,
    OPTIMIZER_STATE,
    Config,
    check_array,
    check_int,
    check_number,
    check_optimizer_hyper,
    prepare_optimizer_config,
)

__all__ = [
    "RULES",
    "Objective2D",
    "Optimizer",
    "Trajectory",
    "adam",
    "beale",
    "cosine_annealing",
    "exponential_decay",
    "linear_regression_gd",
    "make_optimizer",
    "make_quadratic_bowl",
    "minimize",
    "nesterov",
    "quadratic_bowl",
    "rmsprop",
    "rosenbrock",
    "sgd",
    "sgd_momentum",
    "step_decay",
]

# --------------------------------------------------------------------------------------------
# Update rules
# --------------------------------------------------------------------------------------------

def sgd(w: np.ndarray, dw: np.ndarray, config: Mapping[str, Any] | None = None) -> tuple[np.ndarray, Config]:
    """Vanilla (stochastic) gradient descent: ``w − learning_rate · dw``.

    Args:
        w: parameters, float array of any shape.
        dw: gradient dL/dw, same shape as ``w``.
        config: ``{"learning_rate": 1e-2}`` (default) or None.

    Returns:
        ``(next_w, config)``: a new array of ``w``'s shape and dtype, and the filled config.
    """
    cfg = prepare_optimizer_config("sgd", w, dw, config)
    next_w = w - cfg["learning_rate"] * dw
    return next_w.astype(w.dtype, copy=False), cfg


def sgd_momentum(
    w: np.ndarray, dw: np.ndarray, config: Mapping[str, Any] | None = None
) -> tuple[np.ndarray, Config]:
    """SGD with (heavy-ball) momentum: ``v ← μ v − η dw``, ``w ← w + v``.

    The velocity ``v`` is an exponentially weighted sum of past steps: along a direction where
    the gradient keeps its sign the steps add up (up to 1 / (1 − μ) times a plain step), across
    a narrow valley where it flips they cancel.

    Args:
        w, dw: parameters and gradient, same shape.
        config: ``learning_rate`` (1e-2), ``momentum`` μ ∈ [0, 1) (0.9), state ``velocity``
            (zeros of ``w``'s shape at the first call).

    Returns:
        ``(next_w, config)`` with the updated ``velocity``.
    """
    cfg = prepare_optimizer_config("sgd_momentum", w, dw, config)
    v = cfg["momentum"] * cfg["velocity"] - cfg["learning_rate"] * dw
    cfg["velocity"] = v.astype(w.dtype, copy=False)
    return (w + cfg["velocity"]).astype(w.dtype, copy=False), cfg


def nesterov(w: np.ndarray, dw: np.ndarray, config: Mapping[str, Any] | None = None) -> tuple[np.ndarray, Config]:
    """Nesterov momentum in the form that needs the gradient at the stored point only.

    Nesterov evaluates the gradient at the look-ahead point w + μ v. Storing that look-ahead
    point instead of w (the substitution of Sutskever et al. and the CS231n notes) turns the rule
    into ``v_old = v; v ← μ v − η dw; w ← w − μ v_old + (1 + μ) v`` with ``dw`` taken at the
    stored ``w`` — so it plugs into the same ``(w, dw, config)`` interface as the other rules.

    Args:
        w, dw: parameters (the look-ahead point) and the gradient there, same shape.
        config: ``learning_rate`` (1e-2), ``momentum`` μ ∈ [0, 1) (0.9), state ``velocity``.

    Returns:
        ``(next_w, config)`` with the updated ``velocity``.
    """
    cfg = prepare_optimizer_config("nesterov", w, dw, config)
    mu = cfg["momentum"]
    v_old = cfg["velocity"]
    v = (mu * v_old - cfg["learning_rate"] * dw).astype(w.dtype, copy=False)
    cfg["velocity"] = v
    return (w - mu * v_old + (1 + mu) * v).astype(w.dtype, copy=False), cfg


def rmsprop(w: np.ndarray, dw: np.ndarray, config: Mapping[str, Any] | None = None) -> tuple[np.ndarray, Config]:
    """RMSProp: divide each weight's step by a running root-mean-square of its gradient.

    ``cache ← ρ cache + (1 − ρ) dw²``; ``w ← w − η dw / (√cache + ε)``. Weights with large
    gradients take smaller steps and vice versa, so one learning rate suits badly scaled
    directions (the steep and the flat axis of an elongated bowl).

    Args:
        w, dw: parameters and gradient, same shape.
        config: ``learning_rate`` (1e-2), ``decay_rate`` ρ ∈ [0, 1) (0.99), ``epsilon`` (1e-8),
            state ``cache``.

    Returns:
        ``(next_w, config)`` with the updated ``cache``.
    """
    cfg = prepare_optimizer_config("rmsprop", w, dw, config)
    rho = cfg["decay_rate"]
    cache = (rho * cfg["cache"] + (1 - rho) * dw * dw).astype(w.dtype, copy=False)
    cfg["cache"] = cache
    next_w = w - cfg["learning_rate"] * dw / (np.sqrt(cache) + cfg["epsilon"])
    return next_w.astype(w.dtype, copy=False), cfg


def adam(w: np.ndarray, dw: np.ndarray, config: Mapping[str, Any] | None = None) -> tuple[np.ndarray, Config]:
    """Adam: momentum (first moment ``m``) plus RMSProp scaling (second moment ``v``).

    Both moments start at zero, so early on they are biased towards zero; dividing by
    ``1 − βᵗ`` removes the bias. At the first step m̂ = g and v̂ = g², so the step is
    ``η g / (|g| + ε) ≈ η · sign(g)``: Adam's first step has the size of the learning rate in
    every coordinate, whatever the gradient's scale.

    Args:
        w, dw: parameters and gradient, same shape.
        config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999) both in [0, 1),
            ``epsilon`` (1e-8), state ``m``, ``v`` (arrays) and ``t`` (steps taken, int).

    Returns:
        ``(next_w, config)`` with updated ``m``, ``v`` and ``t``.
    """
    cfg = prepare_optimizer_config("adam", w, dw, config)
    b1, b2 = cfg["beta1"], cfg["beta2"]
    t = cfg["t"] + 1
    m = (b1 * cfg["m"] + (1 - b1) * dw).astype(w.dtype, copy=False)
    v = (b2 * cfg["v"] + (1 - b2) * dw * dw).astype(w.dtype, copy=False)
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    cfg.update(m=m, v=v, t=t)
    next_w = w - cfg["learning_rate"] * m_hat / (np.sqrt(v_hat) + cfg["epsilon"])
    return next_w.astype(w.dtype, copy=False), cfg


#: The update rules by name (``"momentum"`` is an alias of ``"sgd_momentum"``).
RULES: dict[str, Callable[..., tuple[np.ndarray, Config]]] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "momentum": sgd_momentum,
    "nesterov": nesterov,
    "rmsprop": rmsprop,
    "adam": adam,
}


def _rule(name: object) -> tuple[str, Callable[..., tuple[np.ndarray, Config]]]:
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name (str), got {type(name).__name__}")
    if name not in RULES:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(RULES)}")
    fn = RULES[name]
    return fn.__name__, fn


class Optimizer:
    """One update rule applied to a whole model: one config (hyperparameters + state) per key.

    Use :func:`make_optimizer` to build one. ``step(params, grads)`` updates every entry of
    ``params`` with the gradient of the same name in ``grads``.

    Note: unlike the functional rules, ``step`` writes the new values **into the existing
    parameter arrays** (``params[k][...] = next_w``). A model's weights are usually referenced
    from several places (a layer's ``params`` dict, a flattened ``{"0.w": ..., "1.w": ...}`` view
    of a network); writing in place keeps every reference up to date. The configs are keyed by
    the names in ``params``, so always pass the same names for the same parameters.

    Attributes:
        name: the rule's name (``"sgd"``, ``"sgd_momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"``).
        hyper: the hyperparameters shared by all parameters (defaults filled in).
        configs: per-parameter configs, created at the first step.
    """

    def __init__(self, name: str, **hyper: Any) -> None:
        self.name, self._update = _rule(name)
        stateful = set(OPTIMIZER_STATE[self.name])
        bad = sorted(stateful & set(hyper))
        if bad:
            raise ValueError(f"{bad} is optimiser state, not a hyperparameter; do not pass it")
        check_optimizer_hyper(self.name, hyper)
        self.hyper: dict[str, float] = {**OPTIMIZER_DEFAULTS[self.name], **hyper}
        self.configs: dict[str, Config] = {}
        self._scratch: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def learning_rate(self) -> float:
        """The current learning rate; set it (e.g. from a schedule) between steps."""
        return float(self.hyper["learning_rate"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        lr = check_number(value, "learning_rate", low=0, low_inclusive=False)
        self.hyper["learning_rate"] = lr
        for cfg in self.configs.values():
            cfg["learning_rate"] = lr

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update every array in ``params`` in place with the gradient of the same name.

        Args:
            params: name -> parameter array (float, written in place).
            grads: name -> gradient of the same shape; must hold every name of ``params``.

        Raises:
            ValueError: a gradient is missing or has the wrong shape or NaN/inf; nothing is
                updated then (all gradients are checked before the first write).
        """
        missing = sorted(set(params) - set(grads))
        if missing:
            raise ValueError(f"grads has no entry for parameter(s) {missing}; got {sorted(grads)}")
        # From the second step on, Adam runs in place (course_lib.fast.optim: the same operations
        # as adam() in the same order, so the same numbers, without temporaries).
        if self.name == "adam" and adam_step_in_place(params, grads, self.configs, self._scratch):
            return
        updates = {}
        for key, w in params.items():
            cfg = self.configs.get(key, dict(self.hyper))
            updates[key] = self._update(w, grads[key], cfg)
        for key, (next_w, cfg) in updates.items():
            params[key][...] = next_w
            self.configs[key] = cfg

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"Optimizer({self.name!r}, {hyper})"


def make_optimizer(name: str, **hyper: Any) -> Optimizer:
    """Build an :class:`Optimizer` for rule ``name`` with hyperparameters ``hyper``.

    ``make_optimizer("adam", learning_rate=1e-3)``; unknown names or keys raise ValueError.
    """
    return Optimizer(name, **hyper)


# --------------------------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------------------------

def step_decay(lr0: float, epoch: int, drop: float = 0.5, every: int = 10) -> float:
    """Multiply the learning rate by ``drop`` every ``every`` epochs: ``lr0 · drop^⌊epoch/every⌋``.

    Args:
        lr0: initial learning rate, > 0.
        epoch: epoch index, integer ≥ 0.
        drop: factor in (0, 1].
        every: epochs between drops, integer ≥ 1.
    """
    lr0 = check_number(lr0, "lr0", low=0, low_inclusive=False)
    epoch = check_int(epoch, "epoch", low=0)
    drop = check_number(drop, "drop", low=0, high=1, low_inclusive=False)
    every = check_int(every, "every", low=1)
    return lr0 * drop ** (epoch // every)


def exponential_decay(lr0: float, epoch: int, k: float) -> float:
    """Smooth exponential decay ``lr0 · exp(−k · epoch)``, with rate ``k ≥ 0``."""
    lr0 = check_number(lr0, "lr0", low=0, low_inclusive=False)
    epoch = check_int(epoch, "epoch", low=0)
    k = check_number(k, "k", low=0)
    return lr0 * math.exp(-k * epoch)


def cosine_annealing(lr0: float, epoch: int, total: int, lr_min: float = 0.0) -> float:
    """Cosine annealing from ``lr0`` (epoch 0) down to ``lr_min`` (epoch ``total``).

    ``lr = lr_min + (lr0 − lr_min) · (1 + cos(π · epoch / total)) / 2`` for 0 ≤ epoch ≤ total.
    """
    lr0 = check_number(lr0, "lr0", low=0, low_inclusive=False)
    total = check_int(total, "total", low=1)
    epoch = check_int(epoch, "epoch", low=0)
    if epoch > total:
        raise ValueError(f"epoch must be <= total={total}, got {epoch}")
    lr_min = check_number(lr_min, "lr_min", low=0)
    if lr_min > lr0:
        raise ValueError(f"lr_min must be <= lr0, got lr_min={lr_min} and lr0={lr0}")
    return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * epoch / total)) / 2


# --------------------------------------------------------------------------------------------
# 2-D test functions
# --------------------------------------------------------------------------------------------

def _check_point(p: object) -> np.ndarray:
    """A point (2,) — or a stack of points (2, ...) for contour plots."""
    p = check_array(p, "p")
    if p.ndim < 1 or p.shape[0] != 2:
        raise ValueError(f"p must have shape (2,) or (2, ...) (x and y first), got {p.shape}")
    return p


@dataclass(frozen=True)
class Objective2D:
    """A 2-D function to minimise, with its analytic gradient and known minimum.

    Attributes:
        name: e.g. ``"rosenbrock"``.
        f: ``f(p) -> float`` for a point ``p`` of shape (2,); for a stack of shape (2, ...) it
            returns an array of shape (...) (convenient for contour plots).
        grad: ``grad(p) -> array`` of ``p``'s shape.
        minimum: the minimiser, shape (2,).
        start: a start point for demonstrations, shape (2,).
        xlim, ylim: a plotting window around the interesting region.
    """

    name: str
    f: Callable[[np.ndarray], Any]
    grad: Callable[[np.ndarray], np.ndarray]
    minimum: np.ndarray
    start: np.ndarray
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def __call__(self, p: np.ndarray) -> Any:
        return self.f(p)


def make_quadratic_bowl(a: float = 1.0, b: float = 10.0) -> Objective2D:
    """The anisotropic bowl ``f = ½(a x² + b y²)``, gradient ``(a x, b y)``, minimum at 0.

    Its condition number b/a is what makes plain gradient descent zig-zag: a step size stable
    along the steep axis (η < 2/b) crawls along the flat one.
    """
    a = check_number(a, "a", low=0, low_inclusive=False)
    b = check_number(b, "b", low=0, low_inclusive=False)

    def f(p: np.ndarray) -> Any:
        p = _check_point(p)
        out = 0.5 * (a * p[0] ** 2 + b * p[1] ** 2)
        return float(out) if p.ndim == 1 else out

    def grad(p: np.ndarray) -> np.ndarray:
        p = _check_point(p)
        return np.stack([a * p[0], b * p[1]])

    r = 2.0
    return Objective2D(
        f"quadratic_bowl(a={a:g}, b={b:g})", f, grad, np.zeros(2), np.array([-1.8, 0.9]), (-r, r), (-r / 2, r / 2)
    )


def _rosenbrock_f(p: np.ndarray) -> Any:
    p = _check_point(p)
    x, y = p[0], p[1]
    out = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    return float(out) if p.ndim == 1 else out


def _rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    p = _check_point(p)
    x, y = p[0], p[1]
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def _beale_terms(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[Any, Any, Any]]:
    x, y = p[0], p[1]
    t = (1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3)
    return x, y, t


def _beale_f(p: np.ndarray) -> Any:
    p = _check_point(p)
    _, _, (t1, t2, t3) = _beale_terms(p)
    out = t1**2 + t2**2 + t3**2
    return float(out) if p.ndim == 1 else out


def _beale_grad(p: np.ndarray) -> np.ndarray:
    p = _check_point(p)
    x, y, (t1, t2, t3) = _beale_terms(p)
    dx = 2 * t1 * (y - 1) + 2 * t2 * (y**2 - 1) + 2 * t3 * (y**3 - 1)
    dy = 2 * t1 * x + 2 * t2 * 2 * x * y + 2 * t3 * 3 * x * y**2
    return np.stack([dx, dy])


#: ½(x² + 10 y²): condition number 10.
quadratic_bowl = make_quadratic_bowl(1.0, 10.0)

#: Rosenbrock's banana (1 − x)² + 100 (y − x²)²: a curved, flat-bottomed valley; minimum (1, 1).
rosenbrock = Objective2D(
    "rosenbrock", _rosenbrock_f, _rosenbrock_grad, np.array([1.0, 1.0]), np.array([-1.2, 1.0]), (-2.0, 2.0), (-1.0, 3.0)
)

#: Beale's function Σ (cᵢ − x + x yⁱ)² with c = (1.5, 2.25, 2.625); minimum (3, 0.5), f = 0.
beale = Objective2D(
    "beale", _beale_f, _beale_grad, np.array([3.0, 0.5]), np.array([1.0, 1.4]), (-4.5, 4.5), (-4.5, 4.5)
)


@dataclass
class Trajectory:
    """The path of an optimiser on a 2-D function.

    Attributes:
        points: (k+1, 2) — the start and the point after each of the k steps taken.
        values: (k+1,) — f at those points.
        optimizer: the rule's name; hyper: its hyperparameters.
        diverged: True if the run stopped early because f or the gradient became non-finite
            or huge (then k < steps).
    """

    points: np.ndarray
    values: np.ndarray
    optimizer: str
    hyper: dict[str, Any] = field(default_factory=dict)
    diverged: bool = False

    @property
    def final(self) -> np.ndarray:
        """The last point, shape (2,)."""
        return self.points[-1]


def minimize(
    func: Objective2D,
    start: np.ndarray | tuple[float, float] | None = None,
    optimizer: str = "sgd",
    steps: int = 100,
    **hyper: Any,
) -> Trajectory:
    """Run ``steps`` updates of rule ``optimizer`` on ``func`` from ``start`` and record the path.

    Args:
        func: an :class:`Objective2D` (``quadratic_bowl``, ``rosenbrock``, ``beale``, ...).
        start: start point, shape (2,); default ``func.start``.
        optimizer: a name from :data:`RULES`.
        steps: number of updates, integer ≥ 0.
        **hyper: the rule's hyperparameters (``learning_rate=...``, ``momentum=...``).

    Returns:
        a :class:`Trajectory` with ``points`` (steps+1, 2) and ``values`` (steps+1,). If the run
        blows up (|f| > 1e100 or a non-finite gradient, i.e. the learning rate is too large) it
        stops there and sets ``diverged``, so a too-large step can still be plotted.
    """
    if not isinstance(func, Objective2D):
        raise TypeError(f"func must be an Objective2D (e.g. rosenbrock), got {type(func).__name__}")
    name, update = _rule(optimizer)
    steps = check_int(steps, "steps", low=0)
    p = np.array(func.start if start is None else start, dtype=np.float64)
    if p.shape != (2,):
        raise ValueError(f"start must have shape (2,), got {p.shape}")
    check_array(p, "start")
    check_optimizer_hyper(name, hyper)
    if set(hyper) & set(OPTIMIZER_STATE[name]):
        raise ValueError("pass hyperparameters only, not optimiser state")
    config: Config = dict(hyper)
    points, values = [p.copy()], [func.f(p)]
    diverged = False
    for _ in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):
            g = func.grad(p)
        if not np.isfinite(g).all():
            diverged = True
            break
        p, config = update(p, g, config)
        with np.errstate(over="ignore", invalid="ignore"):
            value = func.f(p) if np.isfinite(p).all() else math.inf
        if not math.isfinite(value) or abs(value) > 1e100:
            diverged = True
            break
        points.append(p.copy())
        values.append(value)
    return Trajectory(np.array(points), np.array(values), name, {**OPTIMIZER_DEFAULTS[name], **hyper}, diverged)


# --------------------------------------------------------------------------------------------
# Full-batch vs mini-batch vs stochastic gradient descent on linear regression
# --------------------------------------------------------------------------------------------

def _mse(X: np.ndarray, Y: np.ndarray, w: np.ndarray, b: np.ndarray) -> float:
    """C = 1/(2n) Σ ‖y − a‖² with a = X w + b (the ½ cancels the 2 of the derivative)."""
    r = X @ w + b - Y
    return float(np.sum(r * r) / (2 * X.shape[0]))


def linear_regression_gd(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    lr: float,
    epochs: int,
    seed: int | np.random.Generator | None = 0,
    lr_schedule: Callable[[int], float] | None = None,
) -> tuple[np.ndarray, np.ndarray | float, History]:
    """Fit a = X w + b by gradient descent on C = 1/(2n) Σ‖y − a‖² with mini-batches.

    ``batch_size = n`` is full-batch gradient descent (one exact step per epoch),
    ``batch_size = 1`` is stochastic gradient descent (n noisy steps per epoch), anything in
    between is mini-batch gradient descent. On a batch B of size m the gradient is the batch
    average ``dw = X_Bᵀ (a_B − y_B) / m``, ``db = mean(a_B − y_B)`` — an unbiased estimate of
    the full gradient. The data are reshuffled every epoch.

    Args:
        X: inputs, (n, D) float.
        y: targets, (n,) or (n, K) float.
        batch_size: integer in [1, n].
        lr: learning rate, > 0 (used when ``lr_schedule`` is None).
        epochs: passes over the data, integer ≥ 1.
        seed: seed (or Generator) of the shuffling.
        lr_schedule: optional ``epoch -> learning rate`` (e.g. ``lambda e: step_decay(0.1, e)``);
            with constant lr SGD keeps jittering around the minimum, a decaying one settles.

    Returns:
        ``(w, b, history)``: the learned weights, (D,) for 1-D targets or (D, K); the bias, a
        float for 1-D targets or (K,); and the :class:`~course_lib.history.History` of the run
        (the course's one history type): ``loss`` is C on all the data after each epoch,
        ``step_loss`` the mini-batch loss at each step (noisy for small batches), ``lr`` the
        rate of each epoch, ``config`` holds ``batch_size`` and ``steps_per_epoch`` =
        ⌈n / batch_size⌉. Weights start at zero.
    """
    X = check_array(X, "X", ndim=2)
    y = check_array(y, "y", ndim=(1, 2))
    n, d = X.shape
    if y.shape[0] != n:
        raise ValueError(f"X and y must have the same number of rows, got X {X.shape} and y {y.shape}")
    batch_size = check_int(batch_size, "batch_size", low=1)
    if batch_size > n:
        raise ValueError(f"batch_size must be <= n={n} (the number of examples), got {batch_size}")
    lr = check_number(lr, "lr", low=0, low_inclusive=False)
    epochs = check_int(epochs, "epochs", low=1)
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError("lr_schedule must be a callable epoch -> learning rate")
    rng = as_rng(seed)

    Y = y.reshape(n, -1).astype(np.float64)
    Xf = X.astype(np.float64)
    w = np.zeros((d, Y.shape[1]))
    b = np.zeros(Y.shape[1])
    steps_per_epoch = math.ceil(n / batch_size)
    history = History(config={"batch_size": batch_size, "steps_per_epoch": steps_per_epoch, "n_train": n,
                              "lr": lr, "epochs": epochs})
    epoch = 0
    eta = lr
    try:
        # A too-large learning rate makes the iterates grow geometrically: report it as such
        # instead of letting inf/NaN leak into the history.
        with np.errstate(over="raise", invalid="raise"):
            for epoch in range(epochs):
                t0 = time.perf_counter()
                eta = lr if lr_schedule is None else check_number(
                    lr_schedule(epoch), "lr_schedule(epoch)", low=0, low_inclusive=False
                )
                order = rng.permutation(n)
                for start in range(0, n, batch_size):
                    idx = order[start:start + batch_size]
                    Xb, Yb = Xf[idx], Y[idx]
                    r = Xb @ w + b - Yb  # a − y on the batch
                    history.step_loss.append(float(np.sum(r * r) / (2 * len(idx))))
                    w = w - eta * (Xb.T @ r) / len(idx)
                    b = b - eta * r.mean(axis=0)
                seconds = time.perf_counter() - t0
                loss = _mse(Xf, Y, w, b)
                if not math.isfinite(loss) or loss > 1e100:
                    raise FloatingPointError
                history.epoch.append(epoch + 1)
                history.loss.append(loss)
                for series in (history.train_acc, history.val_loss, history.val_acc, history.test_acc):
                    series.append(None)
                history.lr.append(eta)
                history.seconds.append(seconds)
    except FloatingPointError as err:
        raise ValueError(
            f"gradient descent diverged in epoch {epoch} (lr={eta:g} is too large for this data; "
            "try a smaller one or standardise X)"
        ) from err
    if y.ndim == 1:
        return w[:, 0], float(b[0]), history
    return w, b, history
