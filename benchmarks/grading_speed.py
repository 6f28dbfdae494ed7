"""Autograding speed: CPU and wall time per submission, and submissions per minute.

Two measurements, each in one run on a throw-away course:

``grading_speed.py [ASSIGNMENT] [--n 30] [--jobs N]`` (sandbox overhead): submits the solution
notebook under N student ids and times ``course autograde`` inside bubblewrap and with
``--no-sandbox`` in alternating rounds; prints wall and CPU seconds per submission for both and
what bubblewrap adds (target <= 0.3 s wall).

``grading_speed.py --honest [ASSIGNMENT ...|--all] [--n 100] [--workers 1 2]`` (throughput):
grades a class of N generated honest submissions per assignment (complete, buggy, partial, stub:
tests/grading/synthetic_class.py, built from the bug libraries in tests/grading/test_bugs_*.py
and the source notebooks) with ``course autograde --jobs W``, sandbox included, and prints the
mean CPU seconds per submission (this process and every child it waited for: the workers and
their sandboxes) against the target (<= 0.5 s for ch01-ch08, <= 5 s for ch09), wall seconds and
submissions per minute per W. ``--hostile`` adds the hostile submissions of
tests/grading/hostile/cases.py, timed and reported apart (they run into their time limits on
purpose). The machine's load average is printed alongside: other processes slow the wall figures.

Where the time goes (profiled with cProfile and os.times, the solution notebook graded in
process with ``sandbox.grade_notebook``, round trips counted at ``_Session._send``):

- Before issue 13 (nbgrader's kernel + the trusted pass): 1.40 s CPU per ch03 submission, most
  of it Jupyter kernel start-up (the kernel process, its imports of IPython/NumPy/course_lib,
  ZMQ) — removed with the kernel (the sandboxed run is the only run).
- Fixed costs per submission: sandbox start-up (bwrap + ``python -I`` + NumPy import in the
  child): ~0.14 s CPU, what a stub costs; notebook parsing and the static scan: < 0.02 s (ch09's
  long cells: ~0.1 s); reading the spec, writing the autograded notebook, report and gradebook
  rows: ~0.05 s in the parent. Importing NumPy/course_lib/course_grader in the grader happens
  once per worker (the pool's workers are forked after the imports; Dask workers import once).
- Numerical checks, before batching: the checks run in the trusted parent and called the
  student's functions in the sandbox through the pipe once per call (~0.35 ms of CPU over both
  processes: encoding, the pipe, decoding, in-place checks); a numerical gradient called the
  student's forward twice per input entry. A complete submission, quiet machine (load 0.4),
  round trips / parent CPU s / sandbox CPU s: ch01 1118 / 0.18 / 0.33, ch04 1136 / 0.30 / 0.48,
  ch05 3396 / 0.64 / 0.67, ch06 722 / 0.22 / 0.33, ch07 832 / 0.23 / 0.35, ch09 234 / 0.51 /
  0.69. The round trips were the largest per-submission cost (ch05: ~1.2 s of 1.3 s).
- After batching (``Student.numerical_gradient``: one request per numerical gradient, the child
  runs gradcheck's central differences next to the student's function): ch01 131 / 0.08 / 0.35,
  ch04 168 / 0.11 / 0.48, ch05 114 / 0.08 / 0.54, ch06 109 / 0.05 / 0.30, ch07 101 / 0.07 / 0.32,
  ch09 61 / 0.33 / 0.63 (same notebooks, load 7). What remains in the sandbox is its start-up
  and the student's own forward passes (ch05's naive pooling loops: ~3,300 calls, ~0.3 s);
  in the parent, the reference computations and the scan.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from course_grader import cli

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "exercises"
TARGET_CPU = {"ch09_architectures": 5.0}  # seconds of CPU per submission; 0.5 for the others


def _course(tmp: Path, assignment: str) -> Path:
    """A throw-away course with ``assignment`` released (its gradebook knows the cells)."""
    course = tmp / assignment
    course.mkdir()
    shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
    shutil.copytree(COURSE / "solutions", course / "solutions")  # chapter 9's checks read them
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["release", "--course", str(course), assignment]) == 0
    return course


def _machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every process, from ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _autograde(course: Path, assignment: str, jobs: int, n: int) -> tuple[float, float, float]:
    """(wall, CPU, machine CPU) seconds per submission of one ``course autograde`` over the class.

    The CPU counts this process and every child it waited for. A sandbox stopped by a time limit
    is killed with its process tree, and the CPU of processes nobody waited for is not counted
    there, so the third value is the whole machine's busy CPU seconds per submission over the
    same run (which includes whatever else the machine was doing).
    """
    for stale in ("autograded", "reports"):
        shutil.rmtree(course / stale, ignore_errors=True)
    c0, t0, m0 = os.times(), time.perf_counter(), _machine_cpu()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["autograde", assignment, "--course", str(course), "--quiet", "--jobs", str(jobs)])
    dt, c1 = time.perf_counter() - t0, os.times()
    machine = (_machine_cpu() - m0) / n
    return dt / n, (sum(c1[:4]) - sum(c0[:4])) / n, machine  # CPU: this process and every child it waited for


def honest(assignments: Sequence[str], n: int, workers: Sequence[int], hostile: bool) -> None:
    """Throughput on generated honest classes (and, apart, the hostile submissions)."""
    sys.path.insert(0, str(REPO / "tests" / "grading"))
    import synthetic_class

    load = os.getloadavg()[0]
    head = " ".join(f"{'W=' + str(w) + ' wall/sub':>13s} {'subs/min':>8s}" for w in workers)
    print(f"{'assignment':24s} {'n':>4s} {'CPU s/sub':>9s} {'target':>6s}  {head}  kinds (mean score)")
    with tempfile.TemporaryDirectory() as tmp:
        for a in assignments:
            course = _course(Path(tmp), a)
            kinds = synthetic_class.write_class(course, a, n)
            runs = {w: _autograde(course, a, w, n) for w in workers}
            _, rows = cli.gradebook_rows(course, [a])
            assert len(rows) == n, f"{len(rows)} of {n} graded"
            scores: dict[str, list[float]] = {}
            for r in rows:
                scores.setdefault(kinds[r["student"]], []).append(float(r["total"]))
            cpu = statistics.mean(c for _, c, _ in runs.values())
            target = TARGET_CPU.get(a, 0.5)
            cols = " ".join(f"{runs[w][0]:13.2f} {60 / runs[w][0]:8.0f}" for w in workers)
            mix = ", ".join(f"{k} {len(v)} ({statistics.mean(v):.1f})" for k, v in sorted(scores.items()))
            print(f"{a:24s} {n:4d} {cpu:9.3f} {target:6.1f}{' ' if cpu <= target else '!'} {cols}  {mix}", flush=True)
            shutil.rmtree(course)
        if hostile:
            sys.path.insert(0, str(REPO / "tests" / "grading" / "hostile"))
            import cases

            course = _course(Path(tmp), cases.ASSIGNMENT)
            for case in cases.CASES:
                case.write(course / "submitted" / case.name / cases.ASSIGNMENT)
            wall, cpu, machine = _autograde(course, cases.ASSIGNMENT, max(workers), len(cases.CASES))
            print(f"hostile ({cases.ASSIGNMENT}, reported apart): {len(cases.CASES)} submissions, {wall:.2f} s wall and "
                  f"{machine:.2f} s of the machine's CPU per submission at W={max(workers)} (bounded by "
                  f"their time limits; the CPU of waited-for processes alone, {cpu:.3f} s, misses the sandboxes "
                  "a limit stopped)")
    print(f"load average (1 min) at the start {load:.2f}, at the end {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", default="ch03_gradient_descent")
    p.add_argument("--n", type=int, default=30, help="number of submissions (default 30)")
    p.add_argument("--jobs", type=int, default=None, help="parallel grading workers (default: number of CPUs)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of both modes (default 2)")
    p.add_argument("--honest", nargs="*", metavar="ASSIGNMENT", help="throughput on generated honest classes of these assignments")
    p.add_argument("--all", action="store_true", help="with --honest: every assignment")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="with --honest: --jobs values to time (default 1 2)")
    p.add_argument("--hostile", action="store_true", help="with --honest: also the hostile submissions, reported apart")
    args = p.parse_args()
    if args.honest is not None:
        from course_grader import generate

        names = generate.available(COURSE) if args.all or not args.honest else args.honest
        honest(names, args.n, args.workers, args.hostile)
        return
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
