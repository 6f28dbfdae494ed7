"""Where the course directory is, and loading its instructor-side Python files.

The course directory is nbgrader's: the folder holding ``nbgrader_config.py`` (``exercises/`` in
this repository). It comes from ``--course`` on the command line, else the ``COURSE_DIR``
environment variable, else the working directory or one of its parents (``exercises/`` of an
ancestor counts too, so commands work from the repository root). It never comes from where this
package is installed, so a non-editable install grades any course directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

__all__ = ["CourseNotFound", "find_course", "load_course_module", "using"]

_MARKER = "nbgrader_config.py"


_ACTIVE: list[Path] = []


@contextlib.contextmanager
def using(course: str | os.PathLike[str]) -> Iterator[Path]:
    """Within the block, :func:`find_course` without an explicit argument returns ``course``."""
    path = find_course(course)
    _ACTIVE.append(path)
    try:
        yield path
    finally:
        _ACTIVE.pop()


class CourseNotFound(FileNotFoundError):
    """No course directory (a folder with nbgrader_config.py) was given or found."""


def _is_course(path: Path) -> bool:
    return (path / _MARKER).is_file()


def find_course(arg: str | os.PathLike[str] | None = None, *, start: str | os.PathLike[str] | None = None) -> Path:
    """The course directory, resolved: ``arg``, else the one of an enclosing :func:`using`
    block, else ``$COURSE_DIR``, else the working directory (or ``start``) or a parent of it.

    Args:
        arg: an explicit directory (``--course``); must contain ``nbgrader_config.py``.
        start: where to begin the upward search instead of the working directory (e.g. the folder
            of a notebook being checked).

    Raises:
        CourseNotFound: ``arg`` is not a course directory, or none was found.
    """
    if arg is not None:
        path = Path(arg).expanduser().resolve()
        if not _is_course(path):
            raise CourseNotFound(f"{path} is not a course directory: it has no {_MARKER}")
        return path
    if _ACTIVE:
        return _ACTIVE[-1]
    env = os.environ.get("COURSE_DIR")
    if env:
        path = Path(env).expanduser().resolve()
        if not _is_course(path):
            raise CourseNotFound(f"COURSE_DIR={env} is not a course directory: it has no {_MARKER}")
        return path
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        for candidate in (folder, folder / "exercises"):
            if _is_course(candidate):
                return candidate
    raise CourseNotFound(
        f"no course directory found from {here}: run the command inside the course folder (the "
        f"one with {_MARKER}), pass --course DIR, or set COURSE_DIR"
    )


def load_course_module(relative: str, course: Path | None = None) -> ModuleType:
    """Import a Python file of the course directory by path (e.g. ``"solutions/ch09_architectures.py"``).

    Raises:
        FileNotFoundError: the file does not exist in the course directory.
    """
    course = find_course() if course is None else course
    path = course / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the course directory {course}")
    name = "course_files." + relative.removesuffix(".py").replace("/", ".")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
