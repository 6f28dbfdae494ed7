"""Headless Chromium and a local "static host" for the book's browser tests.

* :func:`find_chromium` / :func:`run_chromium`: Debian's ``chromium``, one launch per call, a fresh
  profile each time, flags that keep it offline.
* :class:`SubPathServer`: serves ``book/_build/html`` under ``/course/`` on 127.0.0.1 (a static host
  such as GitHub Pages publishes a project site under ``/<repo>/``), answers everything else with
  404, and records every request with its status, so a test sees each CSS, JS, image or MathJax
  font the browser asked for and whether it resolved.
* :func:`run_harness`: one Chromium launch that loads ``harness.html`` (next to this file) from the
  server; the harness opens every page in iframes of the requested widths, measures the layout
  after MathJax has typeset, and POSTs one JSON report back to the server.
"""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PREFIX = "/course/"
# A page that breaks every layout rule, served beside the book's pages: proves the checks can fail.
SELFTEST = "__selftest.html"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
    "--window-size=1280,2000",
    # Virtual time lets MathJax (asynchronous, loads fonts) finish before the DOM is dumped.
    "--virtual-time-budget=15000",
]


def toc_pages() -> list[str]:
    """Docnames in _toc.yml order: root, then every chapter of every part."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


def find_chromium() -> str:
    """Path of headless Chromium; fails under CI=true and skips elsewhere when it is missing."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    message = "headless Chromium not found: install it with `make browser` (Debian package chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def run_chromium(chromium: str, args: list[str], url: str) -> str:
    """Run one headless Chromium on ``url`` with extra ``args``; return its stdout."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, f"chromium failed on {url}:\n{result.stderr[-3000:]}"
    return result.stdout


class SubPathServer:
    """The built site under ``/course/`` on a free localhost port, in a background thread.

    ``requests`` lists ``(path, status)`` for every GET; ``report`` is the harness's JSON once it
    was POSTed to ``/__report`` (``reported`` is set then). ``/__harness.html`` is the harness page.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.requests: list[tuple[str, int]] = []
        self.report: Any = None
        self.reported = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

            def do_GET(self) -> None:
                status, body, kind = server._answer(urlsplit(self.path).path)
                with server._lock:
                    server.requests.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the harness closed a page's iframe while it was still loading

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                if urlsplit(self.path).path == "/__report":
                    server.report = json.loads(data)
                    server.reported.set()
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        if path == "/__harness.html":
            return 200, (HERE / "harness.html").read_bytes(), "text/html; charset=utf-8"
        if path == f"{PREFIX}{SELFTEST}":
            return 200, (HERE / "selftest.html").read_bytes(), "text/html; charset=utf-8"
        if not path.startswith(PREFIX):
            return 404, b"not under the site's sub-path", "text/plain"
        target = (self.root / unquote(path[len(PREFIX):])).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.root) or not target.is_file():
            return 404, b"not found", "text/plain"
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        return 200, target.read_bytes(), kind

    def url(self, relative: str) -> str:
        """Absolute URL of a file of the site, e.g. ``url("book/intro.html")``."""
        return f"{self.origin}{PREFIX}{relative}"

    def failed(self) -> list[tuple[str, int]]:
        """Requests that did not answer 200."""
        with self._lock:
            return [(path, status) for path, status in self.requests if status != 200]

    def __enter__(self) -> SubPathServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def serve(root: Path) -> Iterator[SubPathServer]:
    with SubPathServer(root) as server:
        yield server


def run_harness(chromium: str, server: SubPathServer, job: dict[str, Any], timeout: float = 300) -> Any:
    """Load the harness with ``job`` (pages, widths, search query) and return its JSON report.

    Chromium runs without virtual time (the harness itself waits for each page's load, images and
    MathJax) and is stopped as soon as the report arrives, or after ``timeout`` seconds.
    """
    from urllib.parse import quote

    url = f"{server.origin}/__harness.html#{quote(json.dumps(job))}"
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith(("--virtual-time", "--window-size"))]
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = subprocess.Popen(
            [chromium, *flags, "--window-size=1400,1000", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            arrived = server.reported.wait(timeout)
        finally:
            process.terminate()
            try:
                _, stderr = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _, stderr = process.communicate()
    assert arrived, f"the browser harness sent no report within {timeout} s:\n{stderr.decode()[-3000:]}"
    return server.report
