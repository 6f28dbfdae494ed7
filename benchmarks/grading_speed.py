"""Autograding speed: seconds per submission for 30 submissions of one assignment.

Builds a throw-away course with one assignment (default ch03_gradient_descent), releases it,
submits the solution notebook under 30 student ids, and times ``course autograde`` over all of
them (nbgrader's API, one kernel per submission; kernel start-up dominates). Target: <= 4 s per
submission on 2 cores.

    .venv/bin/python benchmarks/grading_speed.py [ASSIGNMENT] [--n 30]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from course_lib import cli

COURSE = Path(__file__).resolve().parents[1] / "exercises"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", default="ch03_gradient_descent")
    p.add_argument("--n", type=int, default=30, help="number of submissions (default 30)")
    args = p.parse_args()
    a = args.assignment
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(COURSE / "source" / a, course / "source" / a)
        t0 = time.perf_counter()
        assert cli.main(["release", "--course", str(course), a]) == 0
        t_release = time.perf_counter() - t0
        for i in range(args.n):
            dest = course / "submitted" / f"student{i:03d}" / a
            dest.mkdir(parents=True)
            shutil.copy2(course / "source" / a / f"{a}.ipynb", dest / f"{a}.ipynb")
        t0 = time.perf_counter()
        assert cli.main(["autograde", a, "--course", str(course), "--quiet"]) == 0
        dt = time.perf_counter() - t0
        _, rows = cli.gradebook_rows(course)
        assert len(rows) == args.n
    print(f"release: {t_release:.1f} s")
    print(f"autograde: {args.n} submissions of {a} in {dt:.1f} s = {dt / args.n:.2f} s per submission (target <= 4 s)")


if __name__ == "__main__":
    main()
