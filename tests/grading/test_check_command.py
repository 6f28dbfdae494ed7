"""`course check` (the student's self-check): an error outside the test cells — a syntax error, an
import-time error — is shown with its line and caret before the score table. One kernel run."""

from __future__ import annotations

import json
from pathlib import Path

from course_grader import cli

COURSE = Path(__file__).resolve().parents[2] / "exercises"


def test_syntax_error_shown_with_line_and_caret_before_the_table(tmp_path, capsys):
    source = COURSE / "source" / "ch01_neuron" / "ch01_neuron.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "tanh-forward-solution")
    head = "".join(cell["source"]).split("### BEGIN SOLUTION")[0].rstrip(" ")
    cell["source"] = head + "    out = np.tanh(x\n    return out, out\n"  # '(' never closed
    folder = tmp_path / "ch01_neuron"
    folder.mkdir()
    path = folder / "ch01_neuron.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    rc = cli.main(["check", str(path)])
    out = capsys.readouterr().out
    assert rc == 1
    table = out.index("visible tests:")
    where = out.index("stopped with SyntaxError")
    assert where < table, out
    assert "line " in out[where:table] and "^" in out[where:table], out  # the line number and the caret
    assert "np.tanh(x" in out[where:table], out
    assert "a minute or so" not in out


def test_cell_errors_skip_test_cells_and_name_the_cell():
    import nbformat

    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("x = 1")
    bad = nbformat.v4.new_code_cell("import nonexistent_module")
    bad.outputs = [nbformat.v4.new_output("error", ename="ModuleNotFoundError", evalue="No module named 'nonexistent_module'",
                                          traceback=["\x1b[0;31mModuleNotFoundError\x1b[0m: No module named 'nonexistent_module'"])]
    test = nbformat.v4.new_code_cell('grading.grade("ch01_neuron.tanh", globals())')
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "tanh-tests"}
    test.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="x", traceback=["NameError"])]
    nb.cells = [ok, bad, test]
    errors = cli.cell_errors(nb)
    assert len(errors) == 1, errors
    assert errors[0].startswith("cell 2 (import nonexistent_module) stopped with ModuleNotFoundError"), errors
    assert "\x1b" not in errors[0]
