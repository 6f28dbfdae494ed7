"""One hostile (or broken) submission of ch01_neuron per attack, with the outcome the grader owes it.

Each case builds its submission folder from the instructor's source notebook (whose solutions
score full marks) by replacing code cells, adding cells, editing metadata or damaging the file.
``grade`` lists the grade cells the in-process test grades (the visible ones keep it fast) and
``expect`` their trusted scores; ``says`` are phrases the report must contain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_grader.grading import task_points

COURSE = Path(__file__).resolve().parents[3] / "exercises"
ASSIGNMENT = "ch01_neuron"
SOURCE = COURSE / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
MARKER = Path("/var/tmp") / "course-hostile-marker"  # a file no submission may create (outside any sandbox /tmp)

VISIBLE = ["sigmoid-tests", "tanh-tests", "relu-tests", "neuron-tests"]
# each visible cell's points, from the grader's registry (the generator writes the same numbers)
FULL = {cell: task_points(f"{ASSIGNMENT}.{cell.removesuffix('-tests')}") for cell in VISIBLE}


def source_nb() -> dict[str, Any]:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


def _cell_index(nb: dict[str, Any], grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _code(src: str) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}


def with_solution(grade_id: str, src: str) -> Callable[[], dict[str, Any]]:
    """The source notebook with one solution cell's code replaced."""

    def build() -> dict[str, Any]:
        nb = source_nb()
        nb["cells"][_cell_index(nb, grade_id)]["source"] = src
        return nb

    return build


def with_extra_cell(after: str, src: str, base: Callable[[], dict[str, Any]] = source_nb) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        nb = base()
        nb["cells"].insert(_cell_index(nb, after) + 1, _code(src))
        return nb

    return build


def release_like() -> dict[str, Any]:
    """The source notebook with every solution replaced by the stub students receive."""
    nb = source_nb()
    for c in nb["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if c["cell_type"] == "code" and meta.get("solution"):
            lines = "".join(c["source"]).split("### BEGIN SOLUTION")[0]
            c["source"] = lines + "raise NotImplementedError()\n"
        if c["cell_type"] == "code" and "BEGIN HIDDEN TESTS" in "".join(c["source"]):
            c["source"] = "".join(c["source"]).split("### BEGIN HIDDEN TESTS")[0]
    return nb


@dataclass
class Case:
    name: str
    attack: str
    build: Callable[[], dict[str, Any]] | None  # None: `files` writes the folder itself
    expect: dict[str, float]
    says: list[str] = field(default_factory=list)
    grade: list[str] = field(default_factory=lambda: list(VISIBLE))
    files: Callable[[Path], None] | None = None
    limits: dict[str, Any] = field(default_factory=dict)

    def to_grade(self) -> list[str]:
        """The cells worth grading in-process: those the attack changes, plus one it must not."""
        changed = [g for g in self.grade if self.expect.get(g) != FULL.get(g)]
        kept = [g for g in self.grade if g not in changed]
        return changed + kept[:1] if changed else self.grade

    def write(self, folder: Path) -> Path:
        """Write the submission into ``folder`` (nbgrader's submitted/<student>/<assignment>/)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.files is not None:
            self.files(folder)
        else:
            assert self.build is not None
            (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(self.build(), indent=1), encoding="utf-8")
        return folder / f"{ASSIGNMENT}.ipynb"


TANH_LOOP = '''
def tanh_forward(x):
    while True:
        pass


def tanh_backward(dout, cache):
    return dout * (1 - cache**2)
'''

RELU_MEMORY = '''
def relu_forward(x):
    junk = np.ones((200_000, 200_000))  # 320 GB
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

SIGMOID_LOUD = '''
def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    print("x" * 5_000_000)
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
'''

SIGMOID_WRONG_PATCHED = '''
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)


def sigmoid_forward(x):
    return x, x


def sigmoid_backward(dout, cache):
    return dout
'''

SIGMOID_RIGHT_PATCHED = '''
import builtins
builtins.isinstance = lambda *a: True


def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
'''

FAKE_GRADING = '''
class grading:
    @staticmethod
    def grade(*args, **kwargs):
        return 1.0  # <= every cell's points, so nbgrader accepts it
'''

PATCH_GRADER = '''
import course_grader.grading as g
g.compare = lambda *a, **k: None
g._SNAPSHOT["numpy"]["allclose"] = lambda *a, **k: True
'''

RELU_REFERENCE = '''
from course_lib.neuron import relu_forward, relu_backward
'''

TANH_IMPORTLIB = '''
import importlib


def tanh_forward(x):
    return importlib.import_module("course_lib.neuron").tanh_forward(x)


def tanh_backward(dout, cache):
    return importlib.import_module("course_lib.neuron").tanh_backward(dout, cache)
'''

READ_SOLUTIONS = '''
import json as _json


def sigmoid_forward(x):
    nb = _json.load(open({source!r}))
    ns = {{"np": np}}
    for c in nb["cells"]:
        if "def sigmoid_forward" in "".join(c["source"]):
            exec("".join(c["source"]).replace("### BEGIN SOLUTION", ""), ns)
    return ns["sigmoid_forward"](x)


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
'''

NASTY_SIDE_EFFECTS = '''
import os
import subprocess


def relu_forward(x):
    open({marker!r}, "w").write("pwned")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    os.system("touch {marker}")
    subprocess.run(["touch", {marker!r}])
    return dout * (cache > 0)
'''

KILL_PARENT = '''
import os
import signal


def tanh_forward(x):
    os.kill(os.getppid(), signal.SIGKILL)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache**2)
'''

EXITS = '''
import os
import sys


def tanh_forward(x):
    sys.exit(0)


def relu_forward(x):
    os._exit(3)
'''

FRAME_WALK = '''
import sys


def tanh_forward(x):
    f = sys._getframe(1)
    while f is not None:
        f.f_globals.get("_STATE", {}).update(internal=True)
        f = f.f_back
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache**2)
'''


def _tampered_metadata() -> dict[str, Any]:
    """Grade cells deleted, reordered, duplicated and given 100 points; solution cells are good."""
    nb = source_nb()
    cells = nb["cells"]
    sig_tests = cells[_cell_index(nb, "sigmoid-tests")]
    relu_tests = cells.pop(_cell_index(nb, "relu-tests"))
    del cells[_cell_index(nb, "tanh-tests")]  # deleted
    for c in cells:
        meta = c["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 100
    cells.insert(0, relu_tests)  # moved before its solution
    cells.append(copy.deepcopy(sig_tests))  # duplicated
    cells.append(copy.deepcopy(sig_tests))
    return nb


def _other_students_outputs() -> dict[str, Any]:
    """Stub code, but the outputs of a full-marks run pasted in (test cells show 1.0)."""
    nb = release_like()
    for c in nb["cells"]:
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade"):
            c["outputs"] = [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                             "data": {"text/plain": "1.0"}},
                            {"output_type": "stream", "name": "stdout", "text": "[PASS] everything\n"}]
    return nb


def _nbformat3() -> dict[str, Any]:
    nb = source_nb()
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            cells.append({"cell_type": "code", "input": c["source"], "language": "python", "outputs": [],
                          "collapsed": False, "metadata": c["metadata"]})
        else:
            cells.append({"cell_type": "markdown", "source": c["source"], "metadata": c["metadata"]})
    return {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [{"cells": cells, "metadata": {}}]}


def _files(writer: Callable[[Path], None]) -> Callable[[Path], None]:
    return writer


ZERO = {k: 0.0 for k in VISIBLE}

CASES: list[Case] = [
    Case("good", "none: the reference solutions", source_nb, FULL, []),
    Case("stub", "none: the release notebook, nothing done", release_like, ZERO, ["not implemented"]),
    Case("infinite_loop", "infinite loop in a task's function", with_solution("tanh-forward-solution", TANH_LOOP),
         FULL | {"tanh-tests": 0.0}, ["timed out in task ch01_neuron.tanh"], limits={"check_seconds": 2.0}),
    Case("top_level_loop", "infinite loop at the top level of a cell", with_extra_cell("sigmoid-tests", "while True:\n    pass\n"),
         FULL, ["stopped after 2 s", "skipped"], limits={"cell_seconds": 2.0}),
    Case("memory_bomb", "a 320 GB array in relu_forward", with_solution("relu-forward-solution", RELU_MEMORY),
         FULL | {"relu-tests": 0.0}, ["MemoryError"]),
    Case("memory_bomb_cell", "a 1 TB bytearray at the top level",
         with_extra_cell("sigmoid-tests", "junk = bytearray(10**12)\n"), FULL, ["MemoryError"]),
    Case("huge_output", "5 MB printed by every call", with_solution("sigmoid-solution", SIGMOID_LOUD),
         {"sigmoid-tests": 1.0}, [], grade=["sigmoid-tests"]),
    Case("patch_numpy", "np.allclose/np.isclose/np.testing patched, wrong sigmoid",
         with_solution("sigmoid-solution", SIGMOID_WRONG_PATCHED), FULL | {"sigmoid-tests": 0.0, "neuron-tests": 0.0},
         ["TAMPERING", "np.allclose"]),
    Case("patch_builtins", "builtins.isinstance patched, correct sigmoid",
         with_solution("sigmoid-solution", SIGMOID_RIGHT_PATCHED), FULL | {"sigmoid-tests": 0.0},
         ["TAMPERING", "builtins.isinstance"]),
    Case("fake_grading", "rebinds `grading` to a fake returning full marks (stub code)",
         with_extra_cell("setup", FAKE_GRADING, base=release_like), ZERO, ["rebinds the name `grading`"]),
    Case("patch_grader", "patches course_grader.grading (compare, snapshot) in the kernel",
         with_extra_cell("setup", PATCH_GRADER), ZERO, ["course_grader.grading", "TAMPERING"]),
    Case("import_reference", "relu = the reference implementation (import)",
         with_solution("relu-forward-solution", RELU_REFERENCE), FULL | {"relu-tests": 0.0, "neuron-tests": 0.0},
         ["reference implementation"]),
    Case("importlib_reference", "tanh calls the reference through importlib",
         with_solution("tanh-forward-solution", TANH_IMPORTLIB), FULL | {"tanh-tests": 0.0},
         ["reference implementation"]),
    Case("read_solutions", "sigmoid_forward reads the instructor's notebook from disk",
         with_solution("sigmoid-solution", READ_SOLUTIONS.format(source=str(SOURCE))), FULL | {"sigmoid-tests": 0.0, "neuron-tests": 0.0},
         ["not allowed while grading", "a course file"]),
    Case("side_effects", "relu writes a file and runs shell commands",
         with_solution("relu-forward-solution", NASTY_SIDE_EFFECTS.format(marker=str(MARKER))),
         FULL | {"relu-tests": 0.0}, ["not allowed while grading"]),
    Case("kill_grader", "tanh_forward kills its parent process", with_solution("tanh-forward-solution", KILL_PARENT),
         FULL | {"tanh-tests": 0.0}, ["os.kill"]),
    Case("exits", "sys.exit in tanh_forward, os._exit in relu_forward", with_extra_cell("relu-tests", EXITS),
         FULL | {"tanh-tests": 0.0, "relu-tests": 0.0}, ["SystemExit", "process running your code stopped"]),
    Case("frame_walk", "walks up the call stack to switch the sandbox off", with_solution("tanh-forward-solution", FRAME_WALK),
         FULL | {"tanh-tests": 0.0}, ["call stack"]),
    Case("tampered_metadata", "grade cells deleted, moved, duplicated, worth 100 points", _tampered_metadata, FULL, []),
    Case("other_outputs", "stub code saved with a full-marks run's outputs", _other_students_outputs, ZERO, []),
    Case("nbformat3", "an old nbformat 3 file of good code", _nbformat3, {"sigmoid-tests": 1.0}, ["nbformat 3"], grade=["sigmoid-tests"]),
    Case("malformed_json", "the file is cut in half", None, ZERO, ["not valid JSON"],
         files=lambda d: (d / f"{ASSIGNMENT}.ipynb").write_text(SOURCE.read_text(encoding="utf-8")[:5000], encoding="utf-8")),
    Case("wrong_nbformat", "nbformat 2", None, ZERO, ["nbformat 2"],
         files=lambda d: (d / f"{ASSIGNMENT}.ipynb").write_text(json.dumps({"nbformat": 2, "cells": []}), encoding="utf-8")),
    Case("not_utf8", "Latin-1 bytes", None, ZERO, ["not UTF-8"],
         files=lambda d: (d / f"{ASSIGNMENT}.ipynb").write_bytes(SOURCE.read_text(encoding="utf-8").replace("σ", "s").encode("utf-8")[:-10] + "ÿé".encode("latin-1"))),
    Case("empty_file", "0 bytes", None, ZERO, ["empty file"],
         files=lambda d: (d / f"{ASSIGNMENT}.ipynb").write_bytes(b"")),
    Case("empty_notebook", "a notebook without cells", None, ZERO, ["no code cells"],
         files=lambda d: (d / f"{ASSIGNMENT}.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}), encoding="utf-8")),
    Case("missing_notebook", "the folder holds no notebook", None, ZERO, ["no notebook"],
         files=lambda d: (d / "notes.txt").write_text("I forgot to upload it", encoding="utf-8")),
    Case("wrong_name", "the notebook is called ch01_neuron (1).ipynb", None, ZERO, ["ch01_neuron (1).ipynb"],
         files=lambda d: (d / f"{ASSIGNMENT} (1).ipynb").write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")),
    Case("extra_files", "good notebook plus extra files", None, FULL, [],
         files=lambda d: ((d / f"{ASSIGNMENT}.ipynb").write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8"),
                          (d / "helper.py").write_text("X = 1\n", encoding="utf-8"),
                          (d / "data.bin").write_bytes(b"\0" * 100))),
]
