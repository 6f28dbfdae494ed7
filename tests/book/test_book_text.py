"""What the built book says, checked against the exercises and its own notation page.

* **No graded answer in a page.** The model solutions are read from the generated nbgrader source
  notebooks (``exercises/source/*/*.ipynb``: the code between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``, and the written answers, markdown cells marked as solutions), so this
  follows the one source of truth. A page fails when half or more of the non-trivial lines
  (>= 25 characters after stripping) of one model solution appear in its HTML text, and at least
  two of them do: a single formula line such as ``dx = dout @ w.T`` in a derivation is fine.
* **Every admonition shows a real title**, and every erratum box is an ``admonition`` of class
  ``erratum`` titled "Erratum: <what>".
* **The notation page is true**: the machine-readable table in ``book/notation.md`` names, for
  each symbol, the chapters that use it and (in bold) the words that say what it means there; each
  named chapter uses the symbol in its mathematics and says one of those words. Uses of a reserved symbol
  for something else (lambda as an eigenvalue, p as a kernel index, e as the epoch, L as the number
  of layers) are flagged in every chapter.

The HTML checks use the session's one build of the book (the built_book fixture of conftest.py).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_build import built_pages  # (built_book is the session fixture of conftest.py)

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]

ROOT = Path(__file__).resolve().parents[2]
SOURCE_NOTEBOOKS = sorted((ROOT / "exercises" / "source").glob("*/*.ipynb"))
CHAPTERS = sorted((ROOT / "book").glob("0[1-9]_*.md"))
NOTATION = ROOT / "book" / "notation.md"

MIN_LINE = 25  # characters, after stripping: shorter lines (`return out, cache`) prove nothing


# ------------------------------------------------------------------------------------------------
# 1. Model solutions must not appear in a page
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Solution:
    where: str  # "ch04_conv.ipynb, cell 7"
    lines: tuple[str, ...]  # its non-trivial lines, whitespace-normalised


def _normalise(text: str) -> str:
    return " ".join(text.split())


def solutions_in_notebook(path: Path) -> list[Solution]:
    """Every model solution of one source notebook: code solution regions and written answers."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for index, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code":
            regions = re.findall(r"### BEGIN SOLUTION\n(.*?)\n[ \t]*### END SOLUTION", source, re.S)
        elif cell["cell_type"] == "markdown" and meta.get("solution"):
            regions = [source]  # a written answer: the whole cell is the model answer
        else:
            continue
        for region in regions:
            lines = tuple(
                _normalise(line) for line in region.splitlines() if len(line.strip()) >= MIN_LINE
            )
            if lines:
                found.append(Solution(f"{path.name}, cell {index}", lines))
    return found


def page_text(page_html: str) -> str:
    """The text a reader can see or expand: tags removed, entities decoded, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S | re.I)
    return _normalise(html.unescape(re.sub(r"<[^>]+>", "", body)))


def leaked_lines(solution: Solution, text: str) -> list[str]:
    return [line for line in solution.lines if line in text]


def leaks(solution: Solution, text: str) -> bool:
    """Half or more of the solution's non-trivial lines, and at least two of them, are in text."""
    shown = leaked_lines(solution, text)
    return len(shown) >= 2 and 2 * len(shown) >= len(solution.lines)


def all_solutions() -> list[Solution]:
    return [s for nb in SOURCE_NOTEBOOKS for s in solutions_in_notebook(nb)]


def test_the_solutions_are_found() -> None:
    """Every assignment contributes model solutions (or the leak test would check nothing)."""
    assert len(SOURCE_NOTEBOOKS) == 9, SOURCE_NOTEBOOKS
    by_notebook = {nb.name: solutions_in_notebook(nb) for nb in SOURCE_NOTEBOOKS}
    assert all(len(found) >= 2 for found in by_notebook.values()), {
        name: len(found) for name, found in by_notebook.items()
    }


def test_the_leak_checker_flags_a_page_that_prints_a_solution() -> None:
    """The checker on fake pages: a printed solution is caught, a formula line is not."""
    solution = max(all_solutions(), key=lambda s: len(s.lines))
    assert len(solution.lines) >= 4
    # a page that prints the source, as inspect.getsource in a code cell would (escaped, in spans)
    printed = "\n".join(solution.lines)
    spans = "".join(f'<span class="n">{html.escape(w)}</span> ' for w in printed.split(" "))
    page = f"<html><body><p>Some prose.</p><pre>{spans}</pre></body></html>"
    assert leaks(solution, page_text(page))
    # half of the lines is already too many
    half = solution.lines[: (len(solution.lines) + 1) // 2]
    assert leaks(Solution("half", solution.lines), _normalise(" ... ".join(half)))
    # one line in a derivation is fine, and so is a page without the solution
    assert not leaks(solution, page_text(f"<p>so {html.escape(solution.lines[0])} holds</p>"))
    assert not leaks(solution, page_text("<p>Some prose.</p>"))


def test_no_page_prints_a_model_solution(built_book: Path) -> None:
    solutions = all_solutions()
    problems = []
    for page in built_pages():
        text = page_text(page.read_text(encoding="utf-8"))
        for solution in solutions:
            if leaks(solution, text):
                shown = leaked_lines(solution, text)
                problems.append(
                    f"{page.name} shows {len(shown)} of the {len(solution.lines)} lines of the "
                    f"model solution in {solution.where}, e.g. {shown[0]!r}"
                )
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------
# 2. Admonitions render their titles; erratum boxes are titled admonitions of class "erratum"
# ------------------------------------------------------------------------------------------------

GENERIC_TITLES = {
    "Note", "Warning", "Tip", "Hint", "Important", "Caution", "Attention", "Danger", "Error",
    "See also",
}
TITLE_WORDS = {"Erratum", "Errata", *GENERIC_TITLES, "Summary", "Example", "Remark", "Definition"}


@dataclass(frozen=True)
class Admonition:
    classes: tuple[str, ...]
    title: str
    body: str  # text of the body's first paragraph


def admonitions(page_html: str) -> list[Admonition]:
    """Every Sphinx admonition of a page: its classes, its title and its first body paragraph."""
    found = []
    pattern = (
        r'<div class="([^"]*\badmonition\b[^"]*)"[^>]*>\s*'
        r'(?:<p class="admonition-title">(.*?)</p>)?\s*(?:<p>(.*?)</p>)?'
    )
    for match in re.finditer(pattern, page_html, re.S):
        classes, title, body = match.groups()
        found.append(
            Admonition(
                tuple(classes.split()),
                _normalise(html.unescape(re.sub(r"<[^>]+>", "", title or ""))),
                _normalise(html.unescape(re.sub(r"<[^>]+>", "", body or ""))),
            )
        )
    return found


def admonition_problems(box: Admonition) -> list[str]:
    problems = []
    first_words = box.body.split()[:1]
    if not box.title:
        problems.append(f"an admonition without a title: {box.body[:60]!r}")
    elif box.title in GENERIC_TITLES and first_words and first_words[0].rstrip(":.") in TITLE_WORDS:
        problems.append(
            f"a {box.title!r} box whose body starts with a title, {box.body[:60]!r}: write "
            f"':::{{admonition}} <title>' instead of ':::{{note}} <title>'"
        )
    is_erratum = "erratum" in box.classes or re.match(r"Errat(um|a)\b", box.title) or (
        first_words and first_words[0].rstrip(":.") in ("Erratum", "Errata")
    )
    if is_erratum:
        if "erratum" not in box.classes:
            problems.append(f"an erratum box without the class 'erratum': {box.title!r}")
        if not re.fullmatch(r"Erratum: \S.*", box.title):
            problems.append(f"an erratum box not titled 'Erratum: <what>': {box.title!r}")
    return problems


def _box(kind: str, title: str, body: str, extra_class: str = "") -> str:
    """An admonition as Sphinx (with the book theme) renders it."""
    classes = f"{extra_class} admonition" if extra_class else f"admonition {kind}"
    return (
        f'<div class="{classes}">\n<p class="admonition-title">{title}</p>\n<p>{body}</p>\n</div>'
    )


def test_the_admonition_checker_flags_untitled_boxes() -> None:
    note_erratum = _box("note", "Note", "Erratum The source writes 227. See the errata.")
    assert admonition_problems(admonitions(note_erratum)[0])
    untitled_erratum = _box("", "Erratum", "The source writes 227.", extra_class="note")
    assert admonition_problems(admonitions(untitled_erratum)[0])
    unclassed = _box("", "Erratum: 231, not 227", "The products sum to 227.", extra_class="note")
    assert admonition_problems(admonitions(unclassed)[0])
    good = _box("", "Erratum: 231, not 227", "Forgetting the bias gives 227.", extra_class="erratum")
    assert admonition_problems(admonitions(good)[0]) == []
    plain_note = _box("note", "Note", "The library uses 0 at the kink.")
    assert admonition_problems(admonitions(plain_note)[0]) == []


def test_every_admonition_renders_its_title(built_book: Path) -> None:
    problems, errata = [], 0
    for page in built_pages():
        for box in admonitions(page.read_text(encoding="utf-8")):
            errata += "erratum" in box.classes
            problems += [f"{page.name}: {p}" for p in admonition_problems(box)]
    assert not problems, "\n".join(problems)
    assert errata >= 9, f"only {errata} erratum boxes found: has their markup changed?"


# ------------------------------------------------------------------------------------------------
# 3. The notation page is true
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Symbol:
    tex: str  # the symbol as written in the table, e.g. "\lambda"
    keywords: tuple[str, ...]  # the bold words of its meaning: a chapter must say one of them
    chapters: tuple[int, ...]


def notation_symbols(markdown: str) -> list[Symbol]:
    """Rows of the notation tables that name chapters: | $sym$ | meaning | code | chapters |."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"[\d, –-]+", cells[3]):
            continue
        symbol = re.fullmatch(r"\$(.+?)\$", cells[0])
        if not symbol:
            continue
        chapters: list[int] = []
        for part in cells[3].split(","):
            lo, _, hi = part.strip().replace("–", "-").partition("-")
            chapters += range(int(lo), int(hi or lo) + 1)
        keywords = tuple(k.lower() for k in re.findall(r"\*\*(.+?)\*\*", cells[1]))
        rows.append(Symbol(symbol.group(1), keywords, tuple(chapters)))
    return rows


def math_of(markdown: str) -> str:
    """The mathematics of a MyST page: $...$, $$...$$ and {math} blocks, joined."""
    blocks = re.findall(r"```\{math\}\n(.*?)```", markdown, re.S)
    without_blocks = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    displayed = re.findall(r"\$\$(.+?)\$\$", without_blocks, re.S)
    inline = re.findall(r"(?<!\$)\$([^$\n]+?)\$(?!\$)", re.sub(r"\$\$.+?\$\$", " ", without_blocks, flags=re.S))
    return "\n".join(blocks + displayed + inline)


def uses_symbol(math: str, tex: str) -> bool:
    """tex occurs as a symbol of its own (p in "2p", not in "\\partial" or "pq")."""
    return re.search(r"(?<![A-Za-z\\])" + re.escape(tex) + r"(?![A-Za-z])", math) is not None


# A reserved symbol used for something else, recognised by how it is written there.
CLASHES = {
    r"\lambda": [(r"\\lambda_\{?\\?(max|min)", "lambda as an eigenvalue (write h_max)")],
    "p": [
        (r"\\sum_\{?p\b|_\{p\s*q\}|_\{pq\}|[,{]p,\s*q\b|p\^\*", "p as a kernel/window index (write r, t)")
    ],
    "e": [(r"\\eta_e\b|\\lfloor\s*e\b|\\kappa\s*e\b|\\pi\s*e\b", "e as the epoch (write tau)")],
    "L": [(r"\^\{?L\}?(?![A-Za-z_])|\\dots,\s*L\b", "L as the number or index of the last layer (write T)")],
}


def test_notation_table_is_machine_readable() -> None:
    symbols = notation_symbols(NOTATION.read_text(encoding="utf-8"))
    by_tex = {s.tex: s for s in symbols}
    assert len(symbols) >= 20, [s.tex for s in symbols]
    # the symbols whose clashes are checked below are all on the page
    assert set(CLASHES) <= set(by_tex), set(CLASHES) - set(by_tex)
    assert all(1 <= c <= 9 for s in symbols for c in s.chapters)


def test_the_notation_checks_can_fail() -> None:
    assert uses_symbol(r"n + 2p - k", "p") and not uses_symbol(r"\partial L", "p")
    assert uses_symbol(r"\eta < 2", r"\eta") and not uses_symbol(r"\etaX", r"\eta")
    text = "Text $x_{n,c,si+p,sj+q}$ and\n$$\n\\sum_{p=0}^{k-1} w_{pq}\n$$\n"
    assert any(re.search(p, math_of(text)) for p, _ in CLASHES["p"])
    assert any(re.search(p, r"\eta < 2/\lambda_{\max}") for p, _ in CLASHES[r"\lambda"])
    assert any(re.search(p, r"\eta_e = \eta_0 e^{-\kappa e}") for p, _ in CLASHES["e"])
    assert any(re.search(p, r"\delta^L = \nabla C") for p, _ in CLASHES["L"])
    assert not any(re.search(p, r"\partial L / \partial x, L = \frac1N") for p, _ in CLASHES["L"])


@pytest.mark.parametrize("symbol", notation_symbols(NOTATION.read_text(encoding="utf-8")), ids=lambda s: s.tex)
def test_each_listed_symbol_is_used_with_its_meaning(symbol: Symbol) -> None:
    problems = []
    for number in symbol.chapters:
        (page,) = [p for p in CHAPTERS if p.name.startswith(f"0{number}_")]
        markdown = page.read_text(encoding="utf-8")
        if not uses_symbol(math_of(markdown), symbol.tex):
            problems.append(f"{page.name} does not use ${symbol.tex}$ in its mathematics")
        prose = _normalise(markdown).lower()
        if symbol.keywords and not any(keyword in prose for keyword in symbol.keywords):
            problems.append(
                f"{page.name} never says what ${symbol.tex}$ means (none of {symbol.keywords})"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.stem)
def test_no_chapter_gives_a_reserved_symbol_another_meaning(page: Path) -> None:
    math = math_of(page.read_text(encoding="utf-8"))
    problems = [
        f"{page.name}: {what}: {match.group(0)!r}"
        for patterns in CLASHES.values()
        for pattern, what in patterns
        for match in re.finditer(pattern, math)
    ]
    assert not problems, "\n".join(problems)
