"""The per-submission pure function: notebook bytes + assignment -> scores, reports, autograded notebook.

One release of ch01_neuron (nbgrader generate_assignment) per module gives the spec; every test
grades bytes with :func:`course_grader.submission.grade_bytes` inside bubblewrap.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import nbformat
import pytest

from course_grader import grading, submission

COURSE = Path(__file__).resolve().parents[2] / "exercises"
A = "ch01_neuron"
SOURCE = COURSE / "source" / A / f"{A}.ipynb"
#: the points of every code grade cell of ch01_neuron (the grader's registry, as the generator writes them)
TOTAL = sum(grading.task_points(t) + grading.task_points(t, hidden=True) for t in grading.TASKS if t.startswith(f"{A}."))


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    from course_grader import cli

    course = tmp_path_factory.mktemp("course")
    shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / A, course / "source" / A)
    assert cli.main(["release", "--course", str(course), A]) == 0
    return course


@pytest.fixture(scope="module")
def spec(released) -> submission.AssignmentSpec:
    return submission.AssignmentSpec.from_gradebook("sqlite:///" + str(released / "gradebook.db"), A)


def _without(nb: dict, *grade_ids: str) -> dict:
    nb = json.loads(json.dumps(nb))
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") not in grade_ids]
    return nb


def test_solution_full_marks_release_zero_and_the_result_is_plain_data(spec, released):
    raw = SOURCE.read_bytes()
    good = submission.grade_bytes(raw, A, spec=spec)
    assert good.status == "ok" and good.sandboxed
    assert good.score == good.max_score == TOTAL, good.report()
    assert good.sha256 == hashlib.sha256(raw).hexdigest() and good.sha256 in good.report()
    manual = [c for c in good.cells if c.kind == "manual"]
    assert [(c.grade_id, c.score) for c in manual] == [("saturation", None)]  # answered: a person grades it
    back = pickle.loads(pickle.dumps(good))
    assert back.autograded == good.autograded
    assert submission.GradeResult.from_json(json.loads(json.dumps(good.to_json(notebook=True)))).to_json() == good.to_json()

    stub = submission.grade_bytes((released / "release" / A / f"{A}.ipynb").read_bytes(), A, spec=spec)
    assert stub.score == 0.0 and stub.status == "ok"
    assert {c.grade_id: c.score for c in stub.cells if c.kind == "manual"} == {"saturation": 0.0}  # unanswered
    assert stub.comments["sigmoid-solution"] == "No response."


def test_autograded_notebook_keeps_student_outputs_and_shows_the_trusted_reports(spec):
    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    sol = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "sigmoid-solution")
    sol["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "my own output\n"}]
    test = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "tanh-tests")
    test["source"] = "print('edited test cell')"
    test["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": "99.0"}}]
    res = submission.grade_bytes(json.dumps(nb).encode(), A, spec=spec)
    graded = nbformat.reads(res.autograded.decode("utf-8"), as_version=4)
    nbformat.validate(graded)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
    assert by_id["sigmoid-solution"].outputs[0]["text"] == "my own output\n"
    tanh = by_id["tanh-tests"]
    assert "edited test cell" not in tanh.source and "grading.grade" in tanh.source  # the release's test cell
    assert tanh.outputs[-1]["data"]["text/plain"] == "1.0" and "[PASS]" in tanh.outputs[0]["text"]


def test_deleted_cells_are_restored_flagged_and_scored(spec):
    nb = _without(json.loads(SOURCE.read_text(encoding="utf-8")), "relu-tests", "saturation")
    res = submission.grade_bytes(json.dumps(nb).encode(), A, spec=spec)
    assert res.status == "cells deleted" and res.deleted == ["relu-tests", "saturation"]
    assert res.score == TOTAL  # the deleted test cell is graded all the same
    assert {c.grade_id: c.score for c in res.cells}["saturation"] == 0.0
    assert "deleted from the submission" in res.report()
    graded = nbformat.reads(res.autograded.decode("utf-8"), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in graded.cells]
    assert ids.index("relu-forward-solution") < ids.index("relu-tests") < ids.index("relu-hidden")
    restored = graded.cells[ids.index("saturation")]
    assert restored.source.startswith("This cell was deleted from the submission")


def test_unreadable_bytes_and_forged_grade_cells(spec):
    res = submission.grade_bytes(b'{"cells": [', A, spec=spec)
    assert res.status == "unreadable" and res.score == 0.0 and "not valid JSON" in res.report()
    nbformat.validate(nbformat.reads(res.autograded.decode("utf-8"), as_version=4))

    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "code", "execution_count": None, "outputs": [], "source": "x = 1",
                        "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus", "points": 100, "solution": False, "locked": False}}})
    res = submission.grade_bytes(json.dumps(nb).encode(), A, spec=spec)
    assert [c.grade_id for c in res.cells] == [c.grade_id for c in spec.notebooks[A] if c.grade]
    graded = json.loads(res.autograded)
    assert "bonus" not in json.dumps([c["metadata"] for c in graded["cells"]])


def test_no_sandbox_is_said_in_the_report(spec):
    res = submission.grade_bytes(SOURCE.read_bytes(), A, spec=spec, sandbox=False)
    assert not res.sandboxed and res.score == TOTAL
    assert "NONE — graded with --no-sandbox" in res.report()


def test_unknown_notebook_and_status_are_refused(spec):
    with pytest.raises(KeyError, match="has no notebook 'other'"):
        submission.grade_bytes(b"", A, spec=spec, notebook_name="other")
    with pytest.raises(ValueError, match="unknown status"):
        submission.not_graded(spec, A, "lost", "why")


def test_course_autograde_no_sandbox_says_so_in_output_and_report(released, capsys):
    from course_grader import cli

    folder = released / "submitted" / "trusted_student" / A
    folder.mkdir(parents=True)
    shutil.copy2(SOURCE, folder / f"{A}.ipynb")
    assert cli.main(["autograde", A, "--course", str(released), "--quiet", "--no-sandbox", "--student", "trusted_student"]) == 0
    cap = capsys.readouterr()
    assert "WARNING: --no-sandbox" in cap.err and "WITHOUT the sandbox (--no-sandbox)" in cap.out
    report = (released / "reports" / A / "trusted_student.txt").read_text(encoding="utf-8")
    assert "isolation: NONE — graded with --no-sandbox" in report and f"Automatic grade: {TOTAL:g} / {TOTAL:g}" in report


def test_formgrader_renders_and_scores_the_autograded_submission(released):
    """What formgrader shows (its HTML template on the autograded notebook, its API's scores)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    from course_grader import cli

    folder = released / "submitted" / "formgraded" / A
    folder.mkdir(parents=True)
    shutil.copy2(SOURCE, folder / f"{A}.ipynb")
    assert cli.main(["autograde", A, "--course", str(released), "--quiet", "--student", "formgraded"]) == 0
    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": A, "notebook_id": A, "submission_id": "s", "index": 0, "total": 1, "base_url": "",
                 "student": "formgraded", "last_name": None, "first_name": None, "notebook_path": "x.ipynb"}
    html, _ = HTMLExporter(config=config).from_filename(str(released / "autograded" / "formgraded" / A / f"{A}.ipynb"),
                                                        resources=resources)
    tracked = [c for c in json.loads(SOURCE.read_text(encoding="utf-8"))["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade") or c["metadata"].get("nbgrader", {}).get("solution")]
    assert html.count("nbgrader_cell") >= len(tracked) and "[PASS]" in html
    with cli._in_course(released):
        api = cli._api(released)
        sub = next(s for s in api.get_notebook_submissions(A, A) if s["student"] == "formgraded")
    assert sub["score"] == TOTAL and sub["needs_manual_grade"]  # the written answer waits for a person
