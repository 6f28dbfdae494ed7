"""The book's build settings turn a failing cell and a Sphinx warning into a failed build.

A tiny book in a temporary folder, with the execution and Sphinx settings of the real
``_config.yml`` and the real build command's flags, so that a regression in either (say,
``raise_on_error`` dropped, or ``--warningiserror`` lost) is caught without building all chapters.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """
)


def build_tiny_book(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    # Keep what decides pass/fail (execute: and sphinx: config), drop what points into the repo.
    config["sphinx"].pop("local_extensions", None)
    for key in ("html_static_path", "html_css_files", "mathjax_path", "bibtex_reference_style"):
        config["sphinx"]["config"].pop(key, None)
    for key in ("exclude_patterns", "bibtex_bibfiles"):
        config.pop(key, None)
    config["execute"]["cache"] = str(tmp_path / "_build" / ".jupyter_cache")
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n", encoding="utf-8")
    (tmp_path / "intro.md").write_text(HEADER + "\n# A tiny book\n\n" + body, encoding="utf-8")
    cmd = build_book.jupyter_book_command("html")
    cmd[cmd.index(str(ROOT))] = str(tmp_path)
    cmd[cmd.index("--path-output") + 1] = str(tmp_path)
    return subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        env=build_book.kernel_environment(),
    )


def test_a_failing_cell_fails_the_build(tmp_path: Path) -> None:
    result = build_tiny_book(
        tmp_path, "```{code-cell} ipython3\nraise ValueError('this cell is broken')\n```\n"
    )
    assert result.returncode != 0, "a cell that raises must fail the build"
    assert "this cell is broken" in result.stdout + result.stderr


def test_a_sphinx_warning_fails_the_build(tmp_path: Path) -> None:
    result = build_tiny_book(tmp_path, "See {doc}`a_page_that_does_not_exist`.\n")
    assert result.returncode != 0, "a Sphinx warning must fail the build"
    assert "a_page_that_does_not_exist" in result.stdout + result.stderr


def test_the_tiny_book_builds_when_nothing_is_wrong(tmp_path: Path) -> None:
    """The control: the same harness succeeds on a correct page, so the failures above are real."""
    result = build_tiny_book(tmp_path, "```{code-cell} ipython3\nprint(6 * 7)\n```\n")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "42" in (tmp_path / "_build" / "html" / "intro.html").read_text(encoding="utf-8")
