"""Numerical gradient checking with diagnostics.

The analytic gradient a backward pass computes is compared with central differences,

    df/dx_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / (2h),

whose error is O(h²). With float64 and h = 1e-5 the truncation error (~h²·f''') and the rounding
error (~ε·|f|/h ≈ 1e-11) balance so that a correct backward pass agrees to a relative error of
about 1e-8 to 1e-10; anything above ~1e-6 is a bug, not noise (except at kinks such as relu(0)).

Two rules make a check trustworthy:

1. **Random upstream gradient.** A layer's backward receives ``dout = dL/dout``. Checking with
   ``dout = ones`` hides whole classes of bugs: for a standardising layer (BatchNorm without
   γ, β), ``y = (x − mean(x)) / std(x)``, the true ``dx`` is exactly zero when ``dout`` is constant
   along the batch, and so is the ``x̂·mean(dout·x̂)`` (variance) term of it, so a backward that
   forgets that term passes a check with ``dout = ones`` and fails one with a random ``dout``
   (``tests/test_gradcheck.py`` proves both). We always draw ``dout`` from a standard normal.
2. **Float64.** In float32 the rounding error ε/h ≈ 1e-2 swamps everything; we refuse float32.

:func:`check_layer` returns a :class:`Report` that names the failing input, the worst entry
(analytic vs numerical value) and, where the pattern is recognisable, the likely cause: a factor 2
or ½, a wrong sign, a transposed matrix, a missing sum over the batch, a gradient divided by the
batch size, all zeros, or only some entries right.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib.finite_differences import central_differences, weighted_difference
from course_lib.validate import check_number, describe

__all__ = [
    "InputResult",
    "Report",
    "arrays_in",
    "check_layer",
    "diagnose",
    "numerical_gradient",
    "numerical_gradient_array",
    "rel_error",
    "worst_entry",
]


def _require_float64(x: object, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {describe(x)}")
    if x.dtype != np.float64:
        raise TypeError(
            f"gradient checks need float64 inputs, {name} has dtype {x.dtype}: in lower precision "
            "the rounding error of a finite difference is larger than the gradient error it "
            f"should reveal; use {name}.astype(np.float64)"
        )
    return x


def _scalar(value: object) -> float:
    if np.ndim(value) != 0 and np.size(value) != 1:
        raise ValueError(
            f"numerical_gradient needs a scalar-valued f, but f returned shape {np.shape(value)}; "
            "use numerical_gradient_array for array-valued functions"
        )
    return float(np.asarray(value, dtype=np.float64).reshape(()))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function.

    Args:
        f: function of ``x`` returning a scalar (it may ignore its argument and read ``x`` through
            a closure: ``x`` is perturbed in place).
        x: float64 array of any shape; perturbed in place one entry at a time and always restored,
            even if ``f`` raises.
        h: step, > 0.

    Returns:
        array of ``x.shape``: ``grad[i] ≈ df/dx[i]``.
    """
    _require_float64(x, "x")
    check_number(h, "h", low=0, low_inclusive=False)
    return central_differences(x, h, lambda: _scalar(f(x)), lambda fp, fm: fp - fm)


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of ``L = sum(f(x) * dout)`` with respect to ``x``.

    This is what a backward pass must return when it receives the upstream gradient ``dout``.

    Args:
        f: function of ``x`` returning an array with the shape of ``dout``.
        x: float64 array of any shape; perturbed in place and always restored.
        dout: float64 upstream gradient, shape of ``f(x)``.
        h: step, > 0.

    Returns:
        array of ``x.shape``.
    """
    _require_float64(x, "x")
    _require_float64(dout, "dout")
    check_number(h, "h", low=0, low_inclusive=False)

    def probe() -> np.ndarray:
        return np.array(f(x), dtype=np.float64, copy=True)

    def diff(pos: np.ndarray, neg: np.ndarray) -> float:
        if pos.shape != dout.shape:
            raise ValueError(f"f(x) has shape {pos.shape} but dout has shape {dout.shape}")
        return weighted_difference(pos, neg, dout)

    return central_differences(x, h, probe, diff)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error ``|a − b| / max(1e-8, |a| + |b|)``.

    Relative rather than absolute, so that a gradient of size 1e3 and one of size 1e-3 are
    judged alike; the 1e-8 floor keeps entries where both are ~0 from dividing by zero.

    Raises:
        ValueError: shapes differ.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
    if np.isnan(err).any():
        return float("inf")
    return float(np.max(err))


# --------------------------------------------------------------------------------------------
# Diagnosis
# --------------------------------------------------------------------------------------------

def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> bool:
    return a.shape == b.shape and rel_error(a, b) < tol


def diagnose(analytic: Any, numerical: np.ndarray, batch_size: int | None = None) -> str | None:
    """Recognise a likely cause for an analytic gradient that disagrees with the numerical one.

    Args:
        analytic: what the backward pass returned (any object: None and wrong shapes are handled).
        numerical: the numerical gradient, float64.
        batch_size: N, the size of the batch axis of the layer's input, to recognise a missing sum
            over the batch or a gradient divided by N.

    Returns:
        a sentence a student can act on, or None if no pattern is recognised.
    """
    if analytic is None:
        return "backward returned None for this input: return its gradient"
    if not isinstance(analytic, np.ndarray):
        try:
            analytic = np.asarray(analytic, dtype=np.float64)
        except (TypeError, ValueError):
            return f"backward returned {describe(analytic)}, not an array of shape {numerical.shape}"
    if not np.issubdtype(analytic.dtype, np.number):
        return f"backward returned an array of dtype {analytic.dtype}, expected floats"
    a = analytic.astype(np.float64)
    n = numerical
    if a.shape != n.shape:
        if n.ndim == 2 and a.shape == n.T.shape and _close(a, n.T):
            return f"transposed: the gradient has shape {a.shape} but should be {n.shape} (use .T)"
        if batch_size and a.shape == (batch_size, *n.shape) and _close(a.sum(axis=0), n):
            return (
                f"missing sum over the batch: got shape {a.shape}, one row per example; "
                f"sum over axis 0 to get {n.shape}"
            )
        if a.size == n.size and _close(a.reshape(n.shape), n):
            return f"right values, wrong shape: got {a.shape}, expected {n.shape} (reshape)"
        return f"wrong shape: got {a.shape}, expected {n.shape}"
    if not np.isfinite(a).all():
        return "the gradient contains NaN or inf: an overflow (exp of a large number?) or 0/0"
    if not np.any(a) and np.any(np.abs(n) > 1e-10):
        return "the gradient is all zeros: was it computed but never written, or never accumulated?"
    if n.ndim == 2 and n.shape[0] == n.shape[1] and n.shape[0] > 1 and _close(a, n.T) and not _close(a, n):
        return "transposed: the gradient equals the expected one transposed"
    nn = float(np.vdot(n, n))
    if nn > 0:
        c = float(np.vdot(a, n)) / nn
        if _close(a, c * n, 1e-4):
            candidates: list[tuple[float, str]] = [
                (2.0, "a factor 2 too large (a ½ dropped somewhere, or a term counted twice?)"),
                (0.5, "a factor 2 too small (an extra ½, or the 2 from differentiating a square missing?)"),
                (-1.0, "the wrong sign (subtracting where the formula adds?)"),
                (-2.0, "the wrong sign and a factor 2 too large"),
                (-0.5, "the wrong sign and a factor 2 too small"),
            ]
            if batch_size and batch_size > 1:
                candidates += [
                    (1.0 / batch_size, f"divided by the batch size N={batch_size} once too often (mean where a sum is due?)"),
                    (float(batch_size), f"N={batch_size} times too large (a sum where a mean is due? a missing 1/N?)"),
                ]
            matches = [text for factor, text in candidates if abs(c - factor) < 1e-3 * abs(factor)]
            if matches:
                # with N = 2 a factor ½ (or 2) may be either cause: name both
                return "; or ".join(dict.fromkeys(matches))
            return f"off by a constant factor: the gradient is {c:.4g} × the expected one"
    # only part of the entries right
    close = np.isclose(a, n, rtol=1e-5, atol=1e-8)
    k = int(close.sum())
    if 0 < k < a.size:
        if batch_size and a.ndim >= 1 and a.shape[0] == batch_size and batch_size > 1:
            rows_ok = close.reshape(batch_size, -1).all(axis=1)
            if rows_ok[0] and not rows_ok[1:].any():
                return "only the first example of the batch is right: loop over the whole batch"
            if rows_ok.any() and not rows_ok.all():
                return (
                    f"only {int(rows_ok.sum())} of {batch_size} examples of the batch are right: "
                    "check the loop bounds over the batch"
                )
        flat = close.reshape(-1)
        if flat[0] and not flat[1:].any():
            return "only the first entry is right: the loop stops after one element?"
        return (
            f"only {k} of {a.size} entries are right: a loop bound, an index, a border "
            "(padding) or a mask may be wrong"
        )
    return None


# --------------------------------------------------------------------------------------------
# Layer checks
# --------------------------------------------------------------------------------------------

@dataclass
class InputResult:
    """The verdict for one differentiated input of a layer.

    ``rel_error`` is the largest relative error over the entries that can judge the gradient:
    those large enough that the finite-difference noise of the check (``noise_floor``, see
    :func:`check_layer`) cannot cost them ``tol`` of relative error, and any entry whose difference
    exceeds that noise. A tiny entry that agrees to within the noise (e.g. a true gradient of
    exactly 0, or 1e-6 next to entries of 1) does not count: its relative error measures the
    rounding of the finite difference, not the code. ``passed`` is ``rel_error <= tol``.
    """

    name: str
    passed: bool
    rel_error: float
    worst_index: tuple[int, ...] | None = None
    analytic_value: float | None = None
    numerical_value: float | None = None
    diagnosis: str | None = None
    max_abs_error: float | None = None
    noise_floor: float | None = None

    def __str__(self) -> str:
        # One fact per line, wrapped to fit the book's 76-character output column (a Report
        # indents these lines by two more).
        status = "ok  " if self.passed else "FAIL"
        lines = [f"[{status}] d{self.name}: relative error {self.rel_error:.2e}"]
        if self.max_abs_error is not None and self.noise_floor is not None:
            lines.append(
                f"largest difference {self.max_abs_error:.1e}, noise floor {self.noise_floor:.1e}"
            )
        if not self.passed and self.worst_index is not None:
            lines.append(
                f"worst at index {self.worst_index}: analytic {self.analytic_value:.6g}, "
                f"numerical {self.numerical_value:.6g}"
            )
        if self.diagnosis:
            lines.append(f"likely cause: {self.diagnosis}")
        return "\n".join(
            [lines[0]]
            + [textwrap.fill(line, 74, initial_indent=" " * 7, subsequent_indent=" " * 9)
               for line in lines[1:]]
        )


@dataclass
class Report:
    """What :func:`check_layer` found: one :class:`InputResult` per checked input."""

    tolerance: float
    results: list[InputResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(r.passed for r in self.results)

    def __getitem__(self, name: str) -> InputResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        head = f"gradient check ({'passed' if self.passed else 'FAILED'}, tolerance {self.tolerance:.0e})"
        lines = [head, *(f"  {p}" for p in self.problems), *(f"  {r}" for r in self.results)]
        return "\n".join(lines)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731


def arrays_in(obj: Any, depth: int = 0) -> list[np.ndarray]:
    """The NumPy arrays inside ``obj`` (an array, or nested tuples, lists and dicts of them, up to
    five levels deep), in order; other objects contribute none."""
    if isinstance(obj, np.ndarray):
        return [obj]
    if depth > 4:
        return []
    if isinstance(obj, tuple | list):
        return [a for item in obj for a in arrays_in(item, depth + 1)]
    if isinstance(obj, dict):
        return [a for item in obj.values() for a in arrays_in(item, depth + 1)]
    return []


def _judged(a: np.ndarray, n: np.ndarray, noise: float, tol: float) -> np.ndarray:
    """Mask of the entries that count (see :class:`InputResult`); NaN always counts."""
    with np.errstate(invalid="ignore"):
        tiny_agreeing = (np.maximum(np.abs(a), np.abs(n)) <= noise / tol) & (np.abs(a - n) <= noise)
    return ~tiny_agreeing


def worst_entry(a: np.ndarray, n: np.ndarray, counted: np.ndarray | None = None) -> tuple[tuple[int, ...], float, float]:
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - n)
        err = diff / np.maximum(1e-8, np.abs(a) + np.abs(n))
    err = np.where(np.isnan(err), np.inf, err)
    if counted is not None:
        err = np.where(counted, err, -1.0)  # noise-level entries are never "the worst"
    idx = np.unravel_index(int(np.argmax(err)), a.shape)
    return tuple(int(i) for i in idx), float(a[idx]), float(n[idx])


def check_layer(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[np.ndarray, Any], Any],
    inputs: Mapping[str, np.ndarray],
    *,
    kwargs: Mapping[str, Any] | None = None,
    wrt: Sequence[str] | None = None,
    dout: np.ndarray | None = None,
    seed: int = 0,
    tol: float = 1e-7,
    h: float = 1e-5,
    numerical_of: Callable[[str, Mapping[str, np.ndarray], np.ndarray, float], np.ndarray | None] | None = None,
) -> Report:
    """Check a forward/backward pair against numerical gradients.

    Args:
        forward: ``forward(*inputs.values(), **kwargs) -> (out, cache)``.
        backward: ``backward(dout, cache)`` returning the gradients of the inputs in ``inputs``
            order — a tuple ``(dx, dw, ...)``, or a single array when there is one input.
        inputs: name -> float64 array, in the order ``forward`` takes them (e.g. ``{"x": x, "w": w,
            "b": b}``). They are not modified (a forward that modifies them fails the check).
        kwargs: non-differentiable options for ``forward`` (``stride``, ``pad``, a mode, a seed).
        wrt: names of the inputs whose gradients to check; default all. Gradients that backward
            returns for other inputs are ignored.
        dout: the upstream gradient; default a standard-normal array drawn with ``seed``
            (never all ones: see the module docstring).
        seed: seed of the upstream gradient.
        tol: largest relative error that passes. Small entries that agree to within the
            rounding noise of the finite differences (10·ε·Σ|out·dout|/(2h)) always pass (see
            :class:`InputResult`).
        h: finite-difference step.
        numerical_of: ``numerical_of(name, inputs, dout, h)`` may compute the numerical gradient
            of ``Σ forward(*inputs.values(), **kwargs)[0]·dout`` with respect to ``inputs[name]``
            itself (an array of that input's shape; the grader does it in one round trip to the
            process running a student's forward), or return None: then it is computed here
            with :func:`numerical_gradient_array`. It must not modify ``inputs``.

    Returns:
        a :class:`Report`; ``bool(report)`` is True when every gradient passed. Besides wrong
        gradients it flags a forward that modifies its inputs, a backward that modifies ``dout``
        or its cache, a backward returning None, and one returning too few gradients.
    """
    kwargs = dict(kwargs or {})
    names = list(inputs)
    for name in names:
        _require_float64(inputs[name], name)
    wrt = list(names if wrt is None else wrt)
    for name in wrt:
        if name not in inputs:
            raise ValueError(f"wrt names {name!r}, which is not one of the inputs {names}")
    check_number(tol, "tol", low=0, low_inclusive=False)
    report = Report(tolerance=tol)
    originals = {k: v.copy() for k, v in inputs.items()}
    arrays = {k: v.copy() for k, v in inputs.items()}

    out, cache = forward(*arrays.values(), **kwargs)
    for k in names:
        if not np.array_equal(arrays[k], originals[k], equal_nan=True):
            report.problems.append(
                f"forward modified its input {k!r} in place: work on a copy, never change the inputs"
            )
            arrays[k][...] = originals[k]
    out = np.asarray(out)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"dout has shape {dout.shape} but forward's output has shape {out.shape}")
    # backward gets its own copy of dout, so that one that writes into it can neither change the
    # caller's array nor the dout used for the numerical gradients below.
    dout_given = dout.copy()
    cache_snapshot = [(a, a.copy()) for a in arrays_in(cache)]
    grads = backward(dout_given, cache)
    if not np.array_equal(dout_given, dout, equal_nan=True):
        report.problems.append("backward modified dout in place: compute new arrays instead")
    if any(not np.array_equal(a, c, equal_nan=True) for a, c in cache_snapshot):
        report.problems.append(
            "backward modified the cache in place: treat the cache as read-only (a second "
            "backward from the same cache would go wrong)"
        )
    for k in names:  # a cache may hold the inputs themselves; undo any change to them
        if not np.array_equal(arrays[k], originals[k], equal_nan=True):
            arrays[k][...] = originals[k]
    if grads is None:
        report.problems.append(
            "backward returned None: is its return statement missing? It must return the "
            f"gradients of {names} in that order"
        )
        grads = ()
    elif not isinstance(grads, tuple | list):
        grads = (grads,)
    if 0 < len(grads) < len(names):
        report.problems.append(
            f"backward returned {len(grads)} gradient(s) but the layer has {len(names)} input(s) "
            f"{names}: return them in that order"
        )
    batch = arrays[names[0]].shape[0] if arrays[names[0]].ndim else None
    # Rounding error of a central difference of L = Σ out·dout: each output is off by ~ε·|out|,
    # so the numerical gradient carries noise ~ε·Σ|out·dout| / (2h). Where the true gradient is 0
    # (e.g. BatchNorm's dx for constant dout) that noise alone would give a relative error of
    # ~1e-3 against the 1e-8 floor of rel_error. Small entries that agree to within 10× this
    # noise do not count (see InputResult).
    with np.errstate(invalid="ignore", over="ignore"):
        noise = 10 * np.finfo(np.float64).eps * float(np.nansum(np.abs(out * dout))) / (2 * h)

    for name in wrt:
        i = names.index(name)
        analytic = grads[i] if i < len(grads) else None

        def f(v: np.ndarray, name: str = name) -> np.ndarray:
            # copies, so that a forward that modifies its inputs (already reported above) cannot
            # corrupt the other inputs or the perturbed one while we differentiate
            args = {k: (v if k == name else a).copy() for k, a in arrays.items()}
            return forward(*args.values(), **kwargs)[0]

        numerical = numerical_of(name, arrays, dout, h) if numerical_of is not None else None
        if numerical is None:
            numerical = numerical_gradient_array(f, arrays[name], dout, h=h)
        try:
            a = np.asarray(analytic, dtype=np.float64) if analytic is not None else None
        except (TypeError, ValueError):
            a = None
        if a is None or a.shape != numerical.shape:
            report.results.append(
                InputResult(name, False, float("inf"), diagnosis=diagnose(analytic, numerical, batch))
            )
            continue
        counted = _judged(a, numerical, noise, tol)
        err = rel_error(a[counted], numerical[counted])
        ok = err <= tol
        idx, av, nv = worst_entry(a, numerical, counted)
        with np.errstate(invalid="ignore"):
            max_abs = float(np.max(np.abs(a - numerical))) if a.size else 0.0
        report.results.append(
            InputResult(
                name, ok, err, idx, av, nv, None if ok else diagnose(a, numerical, batch), max_abs, noise
            )
        )
    return report
