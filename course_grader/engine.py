"""Autograding: the checks that the exercise notebooks' test cells call.

A test cell of an assignment is one line::

    grading.grade("ch01_neuron.sigmoid", globals())            # visible tests
    grading.grade("ch01_neuron.sigmoid", globals(), hidden=True)  # hidden tests (graded only)

:func:`grade` looks the student's functions up by name, runs every sub-check of that task, prints a
report a student can act on (what was checked, expected vs got at the worst index, the likely cause
recognised by :mod:`course_lib.gradcheck`) and returns the points earned. nbgrader takes a number
that is the last expression of a grade cell as that cell's (partial) score, so a task worth 3 points
whose backward pass is wrong scores, say, 1.0 of 3.

Robustness rules (the grader must never be the thing that breaks):

- every sub-check runs in a forked child process (on POSIX), so a student's infinite loop is cut
  off by a time limit, a crash (``os._exit``, a segfault, a ``MemoryError``) costs that sub-check
  only, and whatever the student's code does to NumPy or to ``course_lib`` cannot leak into the
  next check or into the notebook;
- before a check runs, the child restores the attribute dictionaries of NumPy, the builtins and the
  ``course_lib`` modules from snapshots taken when this module was imported (the first cell of the
  notebook, before any student code): ``np.allclose = lambda *a, **k: True`` in a student cell
  does not fool the checks;
- a student exception (``NotImplementedError`` included) is caught, reported, and scores 0 for
  that sub-check; nothing is written to stderr, because nbgrader gives 0 to a cell with stderr.

The cascade rule (:func:`judge_backward`): a backward pass is judged against the student's *own*
forward pass. Its points depend on the backward being the right derivative of the forward the
student wrote (numerical gradients) or of the forward the task asks for (the reference gradients);
a wrong forward costs the forward's points once, in the forward's own check, and when the backward
cannot be judged because of it, the backward's report says "your forward differs from the
reference: fix task k first" instead of blaming the backward. A task that builds on an earlier
task's function (ch04's convolutions on ``conv_output_size``) is checked with the reference of that
function given to the student's code (:attr:`Check.given`): the earlier mistake costs the earlier
task's points only, and a note says what the student's own version gets wrong.

Messages: a "recognised mistake" is named only when the student's numbers are exactly what that
mistake produces on the same input; otherwise the report says what differs (where, by how much,
on which inputs, within which tolerance) and does not guess (:func:`trusted_hint`).

Each task is a list of sub-checks with points. Visible sub-checks use fixed small inputs the student
can reproduce; hidden ones use fresh random shapes (odd sizes, batch of 1, stride/padding cases)
drawn from seeds derived from the check's name, so grading is deterministic.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import importlib
import inspect
import io
import math
import os
import pickle
import re
import select
import signal
import sys
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib import gradcheck

__all__ = [
    "TASKS",
    "Check",
    "CheckOutcome",
    "Fail",
    "RemoteFunction",
    "Student",
    "Task",
    "TaskResult",
    "book_base_url",
    "book_link",
    "diagnose",
    "fix_first",
    "forward_differs",
    "given_functions",
    "given_names",
    "given_source",
    "grade",
    "home_task",
    "judge_backward",
    "run_check",
    "run_task",
    "task_number",
    "task_points",
    "trusted_report",
]

# Chapter modules whose reference functions the checks use; imported now, before student code.
_CHAPTER_MODULES = (
    "neuron",
    "loss",
    "gradient_descent",
    "conv",
    "pooling",
    "backprop",
    "batchnorm",
    "dropout",
    "architectures",
    "data",
    "init",
)

REF: dict[str, Any] = {}
for _name in _CHAPTER_MODULES:
    try:
        REF[_name] = importlib.import_module(f"course_lib.{_name}")
    except ImportError:  # a chapter not written yet: its tasks report that, the others still work
        pass


def _snapshot_modules() -> dict[str, dict[str, Any]]:
    mods = {"builtins": builtins, "numpy": np, "numpy.random": np.random, "numpy.linalg": np.linalg}
    for name, mod in list(sys.modules.items()):
        if name == "course_lib" or name.startswith("course_lib."):
            mods[name] = mod
    return {name: dict(vars(mod)) for name, mod in mods.items() if mod is not None}


_SNAPSHOT = _snapshot_modules()


def _restore_modules() -> None:
    """Undo attribute tampering (``np.allclose = ...``) in this process; see the module docstring."""
    for name, saved in _SNAPSHOT.items():
        mod = sys.modules.get(name)
        if mod is not None:
            vars(mod).update(saved)


# ---------------------------------------------------------------------------------------------
# Outcomes of one sub-check
# ---------------------------------------------------------------------------------------------

class Fail(Exception):
    """A sub-check failed; the message tells the student what and (where known) why."""


class NotImplementedByStudent(Exception):
    """The student's function still raises ``NotImplementedError`` (the template's stub)."""


class MissingFunction(Exception):
    """The notebook does not define a function a task needs (or the name is not a function)."""


@dataclass
class CheckOutcome:
    """What one sub-check found."""

    what: str
    points: float
    earned: float
    status: str  # pass | fail | not implemented | missing | error | timeout | crash
    message: str = ""
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class TaskResult:
    """All sub-checks of one part (visible or hidden) of a task."""

    task_id: str
    title: str
    hidden: bool
    outcomes: list[CheckOutcome] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return round(sum(o.earned for o in self.outcomes), 4)

    @property
    def points(self) -> float:
        return round(sum(o.points for o in self.outcomes), 4)

    def messages(self) -> str:
        return "\n".join(o.message for o in self.outcomes if o.message)

    def __str__(self) -> str:
        part = "hidden tests" if self.hidden else "tests"
        unit = "point" if self.points == 1 else "points"
        lines = [f"{self.title} — {part}: {_fmt(self.earned)} / {_fmt(self.points)} {unit}"]
        previous = None
        for o in self.outcomes:
            tag = {"pass": "PASS", "not implemented": "TODO"}.get(o.status, "FAIL")
            link = f"  {book_link(self.task_id)}" if tag == "FAIL" else ""
            lines.append(f"  [{tag}] {_fmt(o.earned)}/{_fmt(o.points)}  {o.what}{link}".rstrip())
            if o.message and o.message == previous:
                lines.append("         (same as above)")
            elif o.message:
                lines.extend("         " + line for line in o.message.splitlines())
            previous = o.message
            if o.output and not o.passed:
                shown = o.output.strip().splitlines()
                lines.append("         your code printed:")
                lines.extend("           " + line for line in shown[:8])
                if len(shown) > 8:
                    lines.append(f"           ... ({len(shown) - 8} more lines)")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------------------------------------
# Links to the book
# ---------------------------------------------------------------------------------------------

def book_base_url() -> str | None:
    """Where the book is: ``COURSE_BOOK_URL``, else ``html: baseurl`` of the course's
    ``_config.yml`` (the folder above the course directory), else the locally built book
    (``file://…/book/_build/html``) next to that ``_config.yml``; None when there is no book."""
    env = os.environ.get("COURSE_BOOK_URL")
    if env:
        return env.rstrip("/")
    try:
        from course_grader.course import find_course

        config = find_course().parent / "_config.yml"
    except Exception:  # no course directory here: a report without a URL
        return None
    if not config.is_file():
        return None
    base = ""
    try:
        import yaml

        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        base = str((data.get("html") or {}).get("baseurl") or "")
    except Exception:
        base = ""
    if base:
        return base.rstrip("/")
    return (config.parent / "book" / "_build" / "html").resolve().as_uri()


def book_link(task_id: str) -> str:
    """"→ 4.6 The backward pass (URL)": the book section that derives what a task asks, or ""."""
    try:
        from course_grader.book_sections import SECTIONS
    except ImportError:
        return ""
    sec = SECTIONS.get(task_id)
    if not sec:
        return ""
    text = f"→ {sec['number']} {sec['title']}"
    base = book_base_url()
    return f"{text} ({base}/{sec['page']}.html#{sec['anchor']})" if base else text


# ---------------------------------------------------------------------------------------------
# Tasks and sub-checks
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One sub-check: ``run(S)`` raises :class:`Fail` (or returns normally when it passes).

    ``S`` gives the student's functions as attributes, wrapped so that an exception in them becomes
    a clear :class:`Fail` (or "not implemented yet") and modifying an input array is caught.
    """

    what: str
    points: float
    run: Callable[[Student], None]
    hidden: bool = False
    timeout: float = 20.0
    #: Library functions (``"course_lib.conv:conv_output_size"``) given to the student's code for
    #: this check: while it runs, the student's own function of that name is replaced by the
    #: reference in the namespace their other functions read (see :func:`given_functions`).
    given: tuple[str, ...] = ()


@dataclass
class Task:
    """A graded task of an assignment: the functions the student writes and the sub-checks."""

    id: str
    title: str
    functions: tuple[str, ...]
    checks: list[Check] = field(default_factory=list)
    needs: tuple[str, ...] = ()
    #: Library functions every check of this task gives the student's code (:attr:`Check.given`):
    #: the answers of earlier tasks it builds on, so a mistake there costs that task's points only.
    given: tuple[str, ...] = ()

    def points(self, hidden: bool) -> float:
        return round(sum(c.points for c in self.checks if c.hidden == hidden), 4)

    def check(
        self, what: str, points: float, *, hidden: bool = False, timeout: float = 20.0, tolerance: str = ""
    ):
        """Decorator registering ``run(S)`` as a sub-check of this task.

        ``tolerance`` (e.g. "rtol 1e-6", "exact", "relative error ≤ 1e-7") is appended to ``what``,
        so the report line of every check states how close is close enough.
        """
        label = f"{what} ({tolerance})" if tolerance else what

        def register(run: Callable[[Student], None]) -> Callable[[Student], None]:
            self.checks.append(Check(label, points, run, hidden, timeout, self.given))
            return run

        return register


TASKS: dict[str, Task] = {}


def task(
    task_id: str, title: str, functions: Sequence[str], needs: Sequence[str] = (), given: Sequence[str] = ()
) -> Task:
    """Register a new task in :data:`TASKS` (task modules call this once per task).

    ``given``: library functions (``"course_lib.conv:conv_output_size"``) of earlier tasks that
    the student's code gets instead of their own while this task is checked (:attr:`Check.given`).
    """
    if task_id in TASKS:
        raise ValueError(f"task {task_id!r} registered twice")
    t = Task(task_id, title, tuple(functions), needs=tuple(needs), given=tuple(given))
    TASKS[task_id] = t
    return t


def task_number(task_id: str) -> int:
    """The task's number in its notebook ("## Task k"): its place among its assignment's tasks.

    Task modules register the tasks in notebook order (``tests/grading/test_generated.py`` checks
    it against every spec), so this is the number the student reads above the task.
    """
    assignment = task_id.split(".", 1)[0]
    ids = [t for t in TASKS if t.split(".", 1)[0] == assignment]
    return ids.index(task_id) + 1


def home_task(function: str, assignment: str) -> Task | None:
    """The first task of ``assignment`` that asks for ``function`` (where the student writes it)."""
    for t in TASKS.values():
        if t.id.split(".", 1)[0] == assignment and function in t.functions:
            return t
    return None


def task_points(task_id: str, hidden: bool = False) -> float:
    """Points of the visible (or hidden) part of a task: what the generator writes in the cell."""
    return TASKS[task_id].points(hidden)


# ---------------------------------------------------------------------------------------------
# The student's functions, wrapped
# ---------------------------------------------------------------------------------------------

def _raised_by_a_raise(tb: Any) -> bool:
    """Whether the exception comes from a ``raise`` statement outside NumPy (the student's own
    check, or a course_lib.validate helper) rather than from NumPy or an operation that failed
    (``np.zeros`` of a negative size, a reduction over an empty window)."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return False
    last = frames[-1]
    if os.path.abspath(last.filename).startswith(os.path.dirname(np.__file__)):
        return False
    line = (last.line or "").lstrip()
    return not line or line.startswith("raise")  # no source to read: give the benefit of the doubt


def _student_frame(tb: Any) -> str:
    """Where in the student's code an exception arose: the deepest frame outside the libraries."""
    frames = traceback.extract_tb(tb)
    lib = (os.path.dirname(np.__file__), os.path.dirname(os.path.abspath(__file__)))
    for fr in reversed(frames):
        fname = os.path.abspath(fr.filename) if not fr.filename.startswith("<") else fr.filename
        if not fname.startswith(lib):
            line = (fr.line or "").strip()
            return f"in {fr.name}" + (f", at: {line}" if line else "")
    return ""


class RemoteFunction:
    """A student's function that lives in another process: the grader's sandbox proxy
    (:mod:`course_grader.sandbox`) subclasses this. Calling it is one round trip to that process;
    :meth:`numerical_gradient` computes a whole numerical gradient of it in one."""

    __name__ = "remote function"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def numerical_gradient(self, args: Sequence[Any], kwargs: Mapping[str, Any], at: Sequence[int | str],
                           dout: np.ndarray | None, h: float, pair: bool, keep: Sequence[int | str]) -> Any:
        """The central-difference gradient computed where the function lives (see
        :meth:`Student.numerical_gradient`), or None when that did not go like ordinary calls."""
        return None


def _argument_at(args: Sequence[Any], kwargs: Mapping[str, Any], at: Sequence[int | str]) -> Any:
    """``args[at[0]]`` (or ``kwargs[at[0]]`` for a name), then ``[at[1]]``, ... into containers."""
    x: Any = kwargs if isinstance(at[0], str) else args
    for step in at:
        x = x[step]
    return x


class Student:
    """The student's functions, looked up by name in the notebook's namespace.

    ``S.sigmoid_forward(x)`` calls the student's function; an exception becomes :class:`Fail`
    naming the function and the line, ``NotImplementedError`` becomes "not implemented yet", and a
    function that changes one of its array arguments fails (unless the name is in ``mutable``).
    """

    def __init__(self, namespace: Mapping[str, Any]):
        self._ns = namespace
        #: Remarks for a check that passes (e.g. "graded with the reference conv_output_size").
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """Add a remark to this check's report line, shown even when it passes."""
        if text not in self.notes:
            self.notes.append(text)

    def fn(self, name: str, mutable: Sequence[str] = ()) -> Callable[..., Any]:
        f = self._ns.get(name)
        if f is None:
            raise MissingFunction(f"there is no function `{name}`: define it (keep the name from the template)")
        if not callable(f):
            raise MissingFunction(f"`{name}` is a {type(f).__name__}, not a function")

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = inspect.signature(f).bind(*args, **kwargs)
                named = dict(bound.arguments)
            except (TypeError, ValueError):
                named = {f"argument {i + 1}": a for i, a in enumerate(args)} | dict(kwargs)
            before = {
                k: [a.copy() for a in gradcheck.arrays_in(v)] for k, v in named.items() if k not in mutable
            }
            try:
                result = f(*args, **kwargs)
            except NotImplementedError as e:
                where = _student_frame(e.__traceback__)
                inner = where.split(",")[0].removeprefix("in ") if where else name
                raise NotImplementedByStudent(
                    f"{inner} is not implemented yet: replace `raise NotImplementedError()` "
                    "with your code"
                ) from None
            except Fail:
                raise
            except Exception as e:
                where = _student_frame(e.__traceback__)
                hint = ""
                if isinstance(e, RuntimeWarning) and "overflow" in str(e):
                    hint = (
                        "\n  an intermediate value is too large for float64 (exp(710) = inf): use a stable "
                        "formula (sigmoid: exp of -|x| only, one branch per sign; softmax: subtract the "
                        "row maximum before exp)"
                    )
                elif isinstance(e, RuntimeWarning):
                    hint = "\n  NumPy produced inf or NaN: a division by zero or log(0)?"
                fail = Fail(
                    f"{name} raised {type(e).__name__}: {e}" + (f"\n  {where}" if where else "") + hint
                )
                fail.raised = type(e)
                # the sandbox's stand-in for a remote exception says it itself
                fail.deliberate = getattr(e, "deliberate", None)
                if not isinstance(fail.deliberate, bool):
                    fail.deliberate = _raised_by_a_raise(e.__traceback__)
                raise fail from None
            for k, saved in before.items():
                now = gradcheck.arrays_in(named[k])
                if len(now) == len(saved) and any(
                    a.shape != b.shape or not np.array_equal(a, b, equal_nan=True)
                    for a, b in zip(now, saved)
                ):
                    raise Fail(
                        f"{name} changed its argument `{k}` in place. Never modify an input: the "
                        "caller still needs it (backward reuses the cache, the optimizer reuses x). "
                        "Work on a copy or build new arrays (x = x + 1, not x += 1)."
                    )
            return result

        call.__name__ = name
        return call

    def numerical_gradient(
        self,
        name: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None = None,
        *,
        at: Sequence[int | str],
        dout: np.ndarray | None = None,
        h: float = 1e-5,
        pair: bool = False,
        mutable: Sequence[str] = (),
    ) -> np.ndarray | None:
        """The numerical gradient of the student's ``name`` in one round trip to the sandbox, or None.

        The function differentiated is ``v ↦ name(*args, **kwargs)[0]`` with the float64 array at
        ``at`` (an index of ``args`` or a name in ``kwargs``, then keys or indices into it) replaced
        by ``v``; every evaluation gets fresh copies of the arguments. With ``dout`` it is
        ``Σ value·dout`` (:func:`course_lib.gradcheck.numerical_gradient_array`; the value an
        array of ``dout``'s shape), else the value is a number
        (:func:`course_lib.gradcheck.numerical_gradient`). ``pair``: the result must be a pair
        ``(out, cache)``. Arguments named in ``mutable`` may change in place, others may not
        (as in :meth:`fn`). The step ``h`` and the loop are those of ``course_lib.gradcheck``.

        Returns None unless the function runs in the grader's sandbox (a :class:`RemoteFunction`)
        and every evaluation went like an ordinary call (nothing raised or warned, no argument
        changed, a result of the expected kind): the caller then computes the gradient one call
        at a time with ``course_lib.gradcheck``, which reports whatever went wrong exactly as
        before. What comes back is checked here: a finite float64 array of the input's shape.
        """
        f = self._ns.get(name)
        if not isinstance(f, RemoteFunction):
            return None
        kwargs = dict(kwargs or {})
        try:
            target = _argument_at(args, kwargs, at)
        except (KeyError, IndexError, TypeError):
            return None
        if type(target) is not np.ndarray or target.dtype != np.float64:
            return None
        keep: list[int | str] = []
        if mutable:  # which arguments those names are, as :meth:`fn` binds them
            try:
                params = list(inspect.signature(f).parameters.values())
            except (TypeError, ValueError):
                return None
            if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params) or len(args) > len(params):
                return None
            keep = [i for i, p in enumerate(params[:len(args)]) if p.name in mutable]
            keep += [k for k in kwargs if k in mutable]
        got = f.numerical_gradient(list(args), kwargs, list(at), None if dout is None else np.asarray(dout, dtype=np.float64),
                                   float(h), pair, keep)
        if type(got) is not np.ndarray or got.dtype != np.float64 or got.shape != target.shape or not np.isfinite(got).all():
            return None
        return got

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.fn(name)


# ---------------------------------------------------------------------------------------------
# Running a sub-check: in a forked child (POSIX) or in-process
# ---------------------------------------------------------------------------------------------

@functools.cache
def given_source(refs: tuple[str, ...]) -> str:
    """The self-contained source of the library functions ``refs`` (:attr:`Check.given`): what
    the sandbox child, which cannot import the library, defines for a check."""
    from course_grader.library_source import library_source

    return library_source(refs)


def given_names(refs: Sequence[str]) -> list[str]:
    """The names the functions ``refs`` (``"course_lib.conv:conv_output_size"``) have in a notebook."""
    return [r.partition(":")[2] for r in refs]


def given_functions(refs: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    """``{name: function}`` defined from :func:`given_source` (the same text the sandbox runs)."""
    scope: dict[str, Any] = {"__name__": "course_grader.given"}
    exec(compile(given_source(refs), "<given by the grader>", "exec"), scope)
    return {name: scope[name] for name in given_names(refs)}


@contextlib.contextmanager
def _given(check: Check, namespace: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Put the check's :attr:`Check.given` functions into ``namespace`` (the globals the student's
    functions read) for the duration, and yield the namespace as it was: the grader still calls
    the student's *own* functions by name (``S.conv_output_size`` is theirs), while their other
    functions calling ``conv_output_size`` get the reference. A namespace that cannot be changed
    is used as it is."""
    if not check.given or not isinstance(namespace, MutableMapping):
        yield namespace
        return
    before = dict(namespace)
    namespace.update(given_functions(check.given))
    try:
        yield before
    finally:
        for name in given_names(check.given):
            if name in before:
                namespace[name] = before[name]
            else:
                namespace.pop(name, None)


def run_check(
    check: Check, namespace: Mapping[str, Any], *, reraise: tuple[type[BaseException], ...] = ()
) -> dict[str, Any]:
    """Run one sub-check here; never raises (except the ``reraise`` exceptions, the sandbox's own
    signals). Returns a picklable dict; the message ends with the check's notes (:meth:`Student.note`)."""
    out = io.StringIO()
    status, message = "pass", ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
        # a RuntimeWarning (overflow in exp, divide by zero) inside student code must not reach
        # the cell's stderr (nbgrader would give 0 points) and is usually a bug: report it
        warnings.simplefilter("error", RuntimeWarning)
        np_err = np.seterr(over="warn", divide="warn", invalid="warn", under="ignore")
        student = Student(namespace)
        try:
            check.run(student)
        except reraise:
            raise
        except NotImplementedByStudent as e:
            status, message = "not implemented", str(e)
        except MissingFunction as e:
            status, message = "missing", str(e)
        except Fail as e:
            status, message = "fail", str(e)
        except RuntimeWarning as e:
            where = _student_frame(e.__traceback__)
            status, message = "fail", (
                f"NumPy warned: {e}" + (f" ({where})" if where else "")
                + ". An overflow or a division by zero: for exp, subtract the maximum first."
            )
        except BaseException as e:  # the grader must survive anything
            where = _student_frame(e.__traceback__)
            status = "error"
            message = (
                f"the check itself stopped with {type(e).__name__}: {e}" + (f" ({where})" if where else "")
            )
        finally:
            np.seterr(**np_err)
    message = "\n".join([message, *student.notes]).strip("\n")
    return {"status": status, "message": message, "output": out.getvalue()[-4000:]}


def _execute_here(check: Check, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`run_check` in this process, with the check's :attr:`Check.given` functions."""
    with _given(check, namespace) as own:
        return run_check(check, own)


def _isolation_enabled() -> bool:
    return hasattr(os, "fork") and os.environ.get("COURSE_GRADING_ISOLATION", "1") != "0"


def _child_limits() -> None:
    """Resource limits for the child running student code (hook for tighter limits)."""
    try:
        import resource

        mb = int(os.environ.get("COURSE_GRADING_MEMORY_MB", "2048"))
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = mb * 1024 * 1024
        if hard == resource.RLIM_INFINITY or want < hard:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


def _run_forked(check: Check, namespace: Mapping[str, Any]) -> dict[str, Any]:
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork" on 3.12+
        pid = os.fork()
    if pid == 0:  # child: never return into the caller's code
        code = 0
        try:
            os.close(r)
            sys.stdout = sys.stderr = io.StringIO()
            _restore_modules()
            _child_limits()
            result = _execute_here(check, namespace)
            data = pickle.dumps(result)
            with os.fdopen(w, "wb") as fh:
                fh.write(data)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + check.timeout
    timed_out = False
    reaped = False
    try:
        with os.fdopen(r, "rb") as fh:
            fd = fh.fileno()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        if not reaped:
            # interrupted while waiting (nbgrader's cell timeout sends the kernel a
            # KeyboardInterrupt): the child must not outlive us running the student's loop
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
    if timed_out:
        return {
            "status": "timeout",
            "message": (
                f"stopped after {check.timeout:g} s: an infinite loop, or a loop over far more "
                "elements than needed?"
            ),
            "output": "",
        }
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # no (or a torn) result: the child died
        if os.WIFSIGNALED(status):
            how = f"was killed by signal {os.WTERMSIG(status)}"
        else:
            how = f"exited with code {os.WEXITSTATUS(status)}"
        return {
            "status": "crash",
            "message": (
                f"the process running your code {how} (out of memory? sys.exit/os._exit in "
                "your code?)"
            ),
            "output": "",
        }


def run_task(
    task_id: str,
    namespace: Mapping[str, Any],
    *,
    hidden: bool = False,
    isolate: bool | None = None,
    timeout: float | None = None,
) -> TaskResult:
    """Run the visible (or hidden) sub-checks of a task on the functions in ``namespace``.

    Args:
        task_id: e.g. ``"ch01_neuron.sigmoid"`` (see :data:`TASKS`).
        namespace: where the student's functions live (the notebook's ``globals()``).
        hidden: run the hidden sub-checks instead of the visible ones.
        isolate: run each sub-check in a forked child (default: yes where ``os.fork`` exists,
            unless the environment sets ``COURSE_GRADING_ISOLATION=0``).
        timeout: seconds per sub-check (default: the check's own, 20 s); isolated runs only.

    Returns:
        a :class:`TaskResult`; it never raises for anything the student's code does.
    """
    if task_id not in TASKS:
        raise KeyError(f"unknown task {task_id!r}; known: {sorted(TASKS)}")
    task = TASKS[task_id]
    isolate = _isolation_enabled() if isolate is None else isolate
    result = TaskResult(task.id, task.title, hidden)
    missing = [m for m in task.needs if m not in REF]
    for check in (c for c in task.checks if c.hidden == hidden):
        if missing:
            raw = {
                "status": "error",
                "message": f"the reference module course_lib.{missing[0]} is missing: reinstall course_lib",
                "output": "",
            }
        elif isolate:
            if timeout is not None:
                check = dataclasses.replace(check, timeout=timeout)
            raw = _run_forked(check, namespace)
        else:
            raw = _execute_here(check, namespace)
        earned = check.points if raw["status"] == "pass" else 0.0
        result.outcomes.append(
            CheckOutcome(check.what, check.points, earned, raw["status"], raw["message"], raw["output"])
        )
    return result


def grade(task_id: str, namespace: Mapping[str, Any], *, hidden: bool = False) -> float:
    """What a test cell calls: run the checks, print the report, return the points earned.

    Make it the last expression of the cell: nbgrader reads the number as the cell's score.
    """
    result = run_task(task_id, namespace, hidden=hidden)
    print(result)
    earned = min(result.earned, result.points)
    return float(earned)


# ---------------------------------------------------------------------------------------------
# Comparison helpers used by the checks
# ---------------------------------------------------------------------------------------------

_FACTOR = re.compile(r"^off by a constant factor: the gradient is (\S+) × the expected one$")
_GUESS = re.compile(
    r"^(only \d+ of \d+ entries are right: a loop bound"
    r"|only \d+ of \d+ examples of the batch are right: check the loop bounds"
    r"|only the first entry is right: the loop stops)"
)


def trusted_hint(hint: str | None) -> str | None:
    """A hint of :func:`course_lib.gradcheck.diagnose` that is true for any task, else None.

    Two of its sentences are guesses that are wrong for many tasks: "off by a constant factor:
    … 1 × the expected one" (the factor rounds to 1: nothing is recognised) and "a loop bound, an
    index, a border (padding) or a mask may be wrong" (an optimizer has none of these). The first
    is dropped when the factor is within 1 % of 1; the second (and its cousins "check the loop
    bounds over the batch", "the loop stops after one element?") is dropped: the count of entries
    that differ, which :func:`compare` and the gradient check state, is the fact. Every other sentence names a pattern the numbers prove.
    """
    if hint is None:
        return None
    m = _FACTOR.match(hint)
    if m:
        try:
            c = float(m.group(1))
        except ValueError:
            return None
        return None if abs(c - 1) < 0.01 else hint
    if _GUESS.match(hint):
        return None
    return hint


def diagnose(analytic: Any, expected: np.ndarray, batch_size: int | None = None) -> str | None:
    """:func:`course_lib.gradcheck.diagnose`, keeping only what :func:`trusted_hint` keeps."""
    return trusted_hint(gradcheck.diagnose(analytic, expected, batch_size))


def trusted_report(report: gradcheck.Report) -> gradcheck.Report:
    """A :class:`course_lib.gradcheck.Report` whose likely causes are all :func:`trusted_hint`."""
    for r in report.results:
        r.diagnosis = trusted_hint(r.diagnosis)
    return report


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded from the check's name: the same inputs on every run and machine."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def _shape_text(args: Mapping[str, Any]) -> str:
    bits = []
    for k, v in args.items():
        if isinstance(v, np.ndarray):
            bits.append(f"{k} of shape {v.shape}" if v.ndim else f"{k}={v.item():.4g}")
        elif isinstance(v, float | int | str | bool) or v is None:
            bits.append(f"{k}={v!r}")
    return ", ".join(bits)


def as_array(got: Any, label: str, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``got`` as a float64 array, or :class:`Fail` saying what was returned instead."""
    if got is None:
        raise Fail(f"{label} is None: did you forget a `return`?")
    if isinstance(got, tuple | list) and expected_shape is not None and len(got) != (expected_shape or (0,))[0]:
        raise Fail(
            f"{label} is a {type(got).__name__} of {len(got)} items, expected an array of shape "
            f"{expected_shape}"
        )
    try:
        a = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Fail(f"{label} is a {type(got).__name__}, expected an array of numbers") from None
    return a


def compare(
    got: Any,
    expected: np.ndarray | float,
    label: str,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    context: str = "",
    batch_size: int | None = None,
) -> None:
    """Fail unless ``got`` equals ``expected`` (shape and values within tolerance).

    The message names the worst entry (yours vs expected) and, where the pattern is recognisable,
    the likely cause (factor 2, sign, transposed, missing sum over the batch ...).
    """
    expected = np.asarray(expected, dtype=np.float64)
    where = f" ({context})" if context else ""
    a = as_array(got, label, expected.shape)
    if a.shape != expected.shape:
        hint = diagnose(a, expected, batch_size)
        msg = f"{label} has shape {a.shape}, expected {expected.shape}{where}"
        if expected.ndim == 0 and a.size == 1:
            msg += ": return a plain number (e.g. float(loss)), not an array"
        elif hint and not hint.startswith("wrong shape"):
            msg += f"\n  likely cause: {hint}"
        raise Fail(msg)
    if not np.isfinite(a).all() and np.isfinite(expected).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0]) if a.ndim else ()
        raise Fail(
            f"{label} contains NaN or inf (first at index {bad}){where}: an overflow, e.g. exp of "
            "a large number, or a division by zero?"
        )
    if np.allclose(a, expected, rtol=rtol, atol=atol):
        return
    err = np.abs(a - expected) / np.maximum(atol, np.abs(a) + np.abs(expected))
    idx = np.unravel_index(int(np.argmax(err)), a.shape) if a.ndim else ()
    idx_t = tuple(int(i) for i in idx)
    at = f" at index {idx_t}" if a.ndim else ""
    msg = (
        f"{label} is wrong{where}: largest difference{at}: yours {a[idx]:.6g}, expected "
        f"{expected[idx]:.6g} (off by {abs(a[idx] - expected[idx]):.3g}; tolerance rtol {rtol:.0e}, atol {atol:.0e})"
    )
    n_bad = int((~np.isclose(a, expected, rtol=rtol, atol=atol)).sum())
    if a.ndim:
        msg += f" ({n_bad} of {a.size} entries differ)"
    hint = diagnose(a, expected, batch_size) if a.size > 1 else None
    if hint is None and a.size == 1 and expected.item() != 0:
        ratio = a.item() / expected.item()
        for factor, text in [(2.0, "a factor 2 too large"), (0.5, "a factor 2 too small"), (-1.0, "the wrong sign")]:
            if math.isclose(ratio, factor, rel_tol=1e-6):
                hint = text
        if hint is None and batch_size and batch_size > 1:
            if math.isclose(ratio, batch_size, rel_tol=1e-6):
                hint = f"N={batch_size} times too large: a sum over the batch where the mean is due?"
            elif math.isclose(ratio, 1 / batch_size, rel_tol=1e-6):
                hint = f"divided by N={batch_size} once too often?"
    if hint:
        msg += f"\n  likely cause: {hint.replace('the gradient', label)}"
    raise Fail(msg)


def check_pair(
    S: Student,
    forward: str,
    backward: str,
    inputs: Mapping[str, np.ndarray],
    *,
    kwargs: Mapping[str, Any] | None = None,
    wrt: Sequence[str] | None = None,
    context: str = "",
    seed: int = 0,
    tol: float = 1e-6,
    forward_out: Callable[[Any], Any] | None = None,
) -> None:
    """Backward of the student's layer vs the numerical gradient of the student's own forward.

    Uses :func:`course_lib.gradcheck.check_layer` with a random (never all-ones) upstream gradient.
    """
    fwd, bwd = S.fn(forward), S.fn(backward)

    def fwd_checked(*args: Any, **kw: Any) -> tuple[Any, Any]:
        res = fwd(*args, **kw)
        if not isinstance(res, tuple | list) or len(res) != 2:
            raise Fail(f"{forward} must return a pair (out, cache), got {type(res).__name__}")
        out, cache = res
        return (forward_out(out) if forward_out else as_array(out, f"{forward}(...)[0]")), cache

    def batched(name: str, arrays: Mapping[str, np.ndarray], dout: np.ndarray, h: float) -> np.ndarray | None:
        if forward_out is not None:
            return None
        return S.numerical_gradient(forward, list(arrays.values()), kwargs, at=[list(arrays).index(name)],
                                    dout=dout, h=h, pair=True)

    report = trusted_report(gradcheck.check_layer(
        fwd_checked, bwd, {k: v.copy() for k, v in inputs.items()}, kwargs=kwargs, wrt=wrt, seed=seed, tol=tol,
        numerical_of=batched,
    ))
    if not report.passed:
        where = f" ({context})" if context else ""
        raise Fail(
            f"{backward} disagrees with the numerical gradient of your {forward}{where}\n{report}"
        )


def check_against_reference(
    S: Student,
    forward: str,
    backward: str,
    ref_forward: Callable[..., Any],
    ref_backward: Callable[..., Any],
    inputs: Mapping[str, np.ndarray],
    *,
    kwargs: Mapping[str, Any] | None = None,
    grads: Sequence[str] | None = None,
    context: str = "",
    seed: int = 1,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """The student's forward output and backward gradients vs the reference, same upstream gradient."""
    kwargs = dict(kwargs or {})
    names = list(inputs)
    ref_out, ref_cache = ref_forward(*(v.copy() for v in inputs.values()), **kwargs)
    res = S.fn(forward)(*(v.copy() for v in inputs.values()), **kwargs)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"{forward} must return a pair (out, cache), got {type(res).__name__}")
    out, cache = res
    compare(out, ref_out, f"{forward} output", context=context)
    dout = rng_for("dout", seed, forward).standard_normal(np.shape(ref_out))
    ref_grads = ref_backward(dout.copy(), ref_cache)
    if not isinstance(ref_grads, tuple | list):
        ref_grads = (ref_grads,)
    got = S.fn(backward)(dout.copy(), cache)
    if not isinstance(got, tuple | list):
        got = (got,)
    if len(got) < len(ref_grads):
        raise Fail(
            f"{backward} returned {len(got)} value(s), expected {len(ref_grads)}: "
            f"the gradients with respect to {', '.join(names[: len(ref_grads)])}, in that order"
        )
    batch = next(iter(inputs.values())).shape[0] if next(iter(inputs.values())).ndim else None
    for i, name in enumerate(names[: len(ref_grads)]):
        if grads is not None and name not in grads:
            continue
        compare(got[i], ref_grads[i], f"d{name} from {backward}", context=context, rtol=rtol, atol=atol, batch_size=batch)


def fix_first(forward: str, assignment: str) -> str:
    """"fix task 2 (conv_forward_naive) first": where the student fixes ``forward``."""
    home = home_task(forward, assignment)
    if home is None:
        return f"fix {forward} first"
    return f"fix task {task_number(home.id)} ({forward}) first"


def forward_differs(
    S: Student, forward: str, ref_forward: Callable[..., Any], inputs: Mapping[str, np.ndarray],
    kwargs: Mapping[str, Any] | None = None, *, rtol: float = 1e-6, atol: float = 1e-9,
) -> bool:
    """Whether the student's ``forward`` output differs from the reference's on ``inputs``.

    Anything the student's forward does wrong (an exception, no pair, another shape) counts as
    differing; the reference is called on copies.
    """
    kwargs = dict(kwargs or {})
    expected = np.asarray(ref_forward(*(v.copy() for v in inputs.values()), **kwargs)[0], dtype=np.float64)
    try:
        res = S.fn(forward)(*(v.copy() for v in inputs.values()), **kwargs)
        out = np.asarray(res[0], dtype=np.float64)
    except Exception:
        return True
    return out.shape != expected.shape or not np.allclose(out, expected, rtol=rtol, atol=atol, equal_nan=False)


def judge_backward(
    S: Student,
    forward: str,
    ref_forward: Callable[..., Any],
    inputs: Mapping[str, np.ndarray],
    kwargs: Mapping[str, Any] | None,
    primary: Callable[[], None],
    fallback: Callable[[], None],
    *,
    assignment: str,
    differs: Callable[[], bool] | None = None,
) -> None:
    """The cascade rule: a backward pass is judged against the student's *own* forward pass.

    ``primary()`` is the check this sub-check stands for (the gradient vs the numerical gradient of
    the student's forward, or vs the reference gradients); ``fallback()`` is the other one. When
    ``primary`` fails and the student's forward output differs from the reference on this input,
    the backward may still be right — the right derivative of the forward the task asked for (the
    reference gradients), or of the forward the student wrote (their numerical gradient) — so it
    passes when ``fallback`` does: a wrong forward costs the forward's points once, in its own
    check. Otherwise the report leads with "your forward differs from the reference: fix task k
    first" instead of blaming the backward alone. A right forward leaves ``primary``'s verdict.
    """
    try:
        primary()
    except Fail as e:
        if not (differs() if differs is not None else forward_differs(S, forward, ref_forward, inputs, kwargs)):
            raise
        try:
            fallback()
        except Fail:
            raise Fail(
                f"your {forward} differs from the reference on this input: {fix_first(forward, assignment)}. "
                f"Until then the gradients cannot be judged on their own:\n{e}"
            ) from None


def ref(module: str, name: str) -> Callable[..., Any]:
    """A reference function captured at import time (immune to later tampering)."""
    try:
        return _SNAPSHOT[f"course_lib.{module}"][name]
    except KeyError:
        raise Fail(f"reference course_lib.{module}.{name} is missing: reinstall course_lib") from None


def describe_case(case: str, args: Mapping[str, Any]) -> str:
    """Short description of an input set for messages: ``'batch of 1: x of shape (1, 3)'``."""
    text = _shape_text(args)
    return f"{case}: {text}" if case else text


def compare_alternatives(
    got: Any, expected: Any, label: str, alternatives: Mapping[str, Any], **kwargs: Any
) -> None:
    """:func:`compare`, and on failure name a known mistake whose result ``got`` reproduces.

    ``alternatives`` maps a description of a common bug ("the bias correction is missing") to the
    value that bug produces on the same input. When several give ``got`` on this input, all of
    them are named (one of them is the cause; picking one would be a guess).
    """
    try:
        compare(got, expected, label, **kwargs)
    except Fail as e:
        try:
            a = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            raise e from None
        matches = []
        for text, value in alternatives.items():
            v = np.asarray(value, dtype=np.float64)
            if v.shape == a.shape and np.allclose(a, v, rtol=1e-6, atol=1e-9):
                matches.append(text)
        if len(matches) == 1:
            raise Fail(f"{e}\n  recognised mistake: {matches[0]}") from None
        if matches:  # on this input several mistakes give the same numbers: name them all
            listed = "".join(f"\n    - {t}" for t in matches)
            raise Fail(f"{e}\n  recognised mistake, one of these (each gives exactly your numbers here):{listed}") from None
        raise
