"""The exercise notebooks are generated from the specs, and the grader runs under real nbgrader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_grader import generate, grading

COURSE = Path(__file__).resolve().parents[2] / "exercises"


def test_committed_notebooks_are_not_stale():
    stale = generate.stale_notebooks(COURSE)
    assert not stale, f"regenerate with `python -m course_grader.generate`: {stale}"


@pytest.mark.parametrize("assignment", generate.available(COURSE))
def test_cells_points_match_the_grader(assignment):
    nb = json.loads((COURSE / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    tasks = set()
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        src = "".join(cell["source"])
        if meta.get("grade") and cell["cell_type"] == "code":
            task_id = src.split('grading.grade("')[1].split('"')[0]
            tasks.add(task_id)
            assert meta["points"] == grading.task_points(task_id, hidden="hidden=True" in src)
        if meta.get("solution") and cell["cell_type"] == "code":
            # solutions come from course_lib, between the markers nbgrader strips
            assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") >= 1
    assert {t for t in grading.TASKS if t.startswith(assignment + ".")} == tasks
    assert 3 <= len(tasks) <= 6
    assert any(c["cell_type"] == "markdown" and c["metadata"].get("nbgrader", {}).get("grade") for c in nb["cells"])


def test_solution_body_is_the_library_source():
    import inspect

    from course_lib import loss

    nb = (COURSE / "source" / "ch02_loss" / "ch02_loss.ipynb").read_text(encoding="utf-8")
    body = inspect.getsource(loss.hinge_loss).split('"""')[-1].strip().splitlines()
    cells = json.loads(nb)["cells"]
    src = next("".join(c["source"]) for c in cells if "def hinge_loss" in "".join(c["source"]))
    for line in body:
        assert line in src


def _run(api_call):
    res = api_call()
    assert res["success"], res.get("error", "") + res.get("log", "")


@pytest.mark.grading
@pytest.mark.xdist_group("nbgrader")
def test_nbgrader_end_to_end(tmp_path):
    """generate_assignment + autograde for every assignment: solution full marks, release stub 0,
    the release runs top to bottom with no error, and the CSV export has the per-task columns."""
    from course_grader import cli

    shutil.copy2(COURSE / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    assignments = generate.available(COURSE)
    for a in assignments:
        shutil.copytree(COURSE / "source" / a, tmp_path / "source" / a)
    assert cli.main(["release", "--course", str(tmp_path), *assignments]) == 0
    for a in assignments:
        for student, src in (("solution", tmp_path / "source" / a), ("stub", tmp_path / "release" / a)):
            dest = tmp_path / "submitted" / student / a
            dest.mkdir(parents=True)
            shutil.copy2(src / f"{a}.ipynb", dest / f"{a}.ipynb")
        assert cli.main(["autograde", a, "--course", str(tmp_path), "--quiet"]) == 0
    _, rows = cli.gradebook_rows(tmp_path)
    by = {(r["student"], r["assignment"]): r for r in rows}
    for a in assignments:
        manual = sum(
            c["metadata"]["nbgrader"]["points"]
            for c in json.loads((tmp_path / "source" / a / f"{a}.ipynb").read_text())["cells"]
            if c["cell_type"] == "markdown" and c["metadata"].get("nbgrader", {}).get("grade")
        )
        sol, stub = by[("solution", a)], by[("stub", a)]
        assert sol["total"] == sol["max"] - manual > 0, sol
        assert stub["total"] == 0, stub
        stub_nb = json.loads((tmp_path / "autograded" / "stub" / a / f"{a}.ipynb").read_text())
        errors = [o for c in stub_nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors, errors
        text = "".join("".join(o.get("text", "")) for c in stub_nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
        assert "not implemented yet" in text
    out = tmp_path / "grades.csv"
    assert cli.main(["export", "--course", str(tmp_path), "--csv", str(out)]) == 0
    head = out.read_text().splitlines()[0].split(",")
    assert head[:2] == ["student", "assignment"] and head[-5:] == ["extra_credit", "total", "max", "status", "deleted_cells"]
    assert any(h.endswith("/adam") for h in head) or "adam" in head
    import csv

    for row in csv.DictReader(out.open(encoding="utf-8")):
        # the solution's written answers wait for a person: empty, not 0; the stub left them unanswered (0)
        assert row["status"] == ("ungraded written answers" if row["student"] == "solution" else "ok"), row
    cols = [h.split("/", 1)[1] for h in head if h.startswith("ch01_neuron/")]
    assert cols == ["sigmoid", "tanh", "relu", "neuron", "saturation"], "task columns in notebook order"
