"""Grading tasks of assignment ch03_gradient_descent: the update rules `update(w, dw, config) -> (w, config)`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from course_grader.engine import (
    Fail,
    Student,
    compare,
    compare_alternatives,
    ref,
    rng_for,
    task,
)
from course_lib.validate import OPTIMIZER_DEFAULTS, OPTIMIZER_STATE

ASSIGNMENT = "ch03_gradient_descent"


def _opt_bugs(rule: str, w: np.ndarray, dw: np.ndarray, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Results of common wrong versions of one update step (for 'recognised mistake')."""
    full = dict(OPTIMIZER_DEFAULTS[rule]) | {k: v for k, v in cfg.items()}
    lr = full["learning_rate"]
    bugs: dict[str, Any] = {"the update has the wrong sign (it climbs the gradient)": w + (_ref_step(rule, w, dw, cfg) - w) * -1}
    if rule == "sgd_momentum":
        v = full.get("velocity", np.zeros_like(w))
        mu = full["momentum"]
        bugs["the old velocity is ignored (plain SGD step)"] = w - lr * dw
        bugs["the velocity is updated but w moves by the OLD velocity"] = w + v
        bugs["v = mu*v - dw, without the learning rate"] = w + mu * v - dw
    elif rule == "rmsprop":
        cache = full.get("cache", np.zeros_like(w))
        rho, eps = full["decay_rate"], full["epsilon"]
        new = rho * cache + (1 - rho) * dw * dw
        bugs["the step divides by the cache itself instead of its square root"] = w - lr * dw / (new + eps)
        bugs["the cache averages dw instead of dw²"] = w - lr * dw / (np.sqrt(np.abs(rho * cache + (1 - rho) * dw)) + eps)
        bugs["decay_rate and 1 - decay_rate are swapped"] = w - lr * dw / (np.sqrt((1 - rho) * cache + rho * dw * dw) + eps)
        bugs["the new dw² is not weighted by (1 − decay_rate): cache = decay_rate·cache + (1 − decay_rate)·dw²"] = (
            w - lr * dw / (np.sqrt(rho * cache + dw * dw) + eps)
        )
        bugs["ε is inside the square root: divide by sqrt(cache) + ε, not sqrt(cache + ε) (it matters for small gradients)"] = (
            w - lr * dw / np.sqrt(new + eps)
        )
    elif rule == "adam":
        b1, b2, eps = full["beta1"], full["beta2"], full["epsilon"]
        m0 = full.get("m", np.zeros_like(w))
        v0 = full.get("v", np.zeros_like(w))
        t = int(full.get("t", 0)) + 1
        m = b1 * m0 + (1 - b1) * dw
        v = b2 * v0 + (1 - b2) * dw * dw
        bugs["the bias correction is missing (m and v used directly)"] = w - lr * m / (np.sqrt(v) + eps)
        bugs["the step counter t is not incremented before the bias correction"] = (
            w - lr * (m / (1 - b1 ** max(t - 1, 1))) / (np.sqrt(v / (1 - b2 ** max(t - 1, 1))) + eps)
        )
        mh, vh = m / (1 - b1**t), v / (1 - b2**t)
        bugs["ε is inside the square root: divide by sqrt(v̂) + ε, not sqrt(v̂ + ε) (it matters for small gradients)"] = (
            w - lr * mh / np.sqrt(vh + eps)
        )
        bugs["ε is added to v before the bias correction: divide by sqrt(v̂) + ε with v̂ = v / (1 − β₂ᵗ)"] = (
            w - lr * mh / (np.sqrt(v / (1 - b2**t)) + eps / (1 - b2**t))
        )
        bugs["beta1 and beta2 are swapped"] = w - lr * ((b2 * m0 + (1 - b2) * dw) / (1 - b2**t)) / (
            np.sqrt((b1 * v0 + (1 - b1) * dw * dw) / (1 - b1**t)) + eps
        )
    return bugs


def _default_bugs(rule: str, w: np.ndarray, dw: np.ndarray, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Steps taken with one documented default replaced by a common other value (config=None)."""
    defaults = OPTIMIZER_DEFAULTS[rule]
    others = {"learning_rate": (1e-1, 1e-2, 1e-3, 1e-4), "momentum": (0.5, 0.99), "decay_rate": (0.9, 0.999),
              "beta1": (0.99,), "beta2": (0.99, 0.9), "epsilon": (1e-7, 1e-6, 1e-5)}
    state = {k: v for k, v in cfg.items() if k not in defaults}
    bugs = {}
    for key, value in defaults.items():
        for other in others.get(key, ()):
            if other != value:
                text = f"config=None must use the documented default {key}={value:g}; yours steps as with {key}={other:g}"
                bugs[text] = _ref_step(rule, w, dw, dict(defaults) | state | {key: other})
    return bugs


def _ref_step(rule: str, w: np.ndarray, dw: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    return ref("gradient_descent", rule)(w.copy(), dw.copy(), _copy_cfg(cfg))[0]


def _copy_cfg(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if cfg is None:
        return None
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in cfg.items()}


def _run_optimizer(
    S: Student, rule: str, w0: np.ndarray, dws: Sequence[np.ndarray], config: Mapping[str, Any] | None, context: str
) -> None:
    """Take ``len(dws)`` steps with the student's rule and the reference; compare w and the state."""
    reference = ref("gradient_descent", rule)
    update = S.fn(rule, mutable=("config",))
    w_ref, cfg_ref = w0.copy(), _copy_cfg(config)
    w_st, cfg_st = w0.copy(), _copy_cfg(config)
    for k, dw in enumerate(dws, start=1):
        step = f"{context}, step {k} of {len(dws)}"
        try:
            bugs = _opt_bugs(rule, w_st, dw, cfg_st or {})
            if config is None:
                bugs |= _default_bugs(rule, w_st, dw, cfg_st or {})
        except Exception:  # a malformed student state: no recognition, no crash
            bugs = {}
        w_ref, cfg_ref = reference(w_ref, dw.copy(), cfg_ref)
        res = update(w_st, dw.copy(), cfg_st)
        if not isinstance(res, tuple | list) or len(res) != 2:
            raise Fail(f"{rule} must return a pair (next_w, config), got {type(res).__name__}")
        w_new, cfg_new = res
        compare_alternatives(w_new, w_ref, "next_w", bugs, context=step)
        if not isinstance(cfg_new, dict):
            raise Fail(f"{rule} must return the config dict as second value, got {type(cfg_new).__name__}")
        for key in OPTIMIZER_STATE[rule]:
            if key not in cfg_new:
                raise Fail(
                    f"the returned config has no {key!r} ({step}): store the state there, the next "
                    "call needs it"
                )
            compare(cfg_new[key], cfg_ref[key], f"config[{key!r}]", context=step)
        w_st, cfg_st = np.asarray(w_new, dtype=np.float64), cfg_new


def _optimizer_task(rule: str, title: str, hyper: dict[str, float]) -> None:
    t = task(f"{ASSIGNMENT}.{rule}", title, [rule], needs=["gradient_descent"])

    @t.check(f"one step of {rule} on a fixed 2×3 example, config {hyper} (rtol 1e-6)", 1)
    def visible(S: Student) -> None:
        w = np.linspace(-0.4, 0.6, 6).reshape(2, 3)
        dw = np.linspace(-0.6, 0.4, 6).reshape(2, 3)
        _run_optimizer(S, rule, w, [dw], hyper, "w = linspace(-0.4, 0.6, 6).reshape(2, 3)")

    @t.check("two steps on the same example: the state in config carries over (rtol 1e-6)", 0.5)
    def visible2(S: Student) -> None:
        w = np.linspace(-0.4, 0.6, 6).reshape(2, 3)
        dws = [np.linspace(-0.6, 0.4, 6).reshape(2, 3), np.linspace(0.3, -0.2, 6).reshape(2, 3)]
        _run_optimizer(S, rule, w, dws, hyper, "fixed 2×3 example")

    defaults = ", ".join(f"{k}={v:g}" for k, v in OPTIMIZER_DEFAULTS[rule].items())

    @t.check(f"config=None uses the documented defaults ({defaults}): two steps (rtol 1e-6)", 0.5)
    def visible_defaults(S: Student) -> None:
        w = np.linspace(-0.4, 0.6, 6).reshape(2, 3)
        dws = [np.linspace(-0.6, 0.4, 6).reshape(2, 3), np.linspace(0.3, -0.2, 6).reshape(2, 3)]
        _run_optimizer(S, rule, w, dws, None, "fixed 2×3 example, config=None")

    if "epsilon" in hyper:
        @t.check("gradients of size 1e-4, where the place of ε matters (three steps, rtol 1e-6)", 0.5)
        def visible_small(S: Student) -> None:
            w = np.linspace(-0.4, 0.6, 6).reshape(2, 3)
            dws = [s * np.linspace(-1.0, 1.5, 6).reshape(2, 3) for s in (1e-4, 2e-4, 1e-4)]
            _run_optimizer(S, rule, w, dws, hyper, "w = linspace(-0.4, 0.6, 6).reshape(2, 3), |dw| ≈ 1e-4")

    @t.check("five steps on a random 4×7 parameter with other hyperparameters (rtol 1e-6)", 1, hidden=True)
    def hidden_steps(S: Student) -> None:
        rng = rng_for(rule, "steps")
        other = {k: (v * 0.5 if k == "learning_rate" else v) for k, v in hyper.items()}
        for k in other:
            if k in ("momentum", "beta1"):
                other[k] = 0.8
            elif k in ("decay_rate", "beta2"):
                other[k] = 0.95
        w = rng.standard_normal((4, 7))
        dws = [rng.standard_normal((4, 7)) * s for s in (1.0, 3.0, 0.1, 1.0, 2.0)]
        _run_optimizer(S, rule, w, dws, other, f"config {other}")

    @t.check("config=None uses the documented defaults (three steps, a vector of 5; rtol 1e-6)", 0.5, hidden=True)
    def hidden_defaults(S: Student) -> None:
        rng = rng_for(rule, "defaults")
        w = rng.standard_normal(5)
        dws = [rng.standard_normal(5) for _ in range(3)]
        _run_optimizer(S, rule, w, dws, None, "config=None")

    @t.check("a 1×1 parameter and gradients from 1e-6 to 1e3 (rtol 1e-6)", 0.5, hidden=True)
    def hidden_scales(S: Student) -> None:
        w = np.array([[0.5]])
        dws = [np.array([[1e3]]), np.array([[-1e-3]]), np.array([[2.0]]), np.array([[1e-6]]), np.array([[-3e-5]])]
        _run_optimizer(S, rule, w, dws, hyper, "w of shape (1, 1)")


_optimizer_task("sgd_momentum", "SGD with momentum", {"learning_rate": 0.1, "momentum": 0.9})
_optimizer_task("rmsprop", "RMSProp", {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8})
_optimizer_task("adam", "Adam", {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8})
