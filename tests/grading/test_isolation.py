"""The grader survives what student code does: loops, crashes, exits, prints, tampering."""

from __future__ import annotations

import os
import sys

import numpy as np
from grading_helpers import notebook_namespace

from course_grader import grading

TASK = "ch02_loss.mse"


def ns_with(**overrides):
    ns = notebook_namespace("ch02_loss")
    ns.update(overrides)
    return ns


def test_infinite_loop_is_cut_off():
    def mse_loss(pred, target):
        while True:
            pass

    r = grading.run_task(TASK, ns_with(mse_loss=mse_loss), timeout=1)
    assert r.earned == 0 and {o.status for o in r.outcomes} == {"timeout"}
    assert "infinite loop" in str(r)


def test_hard_exit_and_sys_exit_cost_only_the_check():
    def exits(pred, target):
        os._exit(3)

    def sys_exits(pred, target):
        sys.exit("bye")

    r = grading.run_task(TASK, ns_with(mse_loss=exits))
    assert r.earned == 0 and {o.status for o in r.outcomes} == {"crash"}
    r = grading.run_task(TASK, ns_with(mse_loss=sys_exits))
    assert r.earned == 0 and "SystemExit" in str(r)


def test_missing_function_is_named():
    ns = notebook_namespace("ch02_loss")
    del ns["mse_loss"]
    r = grading.run_task(TASK, ns)
    assert r.earned == 0 and "there is no function `mse_loss`" in str(r)


def test_prints_are_captured_and_shown_on_failure(capsys):
    def mse_loss(pred, target):
        print("debug: shapes", pred.shape)
        return 0.0, np.zeros_like(pred)

    r = grading.run_task(TASK, ns_with(mse_loss=mse_loss))
    assert r.earned < r.points and "debug: shapes" in str(r)
    assert capsys.readouterr().err == ""


def test_patching_numpy_in_the_notebook_does_not_fool_the_checks():
    saved = np.allclose, np.isclose
    try:
        def bogus(pred, target):
            return 123.0, np.ones_like(pred)

        np.allclose = lambda *a, **k: True  # what a student cell could do
        np.isclose = lambda a, b, **k: np.ones(np.shape(a), dtype=bool)
        r = grading.run_task(TASK, ns_with(mse_loss=bogus))
    finally:
        np.allclose, np.isclose = saved
    assert r.earned == 0, str(r)


def test_grade_returns_the_score_and_prints_the_report(capsys):
    score = grading.grade(TASK, notebook_namespace("ch02_loss"))
    out = capsys.readouterr()
    assert score == grading.task_points(TASK) and "[PASS]" in out.out and out.err == ""
