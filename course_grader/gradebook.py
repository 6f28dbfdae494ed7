"""Where the gradebook lives: SQLite in the course folder (one machine) or PostgreSQL (several writers).

Only the trusted ``course autograde`` process writes it (:func:`course_grader.batch.record`), one
submission at a time, from the results its workers send back. Every write is an *upsert*: the
same result twice leaves the same rows, and two processes writing one PostgreSQL gradebook at
once both succeed — a write that loses a race on a unique row (a new student, a new submission)
is rolled back and retried (:func:`retry`).

URL resolution (:func:`db_url`): ``--db`` on the command line, else nbgrader's
``CourseDirectory.db_url`` from the course's ``nbgrader_config.py``, else
``sqlite:///<course>/gradebook.db``. PostgreSQL URLs use psycopg 3:
``postgresql+psycopg://user:password@host:5432/gradebook``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "GradebookUnreachable",
    "check_reachable",
    "db_url",
    "display_url",
    "has_assignment",
    "open_gradebook",
    "retry",
    "sqlite_wait",
]

SQLITE_TIMEOUT = 120.0  # seconds a SQLite write waits for another writer's transaction
CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL server before giving up
_T = TypeVar("_T")


class GradebookUnreachable(RuntimeError):
    """The gradebook database cannot be opened; the message names it (without its password)."""


def db_url(course: Path | str, explicit: str | None = None) -> str:
    """The gradebook's SQLAlchemy URL: ``explicit``, else the course config's, else SQLite.

    ``postgresql://…`` and ``postgres://…`` become ``postgresql+psycopg://…`` (psycopg 3, the
    driver installed with the ``grading`` extra).
    """
    url = explicit
    if not url:
        cfg = Path(course) / "nbgrader_config.py"
        if cfg.exists():
            from traitlets.config.loader import PyFileConfigLoader

            config = PyFileConfigLoader(cfg.name, path=str(cfg.parent)).load_config()
            url = config.CourseDirectory.get("db_url") or None
    if not url:
        url = "sqlite:///" + str(Path(course).resolve() / "gradebook.db")
    for old in ("postgresql://", "postgres://"):
        if url.startswith(old):
            url = "postgresql+psycopg://" + url[len(old):]
    return url


def display_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def sqlite_wait(url: str, seconds: float = SQLITE_TIMEOUT) -> str:
    """A SQLite ``url`` whose writers wait ``seconds`` for another's transaction; others unchanged."""
    if url.startswith("sqlite:///") and "timeout=" not in url:
        return url + ("&" if "?" in url else "?") + f"timeout={seconds:g}"
    return url


def check_reachable(url: str) -> None:
    """Open a connection and run ``SELECT 1``; nothing is created or written.

    Raises:
        GradebookUnreachable: the server does not answer, refuses the login, the database does
            not exist, or a SQLite file's folder is missing; the message says which URL.
    """
    from sqlalchemy import create_engine, text

    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///"):].split("?")[0]).parent
        if not folder.is_dir():
            raise GradebookUnreachable(f"the gradebook's folder {folder} does not exist ({display_url(url)})")
    args = {"connect_timeout": CONNECT_TIMEOUT} if url.startswith("postgresql") else {}
    try:
        engine = create_engine(url, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise GradebookUnreachable(
            f"cannot open the gradebook {display_url(url)}: {reason[0] if reason else type(e).__name__}"
        ) from None


@contextlib.contextmanager
def open_gradebook(url: str, course_id: str = "default_course") -> Iterator[Any]:
    """nbgrader's :class:`~nbgrader.api.Gradebook` on ``url`` (tables created if missing)."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        # nbgrader's own ORM use triggers SQLAlchemy warnings; they are harmless for the gradebook
        warnings.simplefilter("ignore", SAWarning)
        gb = retry(lambda: Gradebook(sqlite_wait(url), course_id=course_id))
        try:
            yield gb
        finally:
            gb.close()


def retry(fn: Callable[[], _T], gb: Any = None, attempts: int = 6) -> _T:
    """``fn()``, again (after rolling back ``gb``'s session) when it lost a race on a unique row
    or a serialisation failure; the last failure is raised."""
    from nbgrader.api import InvalidEntry
    from sqlalchemy.exc import IntegrityError, OperationalError

    for k in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError, InvalidEntry):
            if gb is not None:
                gb.db.rollback()
            if k == attempts - 1:
                raise
            time.sleep(0.05 * 2**k)
    raise AssertionError("unreachable")


def has_assignment(url: str, assignment: str) -> bool:
    """Whether the gradebook at ``url`` knows ``assignment`` (it was released there)."""
    from nbgrader.api import MissingEntry

    with open_gradebook(url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            return False
    return True
