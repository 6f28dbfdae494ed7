"""The grading runner itself: interrupted checks leave no process behind; the parallel batch
(`course autograde --jobs`) grades every student once in the workers, records every outcome in
the parent process only, and survives a dying worker. In-process and fast: grading is a stub."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from grading_helpers import notebook_namespace

from course_grader import cli, grading


class _Interrupt(BaseException):
    """Stands for the KeyboardInterrupt nbgrader sends the kernel at its cell timeout."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_interrupted_check_kills_and_reaps_its_child(tmp_path):
    pid_file = tmp_path / "pid"
    ns = notebook_namespace("ch02_loss")

    def mse_loss(pred, target):  # the student's infinite loop, in the forked child
        pid_file.write_text(str(os.getpid()))
        while True:
            pass

    ns["mse_loss"] = mse_loss

    def interrupt(signum, frame):
        raise _Interrupt()

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)
        with pytest.raises(_Interrupt):
            grading.run_task("ch02_loss.mse", ns, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert pid_file.exists(), "the check never reached the student's loop"
    child = int(pid_file.read_text())
    # reaped, not a zombie: the pid no longer exists at all
    assert not _alive(child), f"the child {child} outlived the interrupted check"


def _fake_collect(log: Path, parent: int):
    from course_grader import batch

    def _collect_task(course: str, assignment: str, student: str, spec, sandboxed: bool):
        in_worker = os.getpid() != parent
        with log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps([student, os.getpid()]) + "\n")
        if student == "boom" and in_worker:
            os._exit(1)  # the worker dies (out of memory, killed)
        time.sleep(0.05)
        return batch.Outcome(student, {})

    _collect_task.__module__, _collect_task.__qualname__ = "course_grader.batch", "_collect_task"  # pickled by name
    return _collect_task


def _log(path: Path) -> list[list]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake_batch(tmp_path, monkeypatch):
    from course_grader import batch

    log, recorded = tmp_path / "log", []
    monkeypatch.setattr(batch, "_collect_task", _fake_collect(log, os.getpid()))
    monkeypatch.setattr(batch, "record", lambda course, a, outcome, spec, db=None: recorded.append((outcome.student, os.getpid())))
    return log, recorded


def test_parallel_batch_computes_in_workers_and_records_in_the_parent(tmp_path, fake_batch):
    from course_grader import batch

    log, recorded = fake_batch
    students = [f"s{i}" for i in range(6)]
    done = batch.run(tmp_path, "a1", students, spec=None, jobs=2)
    assert list(done) == students
    entries = _log(log)
    assert sorted(e[0] for e in entries) == students  # each exactly once
    assert all(e[1] != os.getpid() for e in entries), "graded in the parent, not in the workers"
    assert sorted(s for s, _ in recorded) == students and {p for _, p in recorded} == {os.getpid()}, \
        "only the parent process writes"


def test_a_dying_worker_costs_nothing_the_rest_is_graded_here(tmp_path, fake_batch, capsys):
    from course_grader import batch

    _, recorded = fake_batch
    students = ["s0", "boom", "s1", "s2", "s3"]
    done = batch.run(tmp_path, "a1", students, spec=None, jobs=2)
    assert set(done) == set(students) and {s for s, _ in recorded} == set(students)
    assert "a grading worker stopped" in capsys.readouterr().err


def test_one_job_grades_in_process_and_jobs_are_capped(tmp_path, fake_batch):
    from course_grader import batch

    log, _ = fake_batch
    done = batch.run(tmp_path, "a1", ["s0", "s1"], spec=None, jobs=1)
    assert set(done) == {"s0", "s1"}
    assert {e[1] for e in _log(log)} == {os.getpid()}
    assert cli.default_jobs(1) == 1 and 1 <= cli.default_jobs(100) <= (os.cpu_count() or 1)
