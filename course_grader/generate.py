"""Generate the nbgrader source notebooks from the specs in ``exercises/spec/``.

One source of truth: a spec lists the cells of an assignment (text, the functions to implement, the
tests, the written questions); the *solution* of a function is the body of the reference function
in ``course_lib`` (read with :func:`inspect.getsource`, never a pasted copy), and the points of a
test cell are the points of the sub-checks that :mod:`course_grader.grading` registers for the task.
So a change to the library or to the grader shows up in the notebooks at the next
``python -m course_grader.generate``, and ``tests/grading/test_generated.py`` fails while the
committed notebooks are stale.

Cell kinds (nbgrader metadata in brackets):

- :class:`Markdown` — free text;
- :class:`Setup` — the locked first code cell: imports, with ``course_grader.grading`` imported
  before any student code runs;
- :class:`Solution` — "autograded answer": the signature of each reference function with the
  student docstring of the spec (the contract, not the library's docstring, which states the
  solution), the body between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (nbgrader replaces
  it with ``raise NotImplementedError()`` in the release), then the spec's hints, each in a
  collapsed cell ("Hint 1", "Hint 2");
- :class:`Tests` — two "autograder tests" cells per task: visible tests and hidden tests (between
  ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``);
- :class:`Written` — "manually graded answer" (markdown): the question and a model answer;
- :class:`Code` — a locked or free code cell (a demo, a plot).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import importlib
import importlib.util
import inspect
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from course_grader.course import CourseNotFound, find_course, load_course_module, using
from course_grader.tasks import ASSIGNMENTS

__all__ = [
    "ASSIGNMENTS",
    "Code",
    "Markdown",
    "Setup",
    "Solution",
    "Tests",
    "Written",
    "build_notebook",
    "course_dir",
    "load_spec",
    "main",
    "render",
    "stale_notebooks",
    "write_all",
]



def course_dir() -> Path:
    """The course directory (``--course``, ``COURSE_DIR`` or the working directory; see
    :func:`course_grader.course.find_course`)."""
    return find_course()


# ---------------------------------------------------------------------------------------------
# Cell kinds
# ---------------------------------------------------------------------------------------------

@dataclass
class Markdown:
    text: str


@dataclass
class Code:
    source: str
    locked: bool = True
    name: str | None = None


@dataclass
class Setup:
    extra: str = ""


@dataclass
class Solution:
    """Functions to implement: ``"course_lib.module:function"`` references, one cell.

    ``"course_lib.module:function as name"`` defines the function under the task's ``name``
    (e.g. the library's ``max_pool_backward_naive`` as the student's ``max_pool_backward``).
    """

    functions: Sequence[str]
    name: str | None = None
    preamble: str = ""
    #: The student's docstring of each function (by its name in the notebook): the contract —
    #: shapes, conventions, what to raise — never the solution. Replaces the library's docstring.
    docs: Mapping[str, str] = field(default_factory=dict)
    #: Hints for a student who is stuck, each in a collapsed cell ("Hint 1", "Hint 2", ...).
    hints: Sequence[str] = ()
    #: Annotations of the library's signatures to show otherwise, e.g. {"BatchNormCache": "Any"}
    #: where any cache the student chooses is fine.
    retype: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Tests:
    """The test cells of a task; ``book`` is the title of the section of the chapter's book page
    that derives what the task asks (each failure line of the task's report links to it)."""

    task_id: str
    book: str = ""


@dataclass
class Written:
    name: str
    question: str
    answer: str
    points: float


@dataclass
class _Context:
    defined: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    header_imports: set[str] = field(default_factory=set)


def _points(p: float) -> str:
    """"1 point", "1.5 points", "2 points"."""
    return f"{p:g} point" + ("" if p == 1 else "s")


def _nb_meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def _unique(ctx: _Context, cell_id: str) -> str:
    if cell_id in ctx.ids:
        raise ValueError(f"duplicate cell id {cell_id!r} in the spec")
    ctx.ids.add(cell_id)
    return cell_id


# ---------------------------------------------------------------------------------------------
# Solution extraction from course_lib
# ---------------------------------------------------------------------------------------------

def _resolve(ref: str) -> tuple[Any, Any]:
    """``"course_lib.conv:conv_forward_naive"`` (a public library function) or
    ``"solutions/ch05_pooling.py:pool_geometry"`` (a file of the course's solutions/)."""
    module_name, _, attr = ref.partition(":")
    if module_name.endswith(".py"):
        module = load_course_module(module_name)
    else:
        module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return module, obj


def _with_docstring(header: str, doc: str) -> str:
    """``header`` (signature and docstring) with its docstring replaced by ``doc``."""
    tree = ast.parse(header + "\n    pass")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    first = fn.body[0]
    lines = header.splitlines()
    text = textwrap.indent(textwrap.dedent(doc).strip("\n"), "    ")
    return "\n".join([*lines[: first.lineno - 1], f'    """{text.lstrip()}', '    """'])


def _split_function(obj: Any) -> tuple[str, str, str]:
    """(name, header incl. docstring, body) of a top-level function's source, dedented."""
    src = textwrap.dedent(inspect.getsource(obj))
    tree = ast.parse(src)
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef):
        raise TypeError(f"{obj!r} is not a plain function")
    lines = src.splitlines()
    body = fn.body
    first = body[0]
    has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) and isinstance(first.value.value, str)
    if not has_doc:
        raise ValueError(f"{fn.name} has no docstring: the students need one")
    split = first.end_lineno  # 1-based last line of the docstring
    header = "\n".join(lines[:split])
    rest = "\n".join(lines[split:])
    # drop the decorator-free body's leading blank lines; keep indentation
    return fn.name, header, rest.strip("\n")


def _free_names(body: str) -> set[str]:
    """Names a function body reads that it does not assign itself (approximately)."""
    tree = ast.parse(textwrap.dedent(body))
    loaded, stored = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
    return loaded - stored


def _import_line(module: Any, name: str) -> str:
    """``from X import name`` with X ``course_lib.validate`` if it holds ``name``, else the module
    that defines ``name``, else ``module``."""
    obj = getattr(module, name)
    from course_lib import validate

    if name in validate.__all__ and getattr(validate, name) is obj:
        return f"from course_lib.validate import {name}"
    origin = getattr(obj, "__module__", None)
    if isinstance(origin, str) and origin not in ("builtins", "__main__"):
        with contextlib.suppress(ImportError):
            if getattr(importlib.import_module(origin), name, None) is obj:
                return f"from {origin} import {name}"
    return f"from {module.__name__} import {name}"


def _header_names(header: str) -> set[str]:
    tree = ast.parse(header + "\n    pass")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    nodes: list[ast.AST] = [a.annotation for a in [*fn.args.args, *fn.args.kwonlyargs, *fn.args.posonlyargs] if a.annotation]
    nodes += [d for d in [*fn.args.defaults, *fn.args.kw_defaults] if d is not None]
    if fn.returns:
        nodes.append(fn.returns)
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _function_cell_source(
    module: Any, obj: Any, ctx: _Context, rename: str | None = None, doc: str | None = None,
    retype: Mapping[str, str] | None = None,
) -> str:
    name, header, body = _split_function(obj)
    for old, new in (retype or {}).items():
        sig, _, rest = header.partition('"""')
        header = re.sub(rf"\b{re.escape(old)}\b", new, sig) + '"""' + rest if rest else header
    if rename:
        header = header.replace(f"def {name}(", f"def {rename}(", 1)
        name = rename
    if doc is not None:
        header = _with_docstring(header, doc)
    for n in _header_names(header) - set(dir(builtins)) - {"np"} - ctx.defined:
        if hasattr(module, n):
            ctx.header_imports.add(_import_line(module, n))
    sig_names = set(inspect.signature(obj).parameters)
    free = _free_names(body) - sig_names - ctx.defined - set(dir(builtins)) - {"np"}
    by_module: dict[str, list[str]] = {}
    for n in sorted(free):
        if not hasattr(module, n):
            continue  # a local defined inside the body (comprehension variables etc.)
        origin = _import_line(module, n).split()[1]
        by_module.setdefault(origin, []).append(n)
    imports = [
        f"    from {m} import {', '.join(sorted(ns, key=lambda x: (not x.isupper() and x[0].isupper(), x)))}"
        for m, ns in sorted(by_module.items())
    ]
    sol = ["    ### BEGIN SOLUTION", *imports, body, "    ### END SOLUTION"]
    ctx.defined.add(name)
    return header + "\n" + "\n".join(sol)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

def _short(task_id: str) -> str:
    return task_id.split(".", 1)[1].replace("_", "-")


def render(cells: Sequence[Any], assignment: str) -> nbformat.NotebookNode:
    """Build the source notebook of ``assignment`` from its spec cells."""
    from course_grader import grading  # the registry of tasks and their points

    ctx = _Context()
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    out = []
    n_md = 0
    setup: tuple[Setup, int] | None = None
    for cell in cells:
        if isinstance(cell, Markdown):
            n_md += 1
            c = nbformat.v4.new_markdown_cell(textwrap.dedent(cell.text).strip("\n"))
            c.id = _unique(ctx, f"md-{n_md:02d}")
            out.append(c)
        elif isinstance(cell, Setup):
            setup = (cell, len(out))
            c = nbformat.v4.new_code_cell("")
            c.id = _unique(ctx, "setup")
            c.metadata["nbgrader"] = _nb_meta("setup", grade=False, solution=False, locked=True)
            out.append(c)
        elif isinstance(cell, Code):
            name = cell.name or f"code-{len(out):02d}"
            c = nbformat.v4.new_code_cell(textwrap.dedent(cell.source).strip("\n"))
            c.id = _unique(ctx, name)
            if cell.locked:
                c.metadata["nbgrader"] = _nb_meta(name, grade=False, solution=False, locked=True)
            out.append(c)
        elif isinstance(cell, Solution):
            parts = []
            if cell.preamble:
                pre = textwrap.dedent(cell.preamble).strip("\n")
                parts.append(pre)
                for node in ast.walk(ast.parse(pre)):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        ctx.defined.add(node.id)
                    elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                        ctx.defined.add(node.name)
            for ref in cell.functions:
                target, _, rename = ref.partition(" as ")
                module, obj = _resolve(target.strip())
                shown = rename.strip() or target.rpartition(":")[2].strip()
                if shown not in cell.docs:
                    raise ValueError(
                        f"Solution({shown!r}): no student docstring in docs= (the contract: shapes, "
                        "conventions, what to raise; never the library's docstring, which states the solution)"
                    )
                unknown = set(cell.docs) - {r.rpartition(" as ")[2].rpartition(":")[2].strip() for r in cell.functions}
                if unknown:
                    raise ValueError(f"docs for functions this cell does not define: {sorted(unknown)}")
                parts.append(_function_cell_source(
                    module, obj, ctx, rename.strip() or None, cell.docs.get(shown), cell.retype
                ))
            first = cell.functions[0].rpartition(" as ")[2].rpartition(":")[2]
            name = cell.name or f"{first.replace('_', '-')}-solution"
            c = nbformat.v4.new_code_cell("\n\n\n".join(parts))
            c.id = _unique(ctx, name)
            c.metadata["nbgrader"] = _nb_meta(name, grade=False, solution=True, locked=False)
            out.append(c)
            for k, hint in enumerate(cell.hints, start=1):
                n_md += 1
                text = textwrap.dedent(hint).strip("\n")
                h = nbformat.v4.new_markdown_cell(f"<details><summary>Hint {k}</summary>\n\n{text}\n\n</details>")
                h.id = _unique(ctx, f"{name}-hint-{k}")
                out.append(h)
        elif isinstance(cell, Tests):
            task = grading.TASKS[cell.task_id]
            missing = [f for f in task.functions if f not in ctx.defined]
            if missing:
                raise ValueError(f"tests of {cell.task_id} come before the cell defining {missing}")
            short = _short(cell.task_id)
            vis = task.points(hidden=False)
            hid = task.points(hidden=True)
            if vis:
                src = (
                    f"# Tests of {task.title} ({_points(vis)}). Run this cell to check your work;\n"
                    "# the number it shows is your score for it.\n"
                    f'grading.grade("{cell.task_id}", globals())'
                )
                c = nbformat.v4.new_code_cell(src)
                c.id = _unique(ctx, f"{short}-tests")
                c.metadata["nbgrader"] = _nb_meta(c.id, grade=True, solution=False, locked=True, points=vis)
                out.append(c)
            if hid:
                listed = "".join(f"#   - {c.what}\n" for c in task.checks if c.hidden)
                src = (
                    f"# Hidden tests of {task.title} ({_points(hid)}), run when your notebook is graded:\n"
                    f"{listed}"
                    "### BEGIN HIDDEN TESTS\n"
                    f'grading.grade("{cell.task_id}", globals(), hidden=True)\n'
                    "### END HIDDEN TESTS"
                )
                c = nbformat.v4.new_code_cell(src)
                c.id = _unique(ctx, f"{short}-hidden")
                c.metadata["nbgrader"] = _nb_meta(c.id, grade=True, solution=False, locked=True, points=hid)
                out.append(c)
        elif isinstance(cell, Written):
            q = nbformat.v4.new_markdown_cell(textwrap.dedent(cell.question).strip("\n"))
            q.id = _unique(ctx, f"{cell.name}-question")
            q.metadata["nbgrader"] = _nb_meta(q.id, grade=False, solution=False, locked=True)
            a = nbformat.v4.new_markdown_cell(textwrap.dedent(cell.answer).strip("\n"))
            a.id = _unique(ctx, cell.name)
            a.metadata["nbgrader"] = _nb_meta(a.id, grade=True, solution=True, locked=False, points=cell.points)
            out += [q, a]
        else:
            raise TypeError(f"unknown spec cell {cell!r}")
    if setup is not None:
        spec_cell, index = setup
        std = sorted(x for x in ctx.header_imports if x.split()[1].split(".")[0] in sys.stdlib_module_names)
        own = sorted(set(ctx.header_imports) - set(std) | {"from course_grader import grading"})
        src = "from __future__ import annotations\n\n"
        if std:
            src += "\n".join(std) + "\n\n"
        src += "import numpy as np\n\n"
        src += "# The autograder's checks are imported before any of your code runs.\n"
        src += "\n".join(own) + "\n"
        if spec_cell.extra:
            src += textwrap.dedent(spec_cell.extra).strip("\n") + "\n"
        out[index].source = src.rstrip("\n")
    nb.cells = out
    return nb


# ---------------------------------------------------------------------------------------------
# The book: section links for the reports, the "Exercise" section of each chapter page
# ---------------------------------------------------------------------------------------------

#: Generated module holding the book section of every task (read by course_grader.engine).
SECTIONS_MODULE = Path(__file__).resolve().parent / "book_sections.py"


def _book_page(assignment: str, book: Path) -> Path:
    """``book/04_conv.md`` for ``ch04_conv``."""
    return book / f"{assignment.removeprefix('ch')}.md"


def book_headings(page: Path) -> list[str]:
    """The titles of a page's ``##`` sections, in order, outside code cells and fenced blocks."""
    import re

    titles, fence = [], ""
    for line in page.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(`{3,}|~{3,}|:{3,})", line)
        if m:
            token = m.group(1)
            if not fence:
                fence = token
            elif line.strip() == fence[0] * len(line.strip()) and len(line.strip()) >= len(fence):
                fence = ""
            continue
        if not fence and line.startswith("## "):
            titles.append(line[3:].strip())
    return titles


def _anchor(title: str) -> str:
    """The HTML id Sphinx gives a section titled ``title`` (docutils' rule)."""
    from docutils.nodes import make_id

    return make_id(title)


def book_sections(root: Path) -> dict[str, dict[str, str]]:
    """Every task's book section from the specs' ``Tests(book=...)``: page, number, title, anchor.

    The number is the chapter's (its place in the specs, as in _toc.yml) and the section's place
    among the page's ``##`` sections, as the book numbers them ("4.6").
    """
    book = root.parent / "book"
    sections: dict[str, dict[str, str]] = {}
    for chapter, assignment in enumerate(ASSIGNMENTS, start=1):
        page = _book_page(assignment, book)
        if not (root / "spec" / f"{assignment}.py").exists() or not page.exists():
            continue
        titles = book_headings(page)
        for cell in load_spec(assignment, root).CELLS:
            if not isinstance(cell, Tests) or not cell.book:
                continue
            if cell.book not in titles:
                raise ValueError(f"{cell.task_id}: the book page {page.name} has no section '## {cell.book}'")
            sections[cell.task_id] = {
                "page": f"book/{page.stem}",
                "number": f"{chapter}.{titles.index(cell.book) + 1}",
                "title": cell.book,
                "anchor": _anchor(cell.book),
            }
    return sections


def sections_module(root: Path) -> str:
    """The text of :data:`SECTIONS_MODULE`."""
    import pprint

    return (
        '"""The book section of every task (page, number, title, anchor): generated by\n'
        "``python -m course_grader.generate`` from ``Tests(book=...)`` in exercises/spec and the\n"
        'headings of book/*.md. Do not edit; tests/grading/test_generated.py checks it is current."""\n\n'
        f"SECTIONS: dict[str, dict[str, str]] = {pprint.pformat(book_sections(root), width=100, sort_dicts=True)}\n"
    )


def exercise_markdown(assignment: str, root: Path) -> str:
    """The body of a chapter page's "Exercise" section: the assignment's tasks, from its spec.

    The page includes it (``{include}``), so the book and the notebook list the same tasks.
    """
    import re

    from course_grader import grading

    spec = load_spec(assignment, root)
    lines = [
        f"<!-- generated by python -m course_grader.generate from exercises/spec/{assignment}.py: do not edit -->",
        "",
        f"The assignment `exercises/release/{assignment}/{assignment}.ipynb` (run `make exercises` once "
        "to create the student notebooks) has these tasks:",
        "",
    ]
    heading = ""
    functions: list[str] = []
    for cell in spec.CELLS:
        if isinstance(cell, Markdown):
            m = re.search(r"^## (Task \d+: .+)$", textwrap.dedent(cell.text), flags=re.M)
            if m:
                heading, functions = m.group(1), []
        elif isinstance(cell, Solution):
            functions += [ref.rpartition(" as ")[2].rpartition(":")[2].strip() for ref in cell.functions]
        elif isinstance(cell, Tests):
            task = grading.TASKS[cell.task_id]
            vis, hid = task.points(hidden=False), task.points(hidden=True)
            names = ", ".join(f"`{f}`" for f in dict.fromkeys(functions))
            lines.append(
                f"1. **{heading}**: {names} ({_points(vis + hid)}: {vis:g} in the tests you can run, "
                f"{hid:g} in hidden tests)"
            )
        elif isinstance(cell, Written):
            lines.append(f"1. **{heading}** ({_points(cell.points)}, graded by hand)")
    lines += [
        "",
        f"Check your work with `.venv/bin/course check exercises/release/{assignment}/{assignment}.ipynb`; "
        "each failing check names what differs and links to the section of this chapter that derives it.",
        "",
    ]
    return "\n".join(lines)


def _include_target(assignment: str, root: Path) -> Path:
    return root.parent / "book" / "_exercises" / f"{assignment}.md"


def generated_texts(root: Path) -> dict[Path, str]:
    """Every file the generator writes besides the notebooks: the sections module and, when the
    course sits next to a book/, each chapter's Exercise include."""
    texts = {}
    if (root.parent / "book").is_dir():
        for a in available(root):
            texts[_include_target(a, root)] = exercise_markdown(a, root)
        texts[SECTIONS_MODULE] = sections_module(root)
    return texts


def load_spec(assignment: str, root: Path | None = None) -> Any:
    """Import ``exercises/spec/<assignment>.py`` (specs are not part of the installed package)."""
    path = (root or course_dir()) / "spec" / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"_exercise_spec_{assignment}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def available(root: Path | None = None) -> list[str]:
    """Assignments that have a spec."""
    root = root or course_dir()
    return [a for a in ASSIGNMENTS if (root / "spec" / f"{a}.py").exists()]


def build_notebook(assignment: str, root: Path | None = None) -> str:
    """The source notebook of ``assignment`` as JSON text (deterministic)."""
    with using(root or course_dir()) as root:
        spec = load_spec(assignment, root)
        nb = render(spec.CELLS, assignment)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def _target(assignment: str, root: Path) -> Path:
    return root / "source" / assignment / f"{assignment}.ipynb"


def write_all(assignments: Sequence[str] | None = None, root: Path | None = None) -> list[Path]:
    """(Re)write the source notebooks; returns the files that changed."""
    root = root or course_dir()
    wanted = {_target(a, root): build_notebook(a, root) for a in assignments or available(root)}
    with using(root):
        wanted |= generated_texts(root)
    changed = []
    for path, text in wanted.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale_notebooks(root: Path | None = None) -> list[str]:
    """Assignments whose committed source notebook differs from what the spec generates."""
    root = root or course_dir()
    stale = []
    for a in available(root):
        path = _target(a, root)
        if not path.exists() or path.read_text(encoding="utf-8") != build_notebook(a, root):
            stale.append(a)
    with using(root):
        for path, text in generated_texts(root).items():
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(root.parent)))
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_grader.generate [--check] [ASSIGNMENT ...]``."""
    p = argparse.ArgumentParser(
        prog="python -m course_grader.generate",
        description="Generate exercises/source/<assignment>/<assignment>.ipynb from exercises/spec/.",
    )
    p.add_argument("assignments", nargs="*", help="default: every assignment with a spec")
    p.add_argument("--check", action="store_true", help="only report stale notebooks; exit 1 if any")
    p.add_argument("--course", help="course directory (default: found from the working directory)")
    args = p.parse_args(argv)
    try:
        root = find_course(args.course)
    except CourseNotFound as e:
        print(f"generate: {e}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_notebooks(root)
        for a in stale:
            print(f"stale: {a} (run python -m course_grader.generate)")
        return 1 if stale else 0
    changed = write_all(args.assignments or None, root)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print(f"every source notebook in {root / 'source'} is up to date")
    return 0


if __name__ == "__main__":
    # the specs import the cell classes from course_grader.generate, not from __main__
    from course_grader.generate import main as _main

    sys.exit(_main())
