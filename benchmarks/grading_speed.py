"""Autograding speed: seconds per submission for 30 submissions of one assignment.

Builds a throw-away course with one assignment (default ch03_gradient_descent), releases it,
submits the solution notebook under 30 student ids, and times ``course autograde`` over all of
them: nbgrader (one kernel per submission; kernel start-up dominates) and the trusted pass, in
``--jobs`` parallel workers (default: the number of CPUs). Target: <= 4 s per submission on 2
cores. The machine's load average is printed alongside: other processes slow the figure down.

    .venv/bin/python benchmarks/grading_speed.py [ASSIGNMENT] [--n 30] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from course_grader import cli

COURSE = Path(__file__).resolve().parents[1] / "exercises"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", default="ch03_gradient_descent")
    p.add_argument("--n", type=int, default=30, help="number of submissions (default 30)")
    p.add_argument("--jobs", type=int, default=None, help="parallel grading workers (default: number of CPUs)")
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
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        assert cli.main(["autograde", a, "--course", str(course), "--quiet", *jobs]) == 0
        dt = time.perf_counter() - t0
        load_after = os.getloadavg()
        _, rows = cli.gradebook_rows(course)
        assert len(rows) == args.n
    print(f"release: {t_release:.1f} s")
    workers = args.jobs or cli.default_jobs(args.n)
    print(f"autograde: {args.n} submissions of {a} in {dt:.1f} s = {dt / args.n:.2f} s per submission "
          f"(target <= 4 s) with {workers} worker(s) on {os.cpu_count()} CPUs")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")


if __name__ == "__main__":
    main()
