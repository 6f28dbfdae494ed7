"""The built book as a reader gets it from a static host: under a sub-path, at 1280 and 390 px.

The session's build (conftest.py) is served under ``/course/`` by a local HTTP server
(tests/book/browser.py), as GitHub Pages publishes a project site under ``/<repo>/``; anything
outside the sub-path is a 404. One headless Chromium launch runs tests/book/harness.html, which
opens every page of _toc.yml in iframes 1280 and 390 px wide, waits for images and MathJax, and
reports the measurements. The tests then check:

* **sub-path**: every request the browser made (CSS, JS, images, MathJax fonts, the search index)
  was answered 200; every same-site link of every page (navigation, downloads of the .md/.ipynb
  sources) resolves under ``/course/``; search finds pages; math is typeset (no raw ``\\(`` in the
  visible text);
* **layout at 1280 px**: no displayed equation, cell output or table is wider than its box
  (``scrollWidth <= clientWidth + 1``); failures list the page, the kind and the first characters;
* **phone, 390 px**: the page itself never scrolls sideways (boxes may scroll inside themselves);
* **figures**: no text in a figure is smaller than 9 px as displayed at 1280 px. The build's kernel
  (book/_ext/kernel_startup.py) writes each PNG's smallest drawn text, in PNG pixels, into the
  file; displayed size = that × displayed width / natural width;
* **publishing**: ``make publish-built`` (the step of ``make publish`` after ``make book``) commits
  exactly the built site plus ``.nojekyll`` to a ``gh-pages`` branch and pushes it, tested on a
  throw-away repository and bare remote in a temporary folder; the GitHub Pages workflow builds
  with ``make book`` and deploys ``book/_build/html``.

Conventions that keep these green are in book/AUTHORING.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml
from PIL import Image

from tests.book.browser import PREFIX, SELFTEST, SubPathServer, run_harness, toc_pages

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]

ROOT = Path(__file__).resolve().parents[2]
PAGES = toc_pages()
DESKTOP, PHONE = 1280, 390
MIN_FIGURE_TEXT_PX = 9.0
FONT_KEY = "book:min-text-px"  # written by book/_ext/kernel_startup.py
# Browsers ask the host's root for an icon on their own; a static host answers it or not.
IGNORED_REQUESTS = {"/favicon.ico"}

def page_id(docname: str) -> str:
    return Path(docname).name


@pytest.fixture(scope="module")
def site(built_book: Path, chromium: str) -> Iterator[tuple[SubPathServer, dict[str, Any]]]:
    """The served site and the harness's report (pages × widths, search), measured once."""
    with SubPathServer(built_book) as server:
        job = {
            "prefix": PREFIX,
            "pages": [f"{docname}.html" for docname in PAGES] + [SELFTEST],
            "widths": [DESKTOP, PHONE],
            "search": "convolution",
        }
        report = run_harness(chromium, server, job)
        yield server, report


def measured(report: dict[str, Any], docname: str, width: int) -> dict[str, Any]:
    [page] = [p for p in report["pages"] if p["page"] == f"{docname}.html" and p["width"] == width]
    assert "error" not in page, f"{docname} at {width} px: {page['error']}"
    return page


def test_harness_measured_every_page(site: tuple[SubPathServer, dict[str, Any]]) -> None:
    _, report = site
    assert report["error"] is None, report["error"]
    assert len(report["pages"]) == 2 * (len(PAGES) + 1)
    errors = [f"{p['page']} at {p['width']} px: {p['error']}" for p in report["pages"] if "error" in p]
    assert not errors, "\n".join(errors)


# ------------------------------------------------------------------------------------------------
# Served from a sub-path
# ------------------------------------------------------------------------------------------------

def test_every_browser_request_resolved_under_the_sub_path(
    site: tuple[SubPathServer, dict[str, Any]],
) -> None:
    server, _ = site
    seen = {path for path, _ in server.requests}
    assert any("/_static/mathjax/output/chtml/fonts/" in path for path in seen), "no MathJax font loaded"
    assert any(path.endswith("searchindex.js") for path in seen), "search index never loaded"
    failed = [f"{status} {path}" for path, status in server.failed() if path not in IGNORED_REQUESTS]
    assert not failed, "requests that failed when served under /course/:\n" + "\n".join(failed)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "link", "script", "img"):
                self.urls.append(a[key] or "")


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_same_site_links_resolve_under_the_sub_path(
    site: tuple[SubPathServer, dict[str, Any]], built_book: Path,
) -> None:
    """Navigation, downloads and assets of every page, followed over HTTP from the page's URL."""
    server, _ = site
    checked: dict[str, int] = {}
    broken = []
    for docname in [*PAGES, "search", "genindex"]:
        page_url = server.url(f"{docname}.html")
        parser = _Links()
        parser.feed((built_book / f"{docname}.html").read_text(encoding="utf-8"))
        for raw in parser.urls:
            target = urljoin(page_url, raw)
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or parts.netloc != urlsplit(page_url).netloc:
                continue
            url = target.split("#")[0]
            if not parts.path.startswith(PREFIX):
                broken.append(f"{docname}: {raw} leaves the site's sub-path ({parts.path})")
                continue
            if url not in checked:
                checked[url] = fetch_status(url)
            if checked[url] != 200:
                broken.append(f"{docname}: {raw} -> {checked[url]} {unquote(parts.path)}")
    assert len(checked) > 50, f"only {len(checked)} distinct links found: is the parser broken?"
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("docname", PAGES, ids=page_id)
def test_page_offers_its_sources_for_download(
    site: tuple[SubPathServer, dict[str, Any]], built_book: Path, docname: str,
) -> None:
    server, _ = site
    html = (built_book / f"{docname}.html").read_text(encoding="utf-8")
    offered = re.findall(r'href="([^"]*_sources/[^"]*\.(?:ipynb|md))"', html)
    kinds = {Path(url).suffix for url in offered}
    expected = {".md", ".ipynb"} if "kernelspec:" in (built_book.parents[2] / f"{docname}.md").read_text(
        encoding="utf-8") else {".md"}
    assert expected <= kinds, f"{docname}: download menu offers {sorted(kinds)}, expected {sorted(expected)}"
    for url in offered:
        absolute = urljoin(server.url(f"{docname}.html"), url)
        assert fetch_status(absolute) == 200, f"{docname}: download {url} does not resolve"


def test_search_finds_pages_under_the_sub_path(site: tuple[SubPathServer, dict[str, Any]]) -> None:
    _, report = site
    search = report["search"]
    assert search and search["summary"], f"the search page never finished: {search}"
    assert re.search(r"found [1-9]\d* page", search["summary"]), search["summary"]
    assert search["hits"] and all(hit.startswith(PREFIX) for hit in search["hits"]), search["hits"]
    assert f"{PREFIX}book/04_conv.html" in search["hits"]


@pytest.mark.parametrize("docname", PAGES, ids=page_id)
def test_math_is_typeset_under_the_sub_path(
    site: tuple[SubPathServer, dict[str, Any]], built_book: Path, docname: str,
) -> None:
    page = measured(site[1], docname, DESKTOP)
    assert page["text"] == [], f"{docname}: " + "; ".join(page["text"])
    if 'class="math' in (built_book / f"{docname}.html").read_text(encoding="utf-8"):
        assert page["mathCount"] > 0, f"{docname}: math not typeset when served under {PREFIX}"


# ------------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------------

def describe(items: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {item['kind']}: {item['scroll']:.0f} px in a {item['client']:.0f} px box: {item['text']!r}"
        for item in items
    )


@pytest.mark.parametrize("docname", PAGES, ids=page_id)
def test_nothing_overflows_the_column_at_1280px(
    site: tuple[SubPathServer, dict[str, Any]], docname: str,
) -> None:
    page = measured(site[1], docname, DESKTOP)
    assert page["scrollWidth"] <= DESKTOP, f"{docname}: the page scrolls sideways at 1280 px"
    # An element can be reported twice (an output box and its <pre>): list each text once.
    unique = list({(item["kind"], item["text"]): item for item in page["overflowing"]}.values())
    assert not unique, f"{docname} at 1280 px: {len(unique)} element(s) wider than their box:\n" + (
        describe(unique))


@pytest.mark.parametrize("docname", PAGES, ids=page_id)
def test_page_does_not_scroll_sideways_on_a_phone(
    site: tuple[SubPathServer, dict[str, Any]], docname: str,
) -> None:
    page = measured(site[1], docname, PHONE)
    offenders = "\n".join(
        f"  <{item['tag']}> reaches x = {item['right']} px: {item['text']!r}" for item in page["pastTheEdge"]
    )
    assert page["scrollWidth"] <= PHONE, (
        f"{docname} at 390 px: the page is {page['scrollWidth']} px wide; sticking out:\n{offenders}"
    )


def test_the_layout_checks_catch_a_page_that_breaks_every_rule(
    site: tuple[SubPathServer, dict[str, Any]],
) -> None:
    """tests/book/selftest.html, measured in the same run: each check must report its element."""
    wide = measured(site[1], SELFTEST.removesuffix(".html"), DESKTOP)
    found = {(item["kind"], item["text"].split()[0]) for item in wide["overflowing"]}
    assert {("equation", "WIDE-EQUATION"), ("output", "WIDE-OUTPUT"), ("table", "WIDE-TABLE")} <= found, found
    assert not any("short" in item["text"] for item in wide["overflowing"])
    assert any("raw math" in problem for problem in wide["text"]), wide["text"]
    phone = measured(site[1], SELFTEST.removesuffix(".html"), PHONE)
    assert phone["scrollWidth"] > PHONE
    assert any(item["text"].startswith("WIDE-BLOCK") for item in phone["pastTheEdge"]), phone["pastTheEdge"]
    # The boxes that scroll on their own (equation, output, table) are not blamed for the page.
    assert not any(item["text"].startswith("WIDE-OUTPUT") for item in phone["pastTheEdge"])


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------

def smallest_text_px(png: Path) -> float | None:
    """The smallest text drawn in this PNG, in its own pixels (None: a figure without text)."""
    with Image.open(png) as image:
        text = getattr(image, "text", {})
        assert FONT_KEY in text, (
            f"{png.name} has no {FONT_KEY!r} record: every figure must be drawn by matplotlib in the "
            "book build (book/_ext/kernel_startup.py records its text sizes)"
        )
        return float(text[FONT_KEY]) if text[FONT_KEY] else None


def test_the_build_kernel_records_the_smallest_drawn_text(tmp_path: Path) -> None:
    """book/_ext/kernel_startup.py, run as the build's kernel runs it, on figures of known text."""
    script = f"""
import runpy
runpy.run_path({str(ROOT / "book" / "_ext" / "kernel_startup.py")!r})
import numpy as np
from matplotlib.figure import Figure
assert np.get_printoptions()["linewidth"] == 76
fig = Figure(figsize=(3, 2))
ax = fig.add_subplot()
ax.set_title("title", fontsize=12)
ax.text(0.5, 0.5, "small", fontsize=6)
ax.text(0.5, 0.2, "hidden", fontsize=3, visible=False)
ax.text(0.5, 0.1, "", fontsize=2)
ax.tick_params(labelsize=9)
fig.savefig({str(tmp_path / "text.png")!r}, dpi=110, bbox_inches="tight")
fig.savefig({str(tmp_path / "text200.png")!r}, dpi=200)
empty = Figure(figsize=(2, 2))
empty.add_subplot().set_axis_off()
empty.savefig({str(tmp_path / "empty.png")!r}, dpi=110)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert smallest_text_px(tmp_path / "text.png") == pytest.approx(6 * 110 / 72, abs=0.01)
    assert smallest_text_px(tmp_path / "text200.png") == pytest.approx(6 * 200 / 72, abs=0.01)
    assert smallest_text_px(tmp_path / "empty.png") is None
    # A PNG written without the hook has no record, and the figure test says so.
    with Image.open(tmp_path / "text.png") as image:
        image.save(tmp_path / "plain.png")
    with pytest.raises(AssertionError, match="no 'book:min-text-px' record"):
        smallest_text_px(tmp_path / "plain.png")


@pytest.mark.parametrize("docname", PAGES, ids=page_id)
def test_figure_text_is_at_least_9px_at_1280px(
    site: tuple[SubPathServer, dict[str, Any]], built_book: Path, docname: str,
) -> None:
    page = measured(site[1], docname, DESKTOP)
    too_small = []
    for image in page["images"]:
        assert image["natural"] > 0, f"{docname}: {image['src']} did not load"
        png = built_book / unquote(image["src"])[len(PREFIX):]
        smallest = smallest_text_px(png)
        if smallest is None:
            continue
        shown = smallest * image["displayed"] / image["natural"]
        if shown < MIN_FIGURE_TEXT_PX:
            too_small.append(
                f"  {png.name}: smallest text {smallest:.1f} px in a {image['natural']} px wide PNG "
                f"shown {image['displayed']:.0f} px wide -> {shown:.1f} px"
            )
    assert not too_small, f"{docname}: figure text under {MIN_FIGURE_TEXT_PX:g} px:\n" + "\n".join(too_small)


# ------------------------------------------------------------------------------------------------
# Publishing: make publish (gh-pages branch) and the static-host workflow
# ------------------------------------------------------------------------------------------------

def _git(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def _publish(repo: Path, remote: Path, site: Path, push: bool) -> subprocess.CompletedProcess[str]:
    """`make publish-built` (what `make publish` runs after `make book`) on a throw-away repository:
    GIT_DIR points every git call (ghp-import's included) at ``repo``, never at the project's."""
    env = {
        **os.environ,
        "GIT_DIR": str(repo / ".git"),
        "GIT_WORK_TREE": str(repo),
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "publish-built", f"VENV={sys.prefix}", f"REMOTE={remote}",
         f"SITE={site}", f"PUSH={int(push)}"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )


def test_make_publish_commits_the_site_to_gh_pages_and_pushes_it(built_book: Path, tmp_path: Path) -> None:
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    _git("init", "-q", "--bare", str(remote))
    _git("init", "-q", str(repo))
    _git("-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.invalid",
         "commit", "-q", "--allow-empty", "-m", "project")

    for push in (True, True, False):
        result = _publish(repo, remote, built_book, push)
        assert result.returncode == 0, result.stdout + result.stderr

    def ls(git_dir: Path) -> set[str]:
        return set(_git("--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "gh-pages").split())

    site = {p.relative_to(built_book).as_posix() for p in built_book.rglob("*") if p.is_file()}
    published = ls(remote)
    assert published == site | {".nojekyll"}, (
        f"missing: {sorted(site - published)[:10]}, extra: {sorted(published - site - {'.nojekyll'})[:10]}")
    for name in ("book/intro.html", "_static/mathjax/tex-chtml.js", "searchindex.js"):
        shown = subprocess.run(["git", "--git-dir", str(remote), "show", f"gh-pages:{name}"],
                               capture_output=True, check=True).stdout
        assert shown == (built_book / name).read_bytes(), f"{name} differs on gh-pages"
    # Every publish is one commit on top of the last (history kept, pushed fast-forward); PUSH=0
    # commits locally only.
    assert _git("--git-dir", str(remote), "rev-list", "--count", "gh-pages").strip() == "2"
    assert _git("--git-dir", str(repo / ".git"), "rev-list", "--count", "gh-pages").strip() == "3"
    project_head = _git("--git-dir", str(repo / ".git"), "rev-parse", "--short", "HEAD").strip()
    assert f"built from {project_head}" in _git("--git-dir", str(remote), "log", "-1", "--format=%s", "gh-pages")


def test_make_publish_refuses_without_a_built_book(tmp_path: Path) -> None:
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    _git("init", "-q", "--bare", str(remote))
    _git("init", "-q", str(repo))
    result = _publish(repo, remote, tmp_path / "no-site", push=True)
    assert result.returncode != 0 and "run make book" in result.stderr
    assert _git("--git-dir", str(remote), "branch", "--list").strip() == ""


def test_pages_workflow_builds_with_make_book_and_deploys_the_html() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    build = workflow["jobs"]["build"]["steps"]
    assert {"run": "make book"} in build
    [upload] = [s for s in build if str(s.get("uses", "")).startswith("actions/upload-pages-artifact")]
    assert upload["with"]["path"] == "book/_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in deploy["steps"])
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
