"""The shape of the two packages: one direction of imports, no private names across modules,
one name per chapter everywhere (issue: "Two packages, one direction")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("course_lib", "course_grader")
CHAPTERS = [
    "01_neuron", "02_loss", "03_gradient_descent", "04_conv", "05_pooling",
    "06_backprop", "07_batchnorm", "08_dropout", "09_architectures",
]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.append((".".join(parts), path))
    return out


def _is_private_helper_of(module: str, target: str) -> bool:
    """``pkg._helpers`` may be imported from within ``pkg`` (a package's own private helper module)."""
    head, _, last = target.rpartition(".")
    return last.startswith("_") and not last.startswith("__") and (module == head or module.startswith(head + "."))


def private_imports(module: str, source: str) -> list[str]:
    """``from X import _name`` and ``X._name`` (X an imported module) in one module's source."""
    tree = ast.parse(source)
    found: list[str] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            target = node.module
            if target.split(".")[0] not in PACKAGES or target == module:
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"from {target} import {a.name}")
                else:
                    aliases[a.asname or a.name] = f"{target}.{a.name}"
            if any(p.startswith("_") and not p.startswith("__") for p in target.split(".")) and not _is_private_helper_of(module, target):
                found.append(f"from {target} import ...")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != module:
                found.append(f"{aliases[node.value.id]}.{node.attr}")
    return found


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_private_name_is_imported_from_another_module(module, path):
    assert private_imports(module, path.read_text(encoding="utf-8")) == []


def test_the_scan_finds_private_imports():
    src = "from course_lib.conv import _pair\nfrom course_lib import gradcheck\nx = gradcheck._worst\nfrom course_lib.fast._buf import take\n"
    assert private_imports("course_grader.engine", src) == [
        "from course_lib.conv import _pair", "from course_lib.fast._buf import ...", "course_lib.gradcheck._worst",
    ]
    assert private_imports("course_lib.fast.conv", "from course_lib.fast._buf import take\n") == []


@pytest.mark.parametrize(("module", "path"), [(m, p) for m, p in _modules() if m.startswith("course_lib")])
def test_course_lib_never_imports_the_grader(module, path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for n in names:
            assert n.split(".")[0] not in ("course_grader", "nbgrader", "nbformat", "nbclient"), f"{module} imports {n}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_one_name_per_chapter_everywhere(chapter):
    """Chapter k's text, library module, tasks, spec and tests share one name."""
    num, name = chapter.split("_", 1)
    expected = [
        ROOT / "book" / f"{chapter}.md",
        ROOT / "course_lib" / f"{name}.py",
        ROOT / "course_grader" / "tasks" / f"ch{chapter}.py",
        ROOT / "exercises" / "spec" / f"ch{chapter}.py",
        ROOT / "exercises" / "source" / f"ch{chapter}" / f"ch{chapter}.ipynb",
        ROOT / "tests" / f"test_{name}.py",
    ]
    missing = [str(p.relative_to(ROOT)) for p in expected if not p.exists()]
    assert not missing, missing
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next((line for line in readme.splitlines() if line.startswith(f"| {int(num)} |")), None)
    assert row is not None, f"README's chapter table has no row for chapter {int(num)}"
    for p in expected[:5]:
        assert p.name in row or p.stem in row, f"README row {row!r} does not name {p.name}"


def test_every_task_module_has_one_shape():
    from course_grader import tasks

    assert tasks.ASSIGNMENTS == tuple(f"ch{c}" for c in CHAPTERS)
    from course_grader.engine import TASKS

    for module in tasks.MODULES:
        assert re.fullmatch(r"ch\d\d_\w+", module.ASSIGNMENT)
        assert module.__name__.endswith("." + module.ASSIGNMENT)
        own = [t for t in TASKS if t.split(".")[0] == module.ASSIGNMENT]
        assert own, f"{module.ASSIGNMENT} registers no task"
