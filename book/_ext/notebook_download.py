"""Offer every executed page as a Jupyter notebook in the theme's download menu.

sphinx-book-theme only copies the executed ``.ipynb`` of a MyST-markdown page into ``_sources``
when a launch service (Binder, Colab, ...) is configured, and those need a network. This
extension does the copy itself, so the download menu offers ``.md``, ``.ipynb`` and ``.pdf``
on a book that is read offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx


def _offer_notebook(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Copy ``jupyter_execute/<page>.ipynb`` into ``_sources`` and tell the theme about it."""
    if doctree is None:  # generated pages (search, genindex) have no notebook
        return
    # MyST-NB writes the executed notebook of every notebook page here.
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict[str, Any]:
    # Before the theme builds its header buttons (priority 501), which read ``ipynb_source``.
    app.connect("html-page-context", _offer_notebook, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
