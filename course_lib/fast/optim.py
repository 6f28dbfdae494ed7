"""Adam without temporaries, for :meth:`course_lib.gradient_descent.Optimizer.step`.

The same float operations in the same order as :func:`course_lib.gradient_descent.adam`, so the
numbers are identical bit for bit (a test checks it); only the memory traffic differs: ``m`` and
``v`` (arrays the optimizer created at its first step through ``adam``) and the parameters are
updated in place, and the intermediate results go to two scratch arrays per parameter that are
kept between steps.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from course_lib.validate import check_array, check_int, check_optimizer_hyper, check_same_shape

__all__ = ["adam_step_in_place"]


def adam_step_in_place(
    params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
    configs: Mapping[str, MutableMapping[str, Any]], scratch: MutableMapping[str, tuple[np.ndarray, np.ndarray]],
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
    for key, w in params.items():
        check_array(w, "w")
        check_same_shape(w, check_array(grads[key], "dw"), "w", "dw")
        check_optimizer_hyper("adam", configs[key])
        check_int(configs[key]["t"], "t", low=0)
    for key, w in params.items():
        cfg, dw = configs[key], grads[key]
        b1, b2, eps, lr = cfg["beta1"], cfg["beta2"], cfg["epsilon"], cfg["learning_rate"]
        t = cfg["t"] + 1
        m, v = cfg["m"], cfg["v"]
        a, c = scratch.get(key, (None, None))
        if a is None or a.shape != w.shape or a.dtype != w.dtype:
            a, c = np.empty_like(w), np.empty_like(w)
            scratch[key] = (a, c)
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
        np.subtract(w, a, out=w)
        cfg["t"] = t
    return True
