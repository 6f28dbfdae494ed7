"""Hostile and broken submissions: the trusted grader is never fooled, never stopped, never lost.

In-process tests grade each submission of tests/grading/hostile/cases.py with
:func:`course_grader.sandbox.grade_submission` (the student's code runs in a sandbox child, the checks
here). The nbgrader tests at the end grade a mixed batch through ``course autograde`` once, and
kill a second run midway and resume it.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from course_grader import grading, sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent / "hostile"))
import cases

ALL_CELLS = sandbox.grade_cells_from_notebook(cases.SOURCE)
ALLOWED = frozenset(sandbox.allowed_imports(cases.SOURCE))
BY_ID = {c.grade_id: c for c in ALL_CELLS}


def _grade(case: cases.Case, tmp_path: Path) -> sandbox.SubmissionResult:
    folder = tmp_path / "submitted" / case.name / cases.ASSIGNMENT
    case.write(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    limits = sandbox.Limits(**({"memory_mb": 1024, "check_seconds": 10.0, "cell_seconds": 10.0, "notebook_seconds": 60.0} | case.limits))
    result = sandbox.grade_submission(folder, cases.ASSIGNMENT, [BY_ID[g] for g in case.to_grade()],
                                      sandbox.GradingOptions(limits=limits, allowed=ALLOWED))
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before, "the submitted files were modified"
    return result


@pytest.mark.parametrize("case", cases.CASES, ids=[c.name for c in cases.CASES])
def test_hostile_submission(case, tmp_path):
    cases.MARKER.unlink(missing_ok=True)
    result = _grade(case, tmp_path)
    got = {c.grade_id: c.score for c in result.cells}
    report = result.report()
    assert got == {g: case.expect[g] for g in case.to_grade()}, f"{case.attack}\n{report}"
    for phrase in case.says:
        assert phrase in report, f"{phrase!r} missing from the report of {case.name}:\n{report}"
    assert len(report) < 60_000, "the report is not truncated"
    assert not cases.MARKER.exists(), "the submission wrote outside its sandbox"


def test_grader_survives_and_reports_the_process_kill(tmp_path):
    case = next(c for c in cases.CASES if c.name == "kill_grader")
    result = _grade(case, tmp_path)
    assert os.getpid() > 0  # still here: os.kill was refused in the child
    assert "not allowed" in result.by_grade_id()["tanh-tests"].report


def test_hidden_parts_of_a_good_notebook_score_full_marks(tmp_path):
    """Every grade cell, visible and hidden, on the reference solutions: full marks (the exact sum)."""
    folder = tmp_path / "good"
    cases.CASES[0].write(folder)
    result = sandbox.grade_submission(folder, cases.ASSIGNMENT, ALL_CELLS, sandbox.GradingOptions(allowed=ALLOWED))
    assert result.score == result.max_score == sum(c.max_score for c in ALL_CELLS) == TOTAL, result.report()


# ---------------------------------------------------------------------------------------------
# The defence functions themselves
# ---------------------------------------------------------------------------------------------

def test_scan_flags_each_kind_of_tampering_and_attributes_it():
    cells = [
        (1, "import numpy as xp\nfrom course_grader import grading\n"),
        (3, "def sigmoid_forward(x):\n    xp.allclose = None\n    return x, x\n"),
        (5, "setattr(xp.testing, 'assert_allclose', print)\n"),
        (7, "import sys\nsys.modules['course_grader.grading'] = None\n"),
        (9, "def tanh_forward(x):\n    from course_lib.neuron import tanh_forward as t\n    return t(x)\n"),
        (11, "grading = None\n"),
    ]
    tasks = {"t.sigmoid": ("sigmoid_forward",), "t.tanh": ("tanh_forward",)}
    found = {(f.cell, f.line): f for f in sandbox.scan_tampering(cells, tasks)}
    assert found[(3, 2)].tasks == ["t.sigmoid"] and "xp.allclose" in found[(3, 2)].why
    assert found[(5, 1)].tasks == ["t.sigmoid", "t.tanh"] and "setattr" in found[(5, 1)].why
    assert (7, 2) in found and "sys.modules" in found[(7, 2)].why
    assert found[(9, 2)].tasks == ["t.tanh"] and "reference implementation" in found[(9, 2)].why
    assert "rebinds the name `grading`" in found[(11, 1)].why
    assert (1, 2) not in found  # the template's own import is fine


def test_scan_allows_the_templates_helpers_and_ordinary_numpy_use():
    cells = [(1, "from course_lib.neuron import _check_dout\nnp.random.seed(0)\nx = np.zeros(3)\nx[0] = 1\nnp.seterr(all='ignore')\n")]
    assert sandbox.scan_tampering(cells, {}, {("course_lib.neuron", "_check_dout")}) == []
    assert sandbox.scan_tampering(cells, {})  # without the allowance the private import is flagged


def test_the_child_gets_course_lib_validate_and_no_graded_answer():
    """The one course_lib module offered to student code holds checks, not solutions."""
    import ast

    from course_grader import grading

    srcs = dict(sandbox._helper_sources())
    assert list(srcs) == ["course_lib.validate"]
    defined = {n.name for n in ast.parse(srcs["course_lib.validate"]).body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    graded = {fn for task in grading.TASKS.values() for fn in task.functions}
    assert defined and not defined & graded, sorted(defined & graded)


def test_wire_format_round_trips_plain_data_and_refuses_objects():
    import numpy as np

    from course_grader import sandbox_child as wire

    value = {"a": (np.arange(6.0).reshape(2, 3).T, np.float32(2), np.array(0.5)), 3: [None, True, 1 + 2j, b"x"]}
    back = wire.decode(wire.encode(value))
    assert np.array_equal(back["a"][0], value["a"][0]) and back["a"][0].shape == (3, 2)
    assert back["a"][1].dtype == np.float32 and back["a"][2].shape == ()
    assert back[3] == [None, True, 1 + 2j, b"x"]
    with pytest.raises(wire.EncodeError, match="cannot send"):
        wire.encode(object())
    with pytest.raises(wire.EncodeError, match="cannot send"):
        wire.encode(np.array([object()]))
    handles: list = []
    h = wire.decode(wire.encode(object(), handles))
    assert isinstance(h, wire.Handle) and h.type_name == "object" and len(handles) == 1
    forged = bytearray(wire.encode(np.zeros(2)))
    with pytest.raises(wire.EncodeError):
        wire.decode(bytes(forged[:-3]))


def test_object_arrays_never_cross_the_pipe():
    import struct

    import numpy as np

    from course_grader import sandbox_child as wire

    head = json.dumps({"tree": ["a", 0, "|O", [1]], "sizes": [8]}).encode()
    with pytest.raises(wire.EncodeError, match="unsupported"):
        wire.decode(struct.pack("<Q", len(head)) + head + b"\0" * 8)
    assert np.dtype("|O").kind == "O"


def test_load_code_cells_ignores_outputs_and_metadata(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "points": 99}}, "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * 10}], "source": ["a = 1\n", "b = 2"], "execution_count": 1},
        {"cell_type": "markdown", "metadata": {}, "source": "text"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": "%timeit a\n!ls", "execution_count": None},
    ]}
    p = tmp_path / "n.ipynb"
    p.write_text(json.dumps(nb), encoding="utf-8")
    cells, warnings = sandbox.load_code_cells(p)
    assert cells[0] == (0, "a = 1\nb = 2") and warnings == []
    assert cells[1][0] == 2 and "get_ipython()" in cells[1][1]


def test_truncate_outputs_caps_streams_images_and_tracebacks():
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": ["y" * 50_000]},
        {"output_type": "display_data", "data": {"image/png": "A" * 100_000, "text/plain": "<Figure>"}, "metadata": {}},
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": [str(i) for i in range(500)]},
    ]}]}
    removed = sandbox.truncate_outputs(nb, max_chars=1000)
    outs = nb["cells"][0]["outputs"]
    assert len(outs[0]["text"]) < 1200 and "truncated" in outs[0]["text"]
    assert "image/png" not in outs[1]["data"] and outs[1]["data"]["text/plain"] == "<Figure>"
    assert len(outs[2]["traceback"]) == 60
    assert removed >= 49_000 + 100_000


# ---------------------------------------------------------------------------------------------
# nbgrader end to end: a mixed batch, killed midway and resumed
# ---------------------------------------------------------------------------------------------

#: every code grade cell of ch01_neuron, visible and hidden (the grader's registry)
TOTAL = sum(grading.task_points(t) + grading.task_points(t, hidden=True) for t in grading.TASKS if t.startswith("ch01_neuron."))
BATCH = {  # case -> trusted total over all 8 code grade cells of ch01_neuron
    "good": TOTAL, "stub": 0.0, "fake_grading": 0.0, "patch_grader": 0.0, "other_outputs": 0.0,
    "malformed_json": 0.0, "missing_notebook": 0.0, "wrong_name": 0.0, "tampered_metadata": TOTAL,
}


def _tree_digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.grading
@pytest.mark.xdist_group("nbgrader")
def test_batch_of_hostile_submissions_killed_midway_and_resumed(tmp_path):
    """`course autograde` on good and hostile submissions: killed with SIGKILL after the first
    student, then resumed; every student ends with exactly one row, the expected trusted total,
    a report and feedback file; submitted/ is never modified."""
    import signal
    import subprocess
    import time

    from course_grader import cli

    course = tmp_path / "course"
    course.mkdir()
    config = (cases.COURSE / "nbgrader_config.py").read_text(encoding="utf-8")
    (course / "nbgrader_config.py").write_text(config + "\nc.Execute.timeout = 60\n", encoding="utf-8")
    import shutil

    shutil.copytree(cases.COURSE / "source" / cases.ASSIGNMENT, course / "source" / cases.ASSIGNMENT)
    assert cli.main(["release", "--course", str(course), cases.ASSIGNMENT]) == 0
    by_name = {c.name: c for c in cases.CASES}
    for name in BATCH:
        by_name[name].write(course / "submitted" / name / cases.ASSIGNMENT)
    submitted = _tree_digest(course / "submitted")

    cmd = [sys.executable, "-m", "course_grader.cli", "autograde", cases.ASSIGNMENT, "--course", str(course), "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journals = course / "reports" / cases.ASSIGNMENT
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not list(journals.glob("*.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the whole run (nbgrader, kernel, sandbox)
    proc.wait()
    finished_before = {p.stem for p in journals.glob("*.json")}
    assert 1 <= len(finished_before) < len(BATCH), "the kill did not land midway"

    assert cli.main(["autograde", cases.ASSIGNMENT, "--course", str(course), "--quiet", "--resume"]) == 0
    _, rows = cli.gradebook_rows(course)
    assert sorted(r["student"] for r in rows) == sorted(BATCH), "a student has no row, or two"
    totals = {r["student"]: r["total"] for r in rows}
    manual = 2.0  # the written question, graded by hand (0 until then)
    assert all(r["max"] == TOTAL + manual for r in rows)
    assert totals == BATCH, totals

    assert cli.main(["feedback", cases.ASSIGNMENT, "--course", str(course)]) in (0, 1)
    for name in BATCH:
        report = (course / "feedback" / name / cases.ASSIGNMENT / "grading_report.txt").read_text(encoding="utf-8")
        assert f"Automatic grade: {BATCH[name]:g} / {TOTAL:g} points" in report
    assert "not valid JSON" in (journals / "malformed_json.txt").read_text(encoding="utf-8")
    assert "ch01_neuron (1).ipynb" in (journals / "wrong_name.txt").read_text(encoding="utf-8")
    assert "rebinds the name `grading`" in (journals / "fake_grading.txt").read_text(encoding="utf-8")
    for name in ("fake_grading", "patch_grader"):  # the kernel was fooled; the graded copy is not
        graded = json.loads((course / "autograded" / name / cases.ASSIGNMENT / f"{cases.ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
        shown = [o["data"]["text/plain"] for c in graded["cells"] for o in c.get("outputs", []) if o.get("output_type") == "execute_result"]
        assert len(shown) == 8 and all(float(v) == 0.0 for v in shown), f"{name}: the graded copy shows the kernel's scores"
    assert _tree_digest(course / "submitted") == submitted, "submitted/ was modified"


# ---------------------------------------------------------------------------------------------
# The attacks of issue 12 through `course autograde` (bubblewrap, no nbgrader kernel)
# ---------------------------------------------------------------------------------------------

def _attack(code: str, base=None):
    """Notebook builder: ``base`` (default the stubs students receive) plus a cell running ``code``."""
    return cases.with_extra_cell("neuron-tests", f"try:\n{textwrap.indent(code, '    ')}\nexcept BaseException:\n    pass\n",
                                 base or cases.release_like)


ATTACKS = {  # student -> (notebook builder, expected automatic total, why)
    "gb_writer": (lambda c: _attack(
        f"import sqlite3\ndb = sqlite3.connect({str(c / 'gradebook.db')!r})\n"
        "db.execute('update grade set extra_credit = 450')\ndb.commit()", cases.source_nb), TOTAL,
        "sqlite3 is not refused by the audit hook: the gradebook is simply not there"),
    "source_copier": (lambda c: _attack(
        f"import shutil\nshutil.copyfile({str(c / 'source' / cases.ASSIGNMENT / (cases.ASSIGNMENT + '.ipynb'))!r}, "
        f"{str(c / 'submitted' / 'source_copier' / cases.ASSIGNMENT / (cases.ASSIGNMENT + '.ipynb'))!r})"), 0.0, "refused"),
    "disk_searcher": (lambda c: _attack(
        "import os, json\nfor root, _, files in os.walk('/'):\n"
        "    for f in files:\n        if f == 'ch01_neuron.ipynb':\n"
        "            nb = json.load(open(os.path.join(root, f)))\n"
        "            for cell in nb['cells']:\n"
        "                if 'BEGIN SOLUTION' in ''.join(cell['source']):\n"
        "                    exec(''.join(cell['source']), globals())"), 0.0, "no copy is visible"),
    "reader": (lambda c: _attack(f"print(open({str(c / 'submitted' / 'ada' / cases.ASSIGNMENT / (cases.ASSIGNMENT + '.ipynb'))!r}).read())"),
               0.0, "refused"),
    "tcp": (lambda c: _attack("import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=2).sendall(b'x')"), 0.0, "refused"),
    "forker": (lambda c: _attack("import os\nfor _ in range(10_000):\n    if os.fork() == 0:\n        import time; time.sleep(5)"),
               0.0, "refused"),
    "filler": (lambda c: _attack("for i in range(100_000):\n    open(f'/tmp/f{i}', 'wb').write(b'x' * 2**20)", cases.source_nb),
               TOTAL, "its own /tmp fills up; nothing else"),
    "aaa_persist": (lambda c: _attack(
        "import os, sysconfig\nsp = sysconfig.get_paths()['purelib']\n"
        "open(os.path.join(sp, 'sitecustomize.py'), 'w').write('import builtins; builtins.len = lambda x: 0')\n"
        "open(os.path.join(sp, 'zz_evil.pth'), 'w').write('import os\\n')\n"
        "d = os.path.expanduser('~/.ipython/profile_default/startup'); os.makedirs(d, exist_ok=True)\n"
        "open(os.path.join(d, '00-evil.py'), 'w').write('import numpy; numpy.allclose = lambda *a, **k: True')"),
        0.0, "refused (the ~/.ipython file lands in its private /tmp)"),
    "chmodder": (lambda c: _attack(f"import os, sys\nos.chmod({str(c / 'source')!r}, 0o777)\nos.chmod(sys.executable, 0o777)"),
                 0.0, "refused"),
}


@pytest.mark.grading
@pytest.mark.xdist_group("nbgrader")
def test_issue12_attacks_through_course_autograde(tmp_path):
    """Each attack gets its expected score, the batch finishes, the honest students keep their
    grades, `course verify` finds no difference, and no file outside the sandbox changes."""
    import shutil
    import socket
    import sysconfig

    from course_grader import cli

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(cases.COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(cases.COURSE / "source" / cases.ASSIGNMENT, course / "source" / cases.ASSIGNMENT)
    assert cli.main(["release", "--course", str(course), cases.ASSIGNMENT]) == 0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]

    def put(student: str, nb: dict) -> Path:
        folder = course / "submitted" / student / cases.ASSIGNMENT
        folder.mkdir(parents=True)
        path = folder / f"{cases.ASSIGNMENT}.ipynb"
        path.write_text(json.dumps(nb).replace("PORT", str(port)), encoding="utf-8")
        return path

    put("ada", cases.source_nb())
    put("ben", cases.release_like())
    deleted = cases.source_nb()  # a student who deleted a test cell and the written answer
    deleted["cells"] = [c for c in deleted["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") not in ("relu-tests", "saturation")]
    put("del", deleted)
    for student, (build, _, _) in ATTACKS.items():
        put(student, build(course)())
    link = course / "submitted" / "mallory" / cases.ASSIGNMENT
    link.mkdir(parents=True)
    (link / f"{cases.ASSIGNMENT}.ipynb").symlink_to(course / "source" / cases.ASSIGNMENT / f"{cases.ASSIGNMENT}.ipynb")
    (course / "submitted" / "hal").mkdir()
    shutil.copy2(cases.SOURCE, course / "submitted" / "hal" / f"{cases.ASSIGNMENT}.ipynb")  # no assignment folder
    site = sysconfig.get_paths()["purelib"]
    before = _tree_digest(course / "source") | _tree_digest(course / "submitted") | {"site": str(sorted(os.listdir(site)))}

    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli.main(["autograde", cases.ASSIGNMENT, "--course", str(course), "--quiet"]) == 0
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    n = 3 + len(ATTACKS) + 2
    assert f"autograded {n - 2}/{n} submissions" in out.getvalue(), out.getvalue()
    assert "submitted/hal/ch01_neuron.ipynb: a notebook directly in the student's folder" in err.getvalue()
    assert "mallory: not graded" in err.getvalue() and "symbolic link" in err.getvalue()

    _, rows = cli.gradebook_rows(course)
    totals = {r["student"]: r["total"] for r in rows}
    expected = {"ada": TOTAL, "ben": 0.0, "del": TOTAL, "mallory": 0.0, "hal": 0.0} | {s: v for s, (_, v, _) in ATTACKS.items()}
    assert totals == expected, {s: (totals.get(s), v) for s, v in expected.items() if totals.get(s) != v}
    status = {r["student"]: r["status"] for r in rows}
    assert status["mallory"] == status["hal"] == "not graded" and status["ada"] == "ungraded written answers"
    assert status["del"] == "cells deleted" and {r["student"]: r["deleted_cells"] for r in rows}["del"] == "relu-tests saturation"
    assert "del: graded cells deleted from the submission: relu-tests, saturation" in err.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["feedback", cases.ASSIGNMENT, "--course", str(course)]) == 0
    html = (course / "feedback" / "del" / cases.ASSIGNMENT / f"{cases.ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "This cell was deleted from the submission" in html and "this test cell was deleted from the submission" in html
    assert "graded cells deleted from the submission" in (course / "feedback" / "del" / cases.ASSIGNMENT / "grading_report.txt").read_text(encoding="utf-8")
    assert all(r["extra_credit"] == 0 for r in rows)
    assert cli.main(["verify", cases.ASSIGNMENT, "--course", str(course)]) == 0
    after = _tree_digest(course / "source") | _tree_digest(course / "submitted") | {"site": str(sorted(os.listdir(site)))}
    assert after == before, "a file outside the sandbox changed"
    report = (course / "reports" / cases.ASSIGNMENT / "ada.txt").read_text(encoding="utf-8")
    assert "isolation: bubblewrap sandbox" in report and "SHA-256" in report

    # the instructor's own extra credit is journaled; a change behind its back is found by verify
    assert cli.main(["extra-credit", cases.ASSIGNMENT, "ben", "relu-tests", "0.5", "--course", str(course)]) == 0
    assert cli.main(["verify", cases.ASSIGNMENT, "--course", str(course)]) == 0
    import sqlite3

    with contextlib.closing(sqlite3.connect(course / "gradebook.db")) as db:
        db.execute("update grade set extra_credit = 450 where id = (select min(id) from grade)")
        db.execute("update grade set auto_score = 1 where auto_score = 0 and id = (select max(id) from grade where auto_score = 0)")
        db.commit()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli.main(["verify", cases.ASSIGNMENT, "--course", str(course)]) == 1
    assert "extra credit 450.0 in the gradebook" in out.getvalue() and "auto score 1.0 in the gradebook" in out.getvalue()


def test_wire_format_sends_the_cache_types_by_value_and_only_those(monkeypatch):
    import numpy as np

    from course_grader import sandbox_child as wire
    from course_lib.validate import ConvNaiveCache, DropoutCache

    cache = ConvNaiveCache(np.arange(4.0).reshape(1, 1, 2, 2), np.ones((1, 1, 1, 1)), np.zeros(1), 1, 0)
    back = wire.decode(wire.encode([("conv", cache), DropoutCache(None, (3,))]))
    assert type(back[0][1]) is ConvNaiveCache and np.array_equal(back[0][1].x, cache.x) and back[0][1].stride == 1
    assert back[1] == DropoutCache(None, (3,)) and type(back[1]) is DropoutCache
    # A class that only looks like one (same name, same fields) stays in the child.
    fake = type("ConvNaiveCache", (tuple,), {"_fields": ConvNaiveCache._fields})(tuple(cache))
    with pytest.raises(wire.EncodeError, match="cannot send"):
        wire.encode(fake)
    # The trusted class's own methods, patched, run no code on the wire.
    monkeypatch.setattr(ConvNaiveCache, "__iter__", lambda self: (_ for _ in ()).throw(AssertionError("ran")), raising=False)
    monkeypatch.setattr(ConvNaiveCache, "_make", classmethod(lambda cls, it: (_ for _ in ()).throw(AssertionError("ran"))))
    again = wire.decode(wire.encode(cache))
    assert type(again) is ConvNaiveCache and tuple.__len__(again) == 5
    # An unknown name or another number of fields arrives as the plain tuple of the fields.
    head = json.dumps({"tree": ["n", "NoSuchCache", [["v", 1], ["v", 2]]], "sizes": []}).encode()
    assert wire.decode(len(head).to_bytes(8, "little") + head) == (1, 2)
    head = json.dumps({"tree": ["n", "ConvNaiveCache", [["v", 1]]], "sizes": []}).encode()
    assert wire.decode(len(head).to_bytes(8, "little") + head) == (1,)


def test_a_backward_that_changes_a_library_cache_is_caught_in_the_sandbox():
    """The model solution's forward returns the library's ConvNaiveCache; a backward that writes
    into it is reported as in-process (the cache crosses the pipe by value, not as a handle)."""
    import random

    import synthetic_class

    bug = '''
reference_backward = conv_backward_naive


def conv_backward_naive(dout, cache):
    x, w, b, stride, pad = cache
    dx, dw, db = reference_backward(dout, (x.copy(), w, b, stride, pad))
    x[...] = 0  # reuses the cached input as scratch space
    return dx, dw, db
'''
    src = synthetic_class.COURSE / "source" / "ch04_conv" / "ch04_conv.ipynb"
    nb = json.loads(synthetic_class.make_submission("ch04_conv", "complete", random.Random(0), []))
    solution = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "conv-backward-naive-solution")
    solution["source"] = "".join(solution["source"]) + "\n\n" + bug
    data, warns = sandbox.parse_notebook(json.dumps(nb).encode(), "ch04_conv.ipynb")
    cells = [c for c in sandbox.grade_cells_from_notebook(src) if c.task_id == "ch04_conv.conv_backward"]
    options = sandbox.GradingOptions(allowed=frozenset(sandbox.allowed_imports(src)), isolation="none")
    result = sandbox.grade_code_cells(sandbox.code_cells(data, "ch04_conv", warns)[0], cells, options)
    assert "changed its argument `cache` in place" in result.report(), result.report()
