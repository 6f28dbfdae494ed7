"""Autograding speed: seconds per submission for 30 submissions of one assignment.

Builds a throw-away course with one assignment (default ch03_gradient_descent), releases it,
submits the solution notebook under 30 student ids, and times ``course autograde`` over all of
them twice in the same run: inside bubblewrap (the default) and with ``--no-sandbox``, in
``--jobs`` parallel workers (default: the number of CPUs). Prints wall and CPU seconds per
submission for both and what bubblewrap adds (target <= 0.3 s wall). The machine's load average
is printed alongside: other processes slow the figures down.

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
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of both modes (default 2)")
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
        timings: dict[str, list[tuple[float, float]]] = {"bubblewrap": [], "no sandbox": []}
        for _ in range(args.rounds):  # alternating, so a change of the machine's load hits both
            for label, flag in (("bubblewrap", []), ("no sandbox", ["--no-sandbox"])):
                for stale in ("autograded", "reports"):
                    shutil.rmtree(course / stale, ignore_errors=True)
                c0, t0 = os.times(), time.perf_counter()
                assert cli.main(["autograde", a, "--course", str(course), "--quiet", *jobs, *flag]) == 0
                dt, c1 = time.perf_counter() - t0, os.times()
                cpu = sum(c1[:4]) - sum(c0[:4])  # this process and every child it waited for
                timings[label].append((dt / args.n, cpu / args.n))
        load_after = os.getloadavg()
        _, rows = cli.gradebook_rows(course)
        assert len(rows) == args.n
    print(f"release: {t_release:.1f} s")
    workers = args.jobs or cli.default_jobs(args.n)
    print(f"autograde: {args.n} submissions of {a} with {workers} worker(s) on {os.cpu_count()} CPUs (target <= 4 s each)")
    best = {label: min(runs) for label, runs in timings.items()}  # the least disturbed round
    for label, (wall, cpu) in best.items():
        print(f"  {label:10s}: {wall:.3f} s wall, {cpu:.3f} s CPU per submission (best of {args.rounds} rounds)")
    (w1, c1), (w0, c0) = best["bubblewrap"], best["no sandbox"]
    print(f"bubblewrap adds {w1 - w0:+.3f} s wall ({w1 / w0:.2f}x) and {c1 - c0:+.3f} s CPU per submission "
          "(target <= 0.3 s wall)")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")


if __name__ == "__main__":
    main()
