"""Copy signals for the instructor: ``course similarity ASSIGNMENT`` (a flag for review, never a score).

The reference library is public, so copying it (or a classmate) is the cheat left. For every
graded function of an assignment (``grading.TASKS[...].functions``) this compares, token by token
as MOSS-style tools do, each student's function with the reference (the instructor's source
notebook and the ``course_lib`` function of the same name) and with every other student's:

- **normalised**: docstrings, comments, type annotations and whitespace are dropped; local names
  become ``ID``, numbers ``NUM`` and strings ``STR``; keywords, operators, builtins and attribute
  names (``np.maximum``) stay: renaming variables or re-spacing does not hide a copy;
- **fingerprinted**: hashes of every run of :data:`K` tokens, winnowed (the minimum of every
  window of :data:`WINDOW` hashes), so re-ordered or partly edited code still matches where it
  agrees;
- **scored**: the share of the smaller function's fingerprints found in the other (1.0 = all);
  functions shorter than ``min_tokens`` (a one-line ReLU backward) are too short to tell
  independent work from a copy and are not compared.

Nothing here runs a submission: the notebooks are only parsed. The report lists flagged pairs side
by side with their score; the grades are never touched.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import io
import itertools
import json
import keyword
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WINDOW", "K", "Match", "Piece", "compare", "fingerprints", "normalise", "scan_course"]

K = 6  # tokens per fingerprinted run
WINDOW = 4  # winnowing window
THRESHOLD = 0.8  # score at which a pair is flagged for review
MIN_TOKENS = 40  # shorter functions are not compared
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Piece:
    """One function of one author (a student, or ``reference: ...``)."""

    author: str
    task: str
    function: str
    source: str  # as written (for the side-by-side view)
    tokens: tuple[str, ...]
    prints: frozenset[int]


@dataclass(frozen=True)
class Match:
    """A flagged pair: ``b`` is a reference or another student."""

    task: str
    function: str
    a: Piece
    b: Piece
    score: float
    shared: int


class _StripDoc(ast.NodeTransformer):
    def _body(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        node.returns = None
        for a in [*node.args.args, *node.args.posonlyargs, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]:
            if a is not None:
                a.annotation = None
        return self._body(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        return ast.Assign([node.target], node.value or ast.Constant(None), lineno=node.lineno)


def normalise(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    """The function's body as normalised tokens (see the module docstring); the ``def`` line is
    left out (every student starts from the same template signature)."""
    node = _StripDoc().visit(ast.fix_missing_locations(ast.parse(ast.unparse(func)).body[0]))
    body = "\n".join(ast.unparse(stmt) for stmt in node.body)
    out: list[str] = []
    prev = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(body).readline):
            if tok.type == tokenize.NAME:
                word = tok.string if (keyword.iskeyword(tok.string) or prev == "." or tok.string in _BUILTINS) else "ID"
            elif tok.type == tokenize.NUMBER:
                word = "NUM"
            elif tok.type == tokenize.STRING:
                word = "STR"
            elif tok.type == tokenize.OP:
                word = tok.string
            elif tok.type == tokenize.NEWLINE:
                word = ";"
            elif tok.type in (tokenize.INDENT, tokenize.DEDENT):
                word = "{" if tok.type == tokenize.INDENT else "}"
            else:
                continue
            out.append(word)
            prev = tok.string
    except (tokenize.TokenError, SyntaxError):
        pass
    return tuple(out)


def fingerprints(tokens: Sequence[str], k: int = K, window: int = WINDOW) -> frozenset[int]:
    """Winnowed hashes of the ``k``-token runs (Schleimer, Wilkerson & Aiken 2003)."""
    hashes = [int.from_bytes(hashlib.blake2b(" ".join(tokens[i:i + k]).encode(), digest_size=8).digest(), "big")
              for i in range(len(tokens) - k + 1)]
    if len(hashes) <= window:
        return frozenset(hashes)
    return frozenset(min(hashes[i:i + window]) for i in range(len(hashes) - window + 1))


def _score(a: Piece, b: Piece) -> tuple[float, int]:
    shared = len(a.prints & b.prints)
    return shared / max(1, min(len(a.prints), len(b.prints))), shared


def functions_of(source: str, names: Iterable[str]) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Top-level functions called ``names`` in Python source (the last definition wins)."""
    wanted = set(names)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in wanted}


def _piece(author: str, task: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Piece:
    tokens = normalise(node)
    return Piece(author, task, node.name, ast.unparse(node), tokens, fingerprints(tokens))


def compare(students: Mapping[str, str], references: Mapping[str, str], tasks: Mapping[str, Sequence[str]], *,
            threshold: float = THRESHOLD, min_tokens: int = MIN_TOKENS) -> tuple[list[Match], list[str]]:
    """Flag similar functions.

    Args:
        students: student -> the code of their notebook's code cells (joined).
        references: name (``"course_lib.loss"``, ``"source notebook"``) -> reference source.
        tasks: task id -> the graded function names.

    Returns:
        the flagged pairs (highest score first), and notes on what was not compared.
    """
    matches: list[Match] = []
    notes: list[str] = []
    for task, names in tasks.items():
        for fname in names:
            refs = [_piece(f"reference: {r}", task, fn) for r, src in references.items()
                    for fn in [functions_of(src, [fname]).get(fname)] if fn is not None]
            mine = [_piece(s, task, fn) for s, src in sorted(students.items())
                    for fn in [functions_of(src, [fname]).get(fname)] if fn is not None]
            short = [p.author for p in mine if len(p.tokens) < min_tokens]
            if short:
                notes.append(f"{fname}: not compared for {len(short)} submission(s) shorter than {min_tokens} tokens "
                             "(too short to tell a copy from independent work)")
            mine = [p for p in mine if len(p.tokens) >= min_tokens]
            refs = [p for p in refs if len(p.tokens) >= min_tokens]
            for a in mine:
                best = max(((_score(a, r), r) for r in refs), key=lambda t: t[0][0], default=None)
                if best is not None and best[0][0] >= threshold:
                    matches.append(Match(task, fname, a, best[1], round(best[0][0], 3), best[0][1]))
            for a, b in itertools.combinations(mine, 2):
                score, shared = _score(a, b)
                if score >= threshold:
                    matches.append(Match(task, fname, a, b, round(score, 3), shared))
    matches.sort(key=lambda m: (-m.score, m.task, m.function, m.a.author, m.b.author))
    return matches, notes


def side_by_side(left: str, right: str, width: int = 60) -> str:
    """Two sources in columns (each line cut to ``width``)."""
    a, b = left.splitlines(), right.splitlines()
    rows = [f"{x[:width]:<{width}} | {y[:width]}" for x, y in itertools.zip_longest(a, b, fillvalue="")]
    return "\n".join(rows)


def _code_of(raw: bytes) -> str:
    from course_grader import sandbox

    data, _ = sandbox.parse_notebook(raw, "notebook")
    cells, _ = sandbox.code_cells(data, "notebook")
    return "\n\n".join(src for _, src in cells)


def scan_course(course: Path, assignment: str, *, threshold: float = THRESHOLD,
                min_tokens: int = MIN_TOKENS) -> tuple[list[Match], list[str]]:
    """Compare every submission of ``assignment`` in ``course`` (only parsed, never run)."""
    import course_lib
    from course_grader import batch, grading

    course = Path(course)
    tasks = {t.id: t.functions for t in grading.TASKS.values() if t.id.startswith(assignment + ".")}
    students: dict[str, str] = {}
    notes: list[str] = []
    root = course / "submitted"
    for folder in sorted(root.glob(f"*/{assignment}")) if root.is_dir() else []:
        for nb in sorted(folder.glob("*.ipynb")):
            try:
                students[folder.parent.name] = students.get(folder.parent.name, "") + "\n\n" + _code_of(batch.read_regular(nb))
            except Exception as e:
                notes.append(f"{folder.parent.name}: {nb.name} not compared ({e})")
    references: dict[str, str] = {}
    for nb in sorted((course / "source" / assignment).glob("*.ipynb")):
        with_markers = _code_of(nb.read_bytes())
        references[f"source/{assignment}/{nb.name}"] = with_markers
    lib = Path(course_lib.__file__).resolve().parent
    for py in sorted(lib.glob("*.py")):
        references[f"course_lib.{py.stem}"] = py.read_text(encoding="utf-8")
    matches, more = compare(students, references, tasks, threshold=threshold, min_tokens=min_tokens)
    return matches, notes + more


def render(matches: Sequence[Match], notes: Sequence[str], assignment: str, threshold: float) -> str:
    """The instructor's report: flagged pairs side by side (a review flag, never a grade)."""
    lines = [f"similarity of {assignment}: {len(matches)} pair(s) at or above {threshold:g} "
             "(share of the shorter function's fingerprints; 1 = identical after normalising names, "
             "spacing and comments). A flag for review, never a grade."]
    lines += [f"  note: {n}" for n in notes]
    for m in matches:
        lines.append("")
        lines.append(f"[{m.task}] {m.function}: {m.a.author} ~ {m.b.author}  score {m.score:.2f} "
                     f"({m.shared} shared fingerprints)")
        lines.append(side_by_side(m.a.source, m.b.source))
    return "\n".join(lines) + "\n"


def to_json(matches: Sequence[Match]) -> str:
    return json.dumps([{"task": m.task, "function": m.function, "a": m.a.author, "b": m.b.author,
                        "score": m.score, "shared": m.shared} for m in matches], indent=1)
