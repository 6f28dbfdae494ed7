"""The graders' links into the book: every task's section (course_grader/book_sections.py, generated
from the specs and the book's headings) is an anchor of the built HTML whose heading shows the same
number and title the report prints ("→ 4.6 The backward pass"); each chapter's Exercise section
lists the assignment's tasks (the generated include). Uses the session's one book build."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from course_grader import generate
from course_grader.book_sections import SECTIONS

# In the book's xdist group: the built_book fixture is per worker, so a test on another worker
# would build the book a second time into the same folder while the others read it.
pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]

ROOT = Path(__file__).resolve().parents[2]


class _Headings(HTMLParser):
    """Section ids and the text of each section's first heading."""

    def __init__(self) -> None:
        super().__init__()
        self.heading: dict[str, str] = {}
        self._section: list[str | None] = []
        self._in_heading: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section.append(a.get("id"))
        elif tag in ("h1", "h2") and self._section and self._section[-1] and self._section[-1] not in self.heading:
            self._in_heading, self._text = self._section[-1], []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._section:
            self._section.pop()
        elif tag in ("h1", "h2") and self._in_heading:
            self.heading[self._in_heading] = " ".join("".join(self._text).split()).rstrip("#").strip()
            self._in_heading = None

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self._text.append(data)


def test_every_task_links_to_a_section_of_the_built_book(built_book: Path) -> None:
    assert SECTIONS, "no task has a book section"
    problems = []
    for task_id, sec in sorted(SECTIONS.items()):
        page = built_book / f"{sec['page']}.html"
        if not page.is_file():
            problems.append(f"{task_id}: no page {page}")
            continue
        parser = _Headings()
        parser.feed(page.read_text(encoding="utf-8"))
        shown = parser.heading.get(sec["anchor"])
        if shown is None:
            problems.append(f"{task_id}: no section #{sec['anchor']} in {page.name}")
        elif shown != f"{sec['number']}. {sec['title']}":
            problems.append(f"{task_id}: #{sec['anchor']} is headed {shown!r}, the report says {sec['number']} {sec['title']!r}")
    assert not problems, "\n".join(problems)


def test_every_exercise_section_lists_the_assignments_tasks(built_book: Path) -> None:
    for assignment in generate.available(ROOT / "exercises"):
        page = built_book / "book" / f"{assignment.removeprefix('ch')}.html"
        text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
        spec = generate.load_spec(assignment, ROOT / "exercises")
        tasks = [m for c in spec.CELLS if isinstance(c, generate.Markdown)
                 for m in re.findall(r"^## (Task \d+: .+)$", c.text.replace("        ", ""), flags=re.M)]
        assert tasks, assignment
        for t in tasks:
            assert t in text, f"{page.name}: the Exercise section does not list {t!r}"
