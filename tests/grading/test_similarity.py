"""`course similarity`: a renamed copy of the reference and a copy between students are flagged,
independent correct solutions and too-short functions are not; the grades are never touched."""

from __future__ import annotations

import inspect
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from course_grader import cli, similarity
from course_lib import loss

TASKS = {"ch02_loss.softmax": ("softmax_cross_entropy",), "ch02_loss.mse": ("mse_loss",)}
REFERENCES = {"course_lib.loss": inspect.getsource(loss)}

# the reference, renamed, re-spaced and commented, as a student hiding a copy would
RENAMED_REFERENCE = '''
def softmax_cross_entropy(s, labels):
    # my own softmax loss
    s, labels = check_scores_labels(s, labels)
    count = s.shape[0]        # batch size
    lp = log_softmax(s)
    value = -float(lp[np.arange(count), labels].mean())
    with np.errstate(under = "ignore"):
        grad = np.exp(lp)     # probabilities
    grad[np.arange(count), labels] -= 1
    return value, grad / count
'''

INDEPENDENT_A = '''
def softmax_cross_entropy(scores, y):
    scores = np.asarray(scores, dtype=float)
    N = len(y)
    shifted = scores - scores.max(axis=1, keepdims=True)
    expd = np.exp(shifted)
    probs = expd / expd.sum(axis=1, keepdims=True)
    correct = probs[np.arange(N), y]
    loss = -np.mean(np.log(correct))
    grad = probs.copy()
    grad[np.arange(N), y] -= 1.0
    grad /= N
    return float(loss), grad
'''

INDEPENDENT_B = '''
def softmax_cross_entropy(scores, y):
    s = np.array(scores, dtype=np.float64)
    m = np.max(s, axis=1)
    lse = m + np.log(np.sum(np.exp(s - m[:, None]), axis=1))
    picked = np.take_along_axis(s, np.asarray(y)[:, None], axis=1)[:, 0]
    total = np.sum(lse - picked)
    count = s.shape[0]
    onehot = np.zeros_like(s)
    onehot[np.arange(count), y] = 1
    probs = np.exp(s - lse[:, None])
    return total / count, (probs - onehot) / count
'''

# a classmate's copy of INDEPENDENT_A: every name changed, a comment and a blank line added
_RENAMES = {"scores": "logits", "y": "labels", "N": "batch", "shifted": "stable", "expd": "e", "probs": "p",
            "correct": "right", "loss": "L", "grad": "d"}
COPY_OF_A = re.sub(r"\b\w+\b", lambda m: _RENAMES.get(m.group(), m.group()), INDEPENDENT_A).replace(
    "    batch = len", "\n    # subtract the max for stability\n    batch = len")

SHORT = "def mse_loss(pred, target):\n    d = pred - target\n    return float(np.mean(d ** 2)), 2 * d / d.size\n"


def _run(source: str):
    ns = {"np": np, "check_scores_labels": loss.check_scores_labels, "log_softmax": loss.log_softmax}
    exec(compile(source, "<student>", "exec"), ns)
    return ns["softmax_cross_entropy"]


@pytest.mark.parametrize("source", [INDEPENDENT_A, INDEPENDENT_B, COPY_OF_A, RENAMED_REFERENCE])
def test_the_independent_solutions_are_correct(source, rng):
    scores, y = rng.normal(size=(7, 5)), rng.integers(0, 5, size=7)
    want_loss, want_grad = loss.softmax_cross_entropy(scores, y)
    got_loss, got_grad = _run(source)(scores, y)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-10, atol=1e-14)


def test_copies_are_flagged_and_independent_work_is_not():
    students = {"ann": INDEPENDENT_A + SHORT, "bob": INDEPENDENT_B + SHORT, "cid": COPY_OF_A + SHORT,
                "dee": RENAMED_REFERENCE + SHORT}
    matches, notes = similarity.compare(students, REFERENCES, TASKS)
    pairs = {(m.a.author, m.b.author): m.score for m in matches}
    assert set(pairs) == {("ann", "cid"), ("dee", "reference: course_lib.loss")}, pairs
    assert all(score >= similarity.THRESHOLD for score in pairs.values())
    # the independent ones score well below the flag, against the reference and each other
    a, b = (similarity._piece(n, "t", similarity.functions_of(s, ["softmax_cross_entropy"])["softmax_cross_entropy"])
            for n, s in (("ann", INDEPENDENT_A), ("bob", INDEPENDENT_B)))
    assert similarity._score(a, b)[0] < 0.5
    # identical one-liners are not compared at all: too short to tell
    assert not [m for m in matches if m.function == "mse_loss"]
    assert any("mse_loss: not compared for 4 submission(s)" in n for n in notes)


def test_normalising_ignores_names_spacing_comments_and_annotations():
    import ast

    one = ast.parse("def f(x: int) -> int:\n    '''doc'''\n    total = x + 1  # add\n    return total * 2\n").body[0]
    two = ast.parse("def f(y):\n    s=y+1\n\n    return s*2\n").body[0]
    assert similarity.normalise(one) == similarity.normalise(two)
    three = ast.parse("def f(y):\n    s = y - 1\n    return s * 2\n").body[0]
    assert similarity.normalise(one) != similarity.normalise(three)


def test_course_similarity_command_reports_side_by_side_and_changes_no_grade(tmp_path, capsys):
    course = tmp_path / "course"
    (course / "source" / "ch02_loss").mkdir(parents=True)
    shutil.copy2(Path(__file__).resolve().parents[2] / "exercises" / "nbgrader_config.py", course)
    for student, code in (("ann", INDEPENDENT_A), ("bob", INDEPENDENT_B), ("cid", COPY_OF_A)):
        folder = course / "submitted" / student / "ch02_loss"
        folder.mkdir(parents=True)
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": code}]}
        (folder / "ch02_loss.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    assert cli.main(["similarity", "ch02_loss", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    flagged = [line for line in out.splitlines() if line.startswith("[ch02_loss.")]
    assert len(flagged) == 1 and "softmax_cross_entropy: ann ~ cid  score" in flagged[0], flagged
    assert "| def softmax_cross_entropy(logits, labels):" in out  # side by side
    report = course / "reports" / "ch02_loss" / "similarity.txt"
    assert report.read_text(encoding="utf-8").startswith("similarity of ch02_loss: 1 pair(s)")
    assert not (course / "gradebook.db").exists(), "similarity touched the gradebook"
