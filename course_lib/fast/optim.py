"""Adam without temporaries, for :meth:`course_lib.gradient_descent.Optimizer.step`.

The same float operations in the same order as :func:`course_lib.gradient_descent.adam`, so the
numbers are identical bit for bit (a test checks it); only the memory traffic differs: ``m`` and
``v`` (arrays the optimizer created at its first step through ``adam``) and the parameters are
updated in place, and the intermediate results go to scratch arrays kept between steps.

When every parameter has the same dtype, hyperparameters and step count (the usual case: one
optimizer, one model) the moments of all parameters live in one flat array each (``m`` and ``v``
in the configs become views of it) and each operation runs once over all parameters instead of
once per parameter: the seed CNN's 8 parameter arrays took ~100 small NumPy calls per step.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from course_lib.validate import check_array, check_int, check_optimizer_hyper, check_same_shape

__all__ = ["adam_step_in_place"]


def adam_step_in_place(
    params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
    configs: Mapping[str, MutableMapping[str, Any]], scratch: MutableMapping[str, Any],
) -> bool:
    """One Adam step on every ``params[k]`` in place with ``grads[k]`` and state ``configs[k]``.

    Returns False, touching nothing, when it does not apply: a parameter without state yet (the
    first step goes through the functional rule, which creates ``m`` and ``v``), a read-only
    parameter, or arrays of different dtypes or shapes. Everything is validated before the
    first write, with the functional rule's checks and messages.
    """
    for key, w in params.items():
        cfg = configs.get(key)
        if cfg is None or not isinstance(w, np.ndarray) or not w.flags.writeable:
            return False
        dw, m, v = grads[key], cfg.get("m"), cfg.get("v")
        if not (isinstance(dw, np.ndarray) and isinstance(m, np.ndarray) and isinstance(v, np.ndarray)):
            return False
        if not (dw.dtype == m.dtype == v.dtype == w.dtype) or not (m.shape == v.shape == w.shape):
            return False
    flat = _Flat.for_step(params, configs, scratch)
    if flat is not None:
        return flat.step(params, grads, configs)
    _validate(params, grads, configs)
    for key, w in params.items():
        cfg, dw = configs[key], grads[key]
        t = cfg["t"] + 1
        a, c = scratch.get(key, (None, None))
        if a is None or a.shape != w.shape or a.dtype != w.dtype:
            a, c = np.empty_like(w), np.empty_like(w)
            scratch[key] = (a, c)
        _moments_and_step(cfg["m"], cfg["v"], dw, a, c, cfg["learning_rate"], cfg["beta1"], cfg["beta2"],
                          cfg["epsilon"], t)
        np.subtract(w, a, out=w)
        cfg["t"] = t
    return True


def _moments_and_step(m: np.ndarray, v: np.ndarray, dw: np.ndarray, a: np.ndarray, c: np.ndarray,
                      lr: float, b1: float, b2: float, eps: float, t: int) -> None:
    """Update ``m`` and ``v`` in place and leave in ``a`` the step lr·m̂ / (√v̂ + ε) (``c``: scratch)."""
    np.multiply(m, b1, out=m)          # m = b1·m + (1 − b1)·dw
    np.multiply(dw, 1 - b1, out=a)
    np.add(m, a, out=m)
    np.multiply(v, b2, out=v)          # v = b2·v + (1 − b2)·dw·dw
    np.multiply(dw, 1 - b2, out=a)
    np.multiply(a, dw, out=a)
    np.add(v, a, out=v)
    np.divide(m, 1 - b1**t, out=a)     # m̂
    np.divide(v, 1 - b2**t, out=c)     # v̂
    np.sqrt(c, out=c)
    np.add(c, eps, out=c)
    np.multiply(a, lr, out=a)          # lr·m̂ / (√v̂ + ε), as lr·m̂ first, like adam()
    np.divide(a, c, out=a)


def _validate(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
              configs: Mapping[str, MutableMapping[str, Any]]) -> None:
    """The functional rule's checks, with its messages, for every parameter."""
    for key, w in params.items():
        check_array(w, "w")
        check_same_shape(w, check_array(grads[key], "dw"), "w", "dw")
        check_optimizer_hyper("adam", configs[key])
        check_int(configs[key]["t"], "t", low=0)


_HYPER = ("learning_rate", "beta1", "beta2", "epsilon")


class _Flat:
    """The moments of all parameters in one flat array each, and flat scratch arrays."""

    def __init__(self, params: Mapping[str, np.ndarray], configs: Mapping[str, MutableMapping[str, Any]]) -> None:
        self.keys = list(params)
        self.shapes = [params[k].shape for k in self.keys]
        self.dtype = params[self.keys[0]].dtype
        sizes = [params[k].size for k in self.keys]
        ends = np.cumsum(sizes).tolist()
        self.slices = [slice(e - n, e) for n, e in zip(sizes, ends)]
        total = ends[-1] if ends else 0
        self.m, self.v, self.g, self.a, self.c = (np.empty(total, dtype=self.dtype) for _ in range(5))
        self.m_views, self.v_views = {}, {}
        for key, sl, shape in zip(self.keys, self.slices, self.shapes):
            cfg = configs[key]
            self.m_views[key] = self.m[sl].reshape(shape)
            self.v_views[key] = self.v[sl].reshape(shape)
            self.m_views[key][...] = cfg["m"]
            self.v_views[key][...] = cfg["v"]
            cfg["m"], cfg["v"] = self.m_views[key], self.v_views[key]
        self.validated: tuple[Any, ...] | None = None

    @classmethod
    def for_step(cls, params: Mapping[str, np.ndarray], configs: Mapping[str, MutableMapping[str, Any]],
                 scratch: MutableMapping[str, Any]) -> _Flat | None:
        """The flat state for this step (built at the first step it applies), or None when the
        parameters differ in dtype, hyperparameters or step count."""
        if not params:
            return None
        first = configs[next(iter(params))]
        dtype = next(iter(params.values())).dtype
        try:
            same = all(w.dtype == dtype and all(configs[key].get(k) == first.get(k) for k in (*_HYPER, "t"))
                       for key, w in params.items())
        except (TypeError, ValueError):  # hyperparameters that are not numbers: the checks will say
            same = False
        if not same:
            return None
        flat = scratch.get("flat adam state")
        if not (isinstance(flat, _Flat) and flat.keys == list(params) and flat.dtype == dtype and all(
                configs[k]["m"] is flat.m_views[k] and configs[k]["v"] is flat.v_views[k]
                and params[k].shape == shape for k, shape in zip(flat.keys, flat.shapes))):
            flat = scratch["flat adam state"] = cls(params, configs)
        return flat

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
             configs: Mapping[str, MutableMapping[str, Any]]) -> bool:
        """One Adam step on every parameter; everything is validated before the first write."""
        g = self.g
        for key, sl in zip(self.keys, self.slices):
            dw = grads[key]
            if dw.shape != params[key].shape:
                _validate(params, grads, configs)  # raises the rule's message
            g[sl] = dw.reshape(-1)
        first = configs[self.keys[0]]
        hyper = tuple(first[k] for k in _HYPER)
        # The hyperparameters (the same for every parameter) are checked when they change, the
        # gradients at once over the flat copy, the parameters and the step count every time.
        seen = (hyper, tuple(first))
        if not np.isfinite(g).all() or seen != self.validated or not all(
                np.isfinite(params[k]).all() for k in self.keys):
            _validate(params, grads, configs)
            self.validated = seen
        check_int(first["t"], "t", low=0)
        t = first["t"] + 1
        _moments_and_step(self.m, self.v, g, self.a, self.c, *hyper, t)
        for key, sl, shape in zip(self.keys, self.slices, self.shapes):
            w = params[key]
            np.subtract(w, self.a[sl].reshape(shape), out=w)
            configs[key]["t"] = t
        return True
