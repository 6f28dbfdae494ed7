#!/usr/bin/env python
"""Build the Jupyter Book into book/_build/html, offline, failing on any error or warning.

Usage (from anywhere; ``make book`` runs it with the project's venv):

    .venv/bin/python scripts/build_book.py            # incremental: cached cells are not re-run
    .venv/bin/python scripts/build_book.py --clean    # cold build: drop HTML and execution cache

What it guarantees:

* every code cell runs (jupyter-cache keeps results in book/_build/.jupyter_cache, so a rebuild
  only re-executes pages whose code changed; a change anywhere in course_lib empties the cache)
  and a failing cell fails the build;
* Sphinx warnings are errors (``-W --keep-going``: all warnings are listed, then the build fails);
* nothing is fetched from the network: MathJax is vendored in book/_static/mathjax (restored from
  the npm registry only if someone deleted it), widgets render as static figures;
* each chapter's executed notebook is offered in the page's download menu
  (book/_ext/notebook_download.py) and the script checks those .ipynb files exist.

Exit status: 0 on success, non-zero on failure. The last line printed names the HTML entry page.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = BOOK / "_build"
HTML = BUILD / "html"
CACHE = BUILD / ".jupyter_cache"  # must match execute.cache in _config.yml
MATHJAX = BOOK / "_static" / "mathjax"
MATHJAX_VERSION = "3.2.2"
# The vendored subset of the npm package (see book/_static/mathjax/README.md).
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")

# Run in every page's kernel first: NumPy's line width, the figures' smallest-text record.
KERNEL_STARTUP = BOOK / "_ext" / "kernel_startup.py"
# Kernel settings for every page: PNG figures at a dpi that is sharp on screen but keeps pages small.
KERNEL_CONFIG = f"""\
c = get_config()  # noqa: F821 (IPython injects it)
c.InlineBackend.figure_formats = {{"png"}}
c.InlineBackend.print_figure_kwargs = {{"bbox_inches": "tight", "dpi": 110}}
c.InteractiveShellApp.exec_files = [{str(KERNEL_STARTUP)!r}]
"""


def ensure_mathjax() -> None:
    """Make sure the vendored MathJax is present; restore it from npm if it was deleted."""
    if (MATHJAX / "tex-chtml.js").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            f"error: {MATHJAX / 'tex-chtml.js'} is missing and npm is not installed; "
            "restore book/_static/mathjax from git (git checkout -- book/_static/mathjax)."
        )
    print(f"Vendored MathJax missing: fetching mathjax@{MATHJAX_VERSION} with npm ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"], cwd=tmp, check=True
        )
        tarball = next(Path(tmp).glob("mathjax-*.tgz"))
        shutil.unpack_archive(tarball, tmp)
        es5 = Path(tmp) / "package" / "es5"
        for part in MATHJAX_PARTS:
            src, dst = es5 / part, MATHJAX / part
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", MATHJAX / "LICENSE")


def library_fingerprint() -> str:
    """Hash of everything a cached cell result depends on besides its own code.

    jupyter-cache keys a page on its code cells only, so after a change in ``course_lib`` a cached
    page would still show the old library's output (or hide a new failure). The pages execute
    ``course_lib`` and read files the book ships beside its pages (``book/``: data, includes) and
    the trained weights and measured results they display (``models/``, ``benchmarks/results/``);
    the grader (``course_grader/``, ``exercises/``) is not among them, so editing it never
    re-executes the book.
    """
    digest = hashlib.sha256(KERNEL_CONFIG.encode())
    digest.update(KERNEL_STARTUP.read_bytes())
    watched = [ROOT / "course_lib", ROOT / "models", ROOT / "benchmarks" / "results", ROOT / "book"]
    paths = sorted(p for root in watched if root.exists() for p in root.rglob("*")
                   if "_build" not in p.parts and "_static" not in p.parts)
    for path in paths:
        if path.is_file() and path.suffix in {".py", ".json", ".txt", ".csv", ".npz"}:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def invalidate_stale_cache() -> None:
    """Drop the execution cache when the library changed since it was filled."""
    stamp = BUILD / ".course_lib_fingerprint"
    current = library_fingerprint()
    if CACHE.exists() and (not stamp.is_file() or stamp.read_text() != current):
        print("course_lib changed since the last build: re-executing every page", flush=True)
        shutil.rmtree(CACHE)
        shutil.rmtree(BUILD / "jupyter_execute", ignore_errors=True)
    stamp.write_text(current)


def kernel_environment() -> dict[str, str]:
    """Environment for the build: our IPython kernel config, headless matplotlib, no telemetry."""
    ipython_dir = BUILD / ".ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
    env = dict(os.environ)
    env["IPYTHONDIR"] = str(ipython_dir)
    env["MPLBACKEND"] = "Agg"  # the kernel switches to inline itself; this covers helper processes
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences a debugger warning on stderr
    env.setdefault("PYTHONHASHSEED", "0")
    # Chapters import course_lib from the checkout even if the venv install is stale.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def jupyter_book_command(builder: str) -> list[str]:
    """The jupyter-book CLI of *this* interpreter (so `make book` uses the venv's one)."""
    return [
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build",
        str(ROOT),
        "--path-output",
        str(BOOK),
        "--builder",
        builder,
        "--warningiserror",
        "--keep-going",
        # Re-read every page: otherwise a page whose build failed with a warning is "up to date"
        # on the next run and the warning is never raised again. Cells stay cached, so it is cheap.
        "--all",
    ]


def check_notebooks() -> list[str]:
    """Every page built from a notebook must offer its .ipynb for download; return problems."""
    problems = []
    for executed in sorted((BUILD / "jupyter_execute" / "book").glob("*.ipynb")):
        offered = HTML / "_sources" / "book" / executed.name
        if not offered.is_file():
            problems.append(f"missing download notebook {offered.relative_to(ROOT)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clean", action="store_true", help="delete book/_build (HTML and execution cache) first"
    )
    parser.add_argument("--quiet", action="store_true", help="less Sphinx output")
    args = parser.parse_args(argv)

    try:
        import jupyter_book  # noqa: F401
    except ImportError:
        print(
            "error: jupyter-book is not installed in this interpreter; run `make book` "
            "(it installs the 'book' extra into .venv).",
            file=sys.stderr,
        )
        return 2

    if args.clean and BUILD.exists():
        print(f"Removing {BUILD.relative_to(ROOT)} for a cold build", flush=True)
        shutil.rmtree(BUILD)
    BUILD.mkdir(parents=True, exist_ok=True)
    ensure_mathjax()
    invalidate_stale_cache()

    cmd = jupyter_book_command("html")
    if args.quiet:
        cmd.append("-q")
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=kernel_environment(), check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        print(
            f"error: the book build failed (exit {result.returncode}) after {elapsed:.0f} s; "
            "see the Sphinx messages above (a failing cell's traceback is printed, and its "
            "log is under book/_build/html/reports/).",
            file=sys.stderr,
        )
        return result.returncode or 1

    index = HTML / "index.html"
    problems = [] if index.is_file() else [f"{index} was not written"]
    problems += check_notebooks()
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"Book built in {elapsed:.0f} s. Open {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
