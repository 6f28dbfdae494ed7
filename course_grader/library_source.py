"""Self-contained source text of public ``course_lib`` functions, for notebooks that hand them out.

Chapter 9's notebook gives the student the layers of chapters 2–8 in a locked cell. That cell is
*generated* from the library (one source of truth), so it must run where the library is not
importable (the grading sandbox offers ``course_lib.validate`` only): :func:`library_source`
copies each requested function together with every library helper and constant it uses, in
dependency order, and imports names of ``course_lib.validate`` (and of ``typing``) instead of
copying them. A dependency that cannot be copied (a module object, an instance) is an error that
names it, never a silently broken cell.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
import types
from collections.abc import Sequence

__all__ = ["library_source"]

_IMPORTABLE_MODULES = {"typing", "collections.abc", "course_lib.validate", "__future__"}


def _free_names(tree: ast.AST) -> list[str]:
    """Names a definition reads and does not bind itself, in order of first use."""
    stored: set[str] = set()
    loaded: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                if node.id not in loaded:
                    loaded.append(node.id)
            else:
                stored.add(node.id)
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node is not tree:
            stored.add(node.name)
    return [n for n in loaded if n not in stored]


def _module_assignments(module: types.ModuleType) -> dict[str, str]:
    """Source of every top-level ``NAME = ...`` of a module, by name."""
    text = inspect.getsource(module)
    out: dict[str, str] = {}
    for node in ast.parse(text).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                out[t.id] = ast.get_source_segment(text, node) or ""
    return out


def _module_imports(module: types.ModuleType) -> dict[str, tuple[str, str]]:
    """``{bound name: (module, imported name)}`` of a module's top-level ``from X import y``."""
    out: dict[str, tuple[str, str]] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                out[a.asname or a.name] = (node.module, a.name)
    return out


def _short_docstring(src: str) -> str:
    """``src`` (one function or class) with its docstring cut to the first line."""
    tree = ast.parse(src)
    node = tree.body[0]
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr) or not isinstance(getattr(body[0], "value", None), ast.Constant) \
            or not isinstance(body[0].value.value, str):
        return src
    doc = body[0]
    lines = src.splitlines()
    first = doc.value.value.strip().splitlines()[0].strip()
    indent = lines[doc.lineno - 1][: len(lines[doc.lineno - 1]) - len(lines[doc.lineno - 1].lstrip())]
    quote = '"""' if '"""' not in first else "\'\'\'"
    new = [f"{indent}{quote}{first}{quote}"]
    return "\n".join(lines[: doc.lineno - 1] + new + lines[doc.end_lineno :])


def library_source(refs: Sequence[str], *, full_docstrings: bool = False) -> str:
    """The source of the functions ``refs`` (``"course_lib.conv:conv_forward"`` …) and everything
    they use from the library, as one block of Python that needs only NumPy, ``typing`` and
    ``course_lib.validate``. Docstrings are cut to their first line unless ``full_docstrings``.

    Raises:
        ValueError: a dependency is neither a function/class of ``course_lib``, a constant assigned
            at a module's top level, nor importable from an allowed module.
    """
    from course_lib import validate

    imports: dict[str, set[str]] = {}
    blocks: list[str] = []
    done: set[tuple[str, str]] = set()
    visiting: set[tuple[str, str]] = set()

    def need_import(module: str, name: str) -> None:
        imports.setdefault(module, set()).add(name)

    def visit(module: types.ModuleType, name: str, why: str) -> None:
        key = (module.__name__, name)
        if key in done or key in visiting:
            return
        visiting.add(key)
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            src = textwrap.dedent(inspect.getsource(obj))
            tree: ast.AST = ast.parse(src).body[0]
        else:
            assigned = _module_assignments(module)
            if name not in assigned:
                raise ValueError(f"{module.__name__}.{name} (used by {why}) is not a function, class or constant of the library")
            src = assigned[name]
            tree = ast.parse(src)
        for free in _free_names(tree):
            if (free in dir(builtins) and not hasattr(module, free)) or free == "np":
                continue
            if not hasattr(module, free):
                continue  # a name bound inside a comprehension or the like
            value = getattr(module, free)
            origin = _module_imports(module).get(free)
            if origin and not origin[0].startswith("course_lib") and origin[0] != "__future__":
                if origin[1] != free:
                    raise ValueError(f"{module.__name__} imports {origin[1]} as {free}: not supported")
                need_import(origin[0], free)  # numpy.lib.stride_tricks, typing, math …
            elif free in validate.__all__ and getattr(validate, free) is value:
                need_import("course_lib.validate", free)
            elif isinstance(value, types.ModuleType):
                if value.__name__ != "numpy":
                    raise ValueError(f"{module.__name__}.{name} uses the module {value.__name__} as `{free}`: cannot copy a module into a cell")
            elif getattr(value, "__module__", None) in _IMPORTABLE_MODULES - {"course_lib.validate"}:
                need_import(value.__module__, free)
            elif getattr(value, "__module__", "") == "builtins" or free in ("Any",):
                need_import("typing", free) if free == "Any" else None
            elif (inspect.isfunction(value) or inspect.isclass(value)) and str(getattr(value, "__module__", "")).startswith("course_lib"):
                owner = importlib.import_module(value.__module__)
                visit(owner, value.__name__, f"{module.__name__}.{name}")
                if value.__name__ != free:
                    raise ValueError(f"{module.__name__}.{name} uses {value.__module__}.{value.__name__} under another name `{free}`")
            else:
                visit(module, free, f"{module.__name__}.{name}")
        visiting.discard(key)
        done.add(key)
        if not full_docstrings and (inspect.isfunction(obj) or inspect.isclass(obj)):
            src = _short_docstring(src)
        blocks.append(src.rstrip("\n"))

    for ref in refs:
        mod_name, _, attr = ref.partition(":")
        visit(importlib.import_module(mod_name), attr, ref)
    head = ["import numpy as np"]
    for module in sorted(imports):
        head.append(f"from {module} import {', '.join(sorted(imports[module]))}")
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(blocks) + "\n"

