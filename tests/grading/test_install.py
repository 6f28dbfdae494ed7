"""The distribution works installed as a wheel (not an editable checkout): both packages are in
it, `course_lib` imports without the grader, and `course` finds the course from --course or the
working directory, never from where the package lives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel .` then `pip install --target` into a fresh folder (no network: --no-deps)."""
    tmp = tmp_path_factory.mktemp("install")
    build = tmp / "src"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(
        ".git", ".venv", "book", "data", "models", "tests", "benchmarks", "*.egg-info", "build", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(build)],
                   check=True, capture_output=True, text=True)
    (wheel,) = (tmp / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("course_lib/validate.py") for n in names)
    assert any(n.startswith("course_grader/tasks/ch09_architectures.py") for n in names)
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    return site


def _run(site: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_DIR")}
    e["PYTHONPATH"] = str(site)
    e.update(env or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=300)


def test_course_lib_imports_alone_from_the_wheel(installed, tmp_path):
    code = (
        "import sys, pkgutil, importlib, course_lib\n"
        "assert course_lib.__file__.startswith(sys.argv[1]), course_lib.__file__\n"
        "for m in pkgutil.walk_packages(course_lib.__path__, 'course_lib.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('course_grader', 'nbgrader'))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    r = _run(installed, tmp_path, "-c", code, str(installed))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_course_cli_from_the_wheel_uses_the_given_course(installed, tmp_path):
    course = tmp_path / "my-course"
    shutil.copytree(ROOT / "exercises", course, ignore=shutil.ignore_patterns(
        "release", "submitted", "autograded", "feedback", "reports", "gradebook.db", "examples"))
    # from elsewhere, with --course: the committed notebooks are what the specs generate
    r = _run(installed, tmp_path, "-m", "course_grader.cli", "generate", "--check", "--course", str(course))
    assert r.returncode == 0, r.stdout + r.stderr
    # from inside the course directory, no flag
    r = _run(installed, course / "spec", "-m", "course_grader.cli", "generate", "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    # from a folder that is not a course: a clear error, nothing guessed from the package location
    r = _run(installed, tmp_path, "-m", "course_grader.cli", "generate", "--check")
    assert r.returncode != 0 and "no course directory found" in (r.stdout + r.stderr)
    assert "Traceback" not in r.stderr
