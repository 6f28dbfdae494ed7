"""The book's execution cache is keyed on what the pages execute and read: course_lib, book/,
models/ and benchmarks/results/ — never on the grader, so editing a grader message does not
re-execute nine chapters."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def build_book(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("build_book_under_test", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for d in ("course_lib", "course_grader", "exercises/spec", "book", "models"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "course_lib" / "conv.py").write_text("x = 1\n")
    (tmp_path / "course_grader" / "engine.py").write_text("y = 1\n")
    (tmp_path / "exercises" / "spec" / "ch04_conv.py").write_text("z = 1\n")
    (tmp_path / "book" / "data.csv").write_text("1,2\n")
    (tmp_path / "models" / "seed_cnn_history.json").write_text("{}\n")
    startup = tmp_path / "startup.py"
    shutil.copy2(module.KERNEL_STARTUP, startup)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "KERNEL_STARTUP", startup)
    return module, tmp_path


@pytest.mark.parametrize(("path", "changes"), [
    ("course_lib/conv.py", True),
    ("book/data.csv", True),
    ("models/seed_cnn_history.json", True),
    ("course_grader/engine.py", False),
    ("exercises/spec/ch04_conv.py", False),
])
def test_cache_key_follows_what_the_pages_depend_on(build_book, path, changes):
    module, root = build_book
    before = module.library_fingerprint()
    (root / path).write_text((root / path).read_text() + "# edited\n")
    assert (module.library_fingerprint() != before) is changes
