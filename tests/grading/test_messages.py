"""Every recognised-mistake message is true for its task: on every input a check compares, the
message appears when the student's result is exactly what that mistake produces (a triggering
case), and does not appear for another wrong result (a case that must not trigger); where two
mistakes give the same numbers on a check's input, both are named, never one of them.
Hints from the gradient patterns never guess ("1 ×", "a loop bound ...").

The inputs are recorded by running every task's checks on the model solutions with
`compare_alternatives` wrapped (in-process, so the wrapper sees every call)."""

from __future__ import annotations

import numpy as np
import pytest
from grading_helpers import notebook_namespace

from course_grader import checks, engine, grading
from course_grader.engine import Fail, trusted_hint
from course_grader.tasks import MODULES

#: chapter 9's digits task trains a network for seconds; its checks have no recognised mistakes
SKIP = {"ch09_architectures.digits"}


@pytest.fixture(scope="module")
def recorded() -> list[tuple[str, str, np.ndarray, dict, dict]]:
    calls: list[tuple[str, str, np.ndarray, dict, dict]] = []
    original = engine.compare_alternatives
    current = [""]

    def recorder(got, expected, label, alternatives, **kwargs):
        calls.append((current[0], label, np.asarray(expected, dtype=np.float64), dict(alternatives), kwargs))
        return original(got, expected, label, alternatives, **kwargs)

    mp = pytest.MonkeyPatch()
    for mod in (checks, *MODULES):
        if hasattr(mod, "compare_alternatives"):
            mp.setattr(mod, "compare_alternatives", recorder)
    try:
        namespaces: dict[str, dict] = {}
        for task_id in grading.TASKS:
            if task_id in SKIP:
                continue
            assignment = task_id.split(".")[0]
            ns = namespaces.setdefault(assignment, notebook_namespace(assignment))
            current[0] = task_id
            for hidden in (False, True):
                result = grading.run_task(task_id, dict(ns), hidden=hidden, isolate=False)
                assert result.earned == result.points, str(result)
    finally:
        mp.undo()
    return calls


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def test_every_message_triggers_on_its_mistake_only(recorded):
    assert len(recorded) > 50
    problems: set[str] = set()
    tried = 0
    for task_id, label, expected, alternatives, kwargs in recorded:
        values = {text: np.asarray(v, dtype=np.float64) for text, v in alternatives.items()}
        for text, value in values.items():
            if _close(value, expected):
                continue  # this mistake gives the right numbers on this input: it cannot show here
            tried += 1
            with pytest.raises(Fail) as info:
                engine.compare_alternatives(value, expected, label, alternatives, **kwargs)
            lines = [ln.strip() for ln in str(info.value).splitlines()]
            named = {ln.removeprefix("recognised mistake: ").removeprefix("- ") for ln in lines
                     if ln.startswith("recognised mistake: ") or ln.startswith("- ")}
            same = {t for t, v in values.items() if _close(v, value)}  # this one and any that coincide
            if named != same:
                problems.add(f"{task_id}, {label}: the result of {text!r} is reported as {sorted(named)}, "
                             f"the mistakes giving it are {sorted(same)}")
        # a wrong result that is none of the mistakes: what differs, and no recognised mistake
        if expected.size:
            wrong = expected * 1.01 + 0.013
            if not any(_close(wrong, v) for v in values.values()):
                with pytest.raises(Fail) as info:
                    engine.compare_alternatives(wrong, expected, label, alternatives, **kwargs)
                if "recognised mistake" in str(info.value):
                    problems.add(f"{task_id}, {label}: a result matching no mistake named one:\n{info.value}")
                if "largest difference" not in str(info.value) and "tolerance" not in str(info.value):
                    problems.add(f"{task_id}, {label}: the report does not say what differs:\n{info.value}")
    assert tried > 100, tried
    assert not problems, "\n".join(sorted(problems))


def test_every_task_with_alternatives_was_recorded(recorded):
    # the triggering cases of the bug libraries (tests/grading/test_bugs_*.py) and these cover
    # the same tasks: a task whose checks name mistakes shows up here
    tasks = {t for t, *_ in recorded}
    for expected in ("ch01_neuron.relu", "ch02_loss.softmax", "ch03_gradient_descent.adam", "ch04_conv.conv_backward",
                     "ch05_pooling.max_backward", "ch06_backprop.affine", "ch07_batchnorm.backward"):
        assert expected in tasks, sorted(tasks)


@pytest.mark.parametrize(("hint", "kept"), [
    ("off by a constant factor: the gradient is 1 × the expected one", False),
    ("off by a constant factor: the gradient is 1.004 × the expected one", False),
    ("off by a constant factor: the gradient is 1.5 × the expected one", True),
    ("only 3 of 12 entries are right: a loop bound, an index, a border (padding) or a mask may be wrong", False),
    ("only 1 of 3 examples of the batch are right: check the loop bounds over the batch", False),
    ("only the first entry is right: the loop stops after one element?", False),
    ("a factor 2 too large (a ½ dropped somewhere, or a term counted twice?)", True),
    ("only the first example of the batch is right: loop over the whole batch", True),
    (None, False),
])
def test_trusted_hint_drops_guesses(hint, kept):
    assert (trusted_hint(hint) == hint) is kept if hint else trusted_hint(hint) is None


def test_a_factor_that_rounds_to_one_is_not_named():
    # ε placement in batch norm's dgamma made "1 × the expected one": now only the numbers
    expected = np.linspace(1, 2, 6)
    with pytest.raises(Fail) as info:
        engine.compare(expected * (1 + 5e-5), expected, "dgamma")
    assert "×" not in str(info.value) and "likely cause" not in str(info.value)
    assert "largest difference at index" in str(info.value) and "tolerance rtol 1e-06" in str(info.value)


def test_output_size_messages_name_every_mistake_that_fits():
    from grading_helpers import student_namespace

    from course_grader.tasks import ch04_conv

    # stride 1: "the +1 is missing" gives n + 2·pad − k; so does nothing else. With pad 1 and
    # stride 2, (n + pad − k)//2 + 1 and (n − 2·pad − k)//2 + 1 can coincide: both are named
    for n, k, pad, stride in [(5, 3, 1, 1), (7, 3, 1, 2), (9, 2, 2, 3), (32, 5, 2, 1)]:
        expected = (n + 2 * pad - k) // stride + 1
        bugs = ch04_conv._size_bugs(n, k, pad, stride)
        for value in bugs.values():
            if value == expected:
                continue
            same = {t for t, v in bugs.items() if v == value}
            ns = student_namespace("ch04_conv.output_size", {"conv_output_size": lambda *a, v=value: v})
            with pytest.raises(Fail) as info:
                ch04_conv._size_case(engine.Student(ns), n, k, pad, stride)
            lines = [ln.strip() for ln in str(info.value).splitlines()]
            named = {ln.removeprefix("recognised mistake: ").removeprefix("- ") for ln in lines
                     if ln.startswith("recognised mistake: ") or ln.startswith("- ")}
            assert named == same, (n, k, pad, stride, str(info.value))
        # a number no mistake gives: what was returned and expected, no recognised mistake
        ns = student_namespace("ch04_conv.output_size", {"conv_output_size": lambda *a, e=expected: e + 7})
        with pytest.raises(Fail) as info:
            ch04_conv._size_case(engine.Student(ns), n, k, pad, stride)
        assert "recognised mistake" not in str(info.value) and f"expected {expected}" in str(info.value)


def test_every_report_line_states_its_tolerance():
    import re

    said = re.compile(r"rtol|atol|relative error|exact|standard (deviation|error)|a ValueError with|accuracy ≥")
    missing = [f"{t}: {c.what}" for t, task in grading.TASKS.items() for c in task.checks if not said.search(c.what)]
    assert not missing, "\n".join(missing)
