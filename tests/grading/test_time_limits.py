"""Time limits of the sandbox: CPU time of the student's code, wall-clock time only as a backstop.

A loaded machine stretches the wall-clock time of honest code but not its CPU time, so an honest
submission must not lose points when the grading machine is busy. No test here measures speed:
a loaded machine is simulated by a wall clock running a thousand times faster than real time,
and the limits' logic is checked on numbers.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_grader import bwrap, sandbox

COURSE = Path(__file__).resolve().parents[2] / "exercises"


def _grade(assignment: str, limits: sandbox.Limits, isolation: str = "none", extra: str = "",
           only: str = "") -> sandbox.SubmissionResult:
    """The solution notebook (with ``extra`` appended as a cell) graded with ``limits``; ``only``:
    just the grade cell of that id."""
    src = COURSE / "source" / assignment / f"{assignment}.ipynb"
    data, warns = sandbox.parse_notebook(src.read_bytes(), src.name)
    cells = sandbox.code_cells(data, src.name, warns)[0]
    if extra:
        cells.append((len(cells) + 1000, extra))
    options = sandbox.GradingOptions(limits=limits, allowed=frozenset(sandbox.allowed_imports(src)), isolation=isolation)
    grade_cells = [c for c in sandbox.grade_cells_from_notebook(src) if not only or c.grade_id == only]
    return sandbox.grade_code_cells(cells, grade_cells, options)


def test_deadline_counts_cpu_time_and_keeps_wall_time_as_a_backstop():
    d = sandbox._Deadline(cpu_seconds=20, wall_seconds=200, cpu_start=5.0, wall_start=100.0)
    assert d.over(cpu=5.0 + 19.9, now=100.0 + 150) is None  # a loaded machine: slow, within its CPU
    assert d.over(cpu=5.0 + 20.1, now=100.0 + 21) == "cpu"
    assert d.over(cpu=5.0 + 1.0, now=100.0 + 201) == "wall"  # sleeping code
    assert d.over(cpu=None, now=100.0 + 150) is None  # one unreadable reading is no timeout
    assert d.wall_left(100.0 + 150) == pytest.approx(50.0)
    assert d.used(cpu=7.5, now=103.0) == (pytest.approx(2.5), pytest.approx(3.0))
    # no CPU accounting on this machine: the limit is wall-clock time, as before
    w = sandbox._Deadline(cpu_seconds=20, wall_seconds=200, cpu_start=None, wall_start=0.0)
    assert w.over(cpu=None, now=19.0) is None
    assert w.over(cpu=None, now=21.0) == "wall"
    assert w.wall_left(5.0) == pytest.approx(15.0)


def test_the_cpu_time_of_a_process_tree_is_read_from_proc():
    assert sandbox.sandbox_cpu_seconds(2**22 + 12345) is None  # no such process
    before = sandbox.sandbox_cpu_seconds(subprocess.os.getpid())
    assert before is not None
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time, sys\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
         "print('done', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert burner.stdout.readline().strip() == "done"
        alive = sandbox.sandbox_cpu_seconds(subprocess.os.getpid())  # the child, still running, counts
        assert alive - before >= 0.35
    finally:
        burner.communicate("")
    # and once waited for, through this process's children's time (counted once)
    after = sandbox.sandbox_cpu_seconds(subprocess.os.getpid())
    assert after - before >= 0.35
    assert after - alive < 0.35


def test_a_loaded_machine_costs_an_honest_submission_no_points(monkeypatch):
    """ch05's solution graded while the wall clock runs 1000 times faster than the CPU works:
    every sub-check takes far more than its 20 s of wall time, and none is stopped."""
    start = time.monotonic()
    monkeypatch.setattr(sandbox, "_wall_clock", lambda: start + (time.monotonic() - start) * 1000.0)
    result = _grade("ch05_pooling", sandbox.Limits(wall_factor=1e9))
    assert result.score == result.max_score > 0, result.report()
    assert "stopped" not in result.report()


def test_an_endless_loop_is_stopped_by_its_cpu_time():
    loop = "def relu_forward(x):\n    while True:\n        pass\n"
    result = _grade("ch01_neuron", sandbox.Limits(check_seconds=0.5), extra=loop, only="relu-tests")
    relu = result.cells[0]
    assert relu.score == 0, result.report()
    assert "stopped after 0.5 s of CPU time: an infinite loop" in relu.report, relu.report
    assert "(the points of the checks before this one are kept)" in relu.report


def _running_as(uid: int) -> list[int]:
    """Processes of ``uid`` that are not zombies."""
    found = []
    for d in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{d}/status").read_text() if d.isdigit() else ""
        except OSError:
            continue
        uid_line = re.search(r"^Uid:\s+(\d+)", status, re.M)
        if uid_line and int(uid_line.group(1)) == uid and not re.search(r"^State:\s+[ZX]", status, re.M):
            found.append(int(d))
    return found


def test_an_endless_loop_inside_bubblewrap_is_stopped_by_its_cpu_time():
    loop = "def relu_forward(x):\n    while True:\n        pass\n"
    result = _grade("ch01_neuron", sandbox.Limits(check_seconds=0.5, memory_mb=1024), isolation="bwrap", extra=loop,
                    only="relu-tests")
    relu = result.cells[0]
    assert relu.score == 0, result.report()
    assert "stopped after 0.5 s of CPU time: an infinite loop" in relu.report, relu.report
    # and nothing is left running the loop: the child led a session of its own inside bubblewrap
    uid = bwrap.drop_to()
    if uid is not None:  # as root every sandbox of this process runs as this uid
        deadline = time.monotonic() + 30
        while _running_as(uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _running_as(uid) == []


@pytest.mark.parametrize("isolation", ["bwrap", "none"])
def test_a_grader_killed_mid_check_takes_its_sandbox_with_it(isolation, tmp_path):
    """A grading process killed with SIGKILL while the student's code loops (a Dask worker lost,
    ``kill -9``): nothing of its sandbox is left running (the child watches a lifeline pipe)."""
    script = tmp_path / "grade.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import test_time_limits as t\n"
        "from course_grader import sandbox\n"
        f"t._grade('ch01_neuron', sandbox.Limits(check_seconds=600, memory_mb=1024), isolation={isolation!r},\n"
        "         extra='def relu_forward(x):\\n    while True:\\n        pass\\n', only='relu-tests')\n")
    grader = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the check's process runs the loop
            tree = sandbox._process_tree(grader.pid) or []
            looping = [pid for pid, fields in tree[1:] if fields[0] == b"R" and int(fields[11]) > 20]  # > 0.2 s of user CPU
            if looping:
                break
            time.sleep(0.2)
        assert looping, "the sandbox never started its check"
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{p}").exists() and "State:\tZ" not in _status(p) for p in looping) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in looping if Path(f"/proc/{p}").exists() and "State:\tZ" not in _status(p)]
    for pid in left:  # do not leave a loop burning a core if this fails
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert left == []


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "State:\tZ"


def test_code_that_sleeps_is_stopped_by_the_wall_clock_backstop():
    sleeper = "import time\ndef relu_forward(x):\n    time.sleep(3600)\n"
    result = _grade("ch01_neuron", sandbox.Limits(check_seconds=0.5, wall_factor=2.0), extra=sleeper, only="relu-tests")
    relu = result.cells[0]
    assert relu.score == 0, result.report()
    assert re.search(r"stopped after \d+ s of waiting, in which it used \d+\.\d s of CPU time", relu.report), relu.report
    assert "does it sleep" in relu.report
