"""The exercise notebooks are generated from the specs, and the grader runs under real nbgrader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_grader import engine, generate, grading

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


@pytest.mark.parametrize("assignment", generate.available(COURSE))
def test_task_numbers_are_the_notebooks(assignment):
    # "fix task k first" and the book's Exercise list count tasks in registration order: it must be
    # the order of the notebook's "## Task k" headings
    nb = json.loads((COURSE / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    current = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        for line in src.splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("## Task "):
                current = int(line.split()[2].rstrip(":"))
        if cell["cell_type"] == "code" and 'grading.grade("' in src:
            task_id = src.split('grading.grade("')[1].split('"')[0]
            assert engine.task_number(task_id) == current, (task_id, current)


def test_task_modules_are_named_after_their_assignments():
    # course_grader.tasks imports its modules by the names in ASSIGNMENTS (one list): each module's
    # ASSIGNMENT, the prefix of its task ids, must be its own name
    from course_grader import tasks

    assert [m.ASSIGNMENT for m in tasks.MODULES] == [m.__name__.rpartition(".")[2] for m in tasks.MODULES]
    assert tuple(m.ASSIGNMENT for m in tasks.MODULES) == tasks.ASSIGNMENTS
    assert {t.split(".", 1)[0] for t in grading.TASKS} == set(tasks.ASSIGNMENTS)


def test_every_task_has_a_book_section():
    from course_grader.book_sections import SECTIONS

    assert set(SECTIONS) == set(grading.TASKS)


def test_report_links_use_the_configured_base_url(tmp_path, monkeypatch):
    from course_grader import engine

    course = tmp_path / "exercises"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("", encoding="utf-8")
    monkeypatch.delenv("COURSE_BOOK_URL", raising=False)
    monkeypatch.setenv("COURSE_DIR", str(course))
    # no _config.yml: the section without a URL
    assert engine.book_link("ch04_conv.conv_backward") == "→ 4.6 The backward pass"
    # _config.yml without html.baseurl: the locally built book
    (tmp_path / "_config.yml").write_text("title: x\nhtml:\n  use_edit_page_button: false\n", encoding="utf-8")
    local = (tmp_path / "book" / "_build" / "html").resolve().as_uri()
    assert engine.book_link("ch04_conv.conv_backward") == f"→ 4.6 The backward pass ({local}/book/04_conv.html#the-backward-pass)"
    # html.baseurl set: the published book
    (tmp_path / "_config.yml").write_text("html:\n  baseurl: https://example.org/course/\n", encoding="utf-8")
    assert engine.book_link("ch04_conv.conv_backward").endswith("(https://example.org/course/book/04_conv.html#the-backward-pass)")
    # and every failure line of a report ends with it
    report = str(grading.run_task("ch04_conv.conv_backward", {}, isolate=False))
    fails = [ln for ln in report.splitlines() if "[FAIL]" in ln]
    assert fails and all(ln.endswith("(https://example.org/course/book/04_conv.html#the-backward-pass)") for ln in fails), report


def _solution_functions(assignment):
    """(name, student docstring, solution body) of every function the notebook asks for."""
    import ast

    nb = json.loads((COURSE / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] != "code" or not meta.get("solution"):
            continue
        src = "".join(cell["source"])
        tree = ast.parse(src.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
        lines = src.splitlines()
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            text = "\n".join(lines[fn.lineno - 1:fn.end_lineno])
            if "### BEGIN SOLUTION" in text:
                body = text.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
                yield fn.name, ast.get_docstring(fn) or "", body


@pytest.mark.parametrize("assignment", generate.available(COURSE))
def test_stubs_state_the_contract_not_the_solution(assignment):
    import inspect

    found = list(_solution_functions(assignment))
    assert found
    for name, doc, body in found:
        assert doc, f"{name} has no docstring"
        code = [ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 12 and not ln.strip().startswith("#")]
        leaked = [ln for ln in code if ln in doc]
        assert not leaked, f"{name}'s docstring shows solution lines: {leaked}"
        # the docstring is the spec's, not the library's
        for module in ("course_lib.neuron", "course_lib.loss", "course_lib.gradient_descent", "course_lib.conv",
                       "course_lib.pooling", "course_lib.backprop", "course_lib.batchnorm", "course_lib.dropout",
                       "course_lib.init"):
            lib = __import__(module, fromlist=[name])
            if hasattr(lib, name) and inspect.getdoc(getattr(lib, name)):
                assert inspect.getdoc(getattr(lib, name)) != doc, f"{name}: the library's docstring"


def test_generator_refuses_a_function_without_a_student_docstring():
    with pytest.raises(ValueError, match="no student docstring"):
        generate.render([generate.Setup(), generate.Solution(["course_lib.neuron:tanh_forward"])], "ch01_neuron")


def test_hints_are_collapsed_and_numbered():
    nb = json.loads((COURSE / "source" / "ch02_loss" / "ch02_loss.ipynb").read_text(encoding="utf-8"))
    hints = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown" and "<summary>Hint" in "".join(c["source"])]
    assert hints and all(h.startswith("<details><summary>Hint ") and h.endswith("</details>") for h in hints)
    assert any("<summary>Hint 2</summary>" in h for h in hints)


@pytest.mark.parametrize("assignment", generate.available(COURSE))
def test_hidden_test_comments_list_the_hidden_checks(assignment):
    # the comment above a hidden-test cell lists what its checks do, so it cannot promise
    # "numerical gradients" where none are used
    nb = json.loads((COURSE / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if "hidden=True" in src and "grading.grade(" in src:
            task_id = src.split('grading.grade("')[1].split('"')[0]
            listed = [ln.removeprefix("#   - ") for ln in src.splitlines() if ln.startswith("#   - ")]
            assert listed == [c.what for c in grading.TASKS[task_id].checks if c.hidden]
