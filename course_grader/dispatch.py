"""Grading a class on a Dask cluster: one task per submission, the gradebook written here only.

A task is :func:`grade_job` of a :class:`Job`: the submission's bytes (the snapshot
:func:`course_grader.batch.snapshot` read before anything runs) and the assignment's spec, which
*names* the tasks and points (the checks themselves are the installed ``course_grader``). It
returns a :class:`course_grader.batch.Outcome` (plain data: scores, reports, the autograded
notebook's bytes). A grading machine therefore needs no shared file system, no course folder and
no database access — only the same ``course_grader`` and a working bubblewrap, which are checked
for every worker when the batch starts (:func:`check_environment`) and again by every task.

The process that runs ``course autograde`` records each outcome as it arrives
(:func:`course_grader.batch.record`), once per student: a task whose worker is killed runs again
elsewhere (the scheduler does that), and a duplicate result is ignored. If the scheduler goes
away the batch stops with :class:`ClusterError`; what was recorded stays, and ``--resume``
finishes the rest.

    dask scheduler                              # on one machine (port 8786)
    dask worker tcp://HOST:8786 --nthreads 1    # on each grading machine (--nworkers = its cores)
    course autograde ch04_conv --cluster tcp://HOST:8786
    course autograde ch04_conv --cluster local  # a LocalCluster on this machine
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "ClusterError",
    "DaskRunner",
    "EnvironmentMismatch",
    "Job",
    "check_environment",
    "code_fingerprint",
    "course_files",
    "environment",
    "grade_job",
]

CONNECT_TIMEOUT = 15.0  # seconds to reach a Dask scheduler
WORKERS_TIMEOUT = 60.0  # seconds to wait for the first worker to join


class ClusterError(RuntimeError):
    """The Dask scheduler cannot be reached, has no workers, or went away during the batch."""


class EnvironmentMismatch(RuntimeError):
    """A grading worker has a different ``course_grader`` (or no working bubblewrap)."""


# ---------------------------------------------------------------------------------------------
# What a grading machine must have: the same grader and reference, and bubblewrap
# ---------------------------------------------------------------------------------------------

@cache
def code_fingerprint() -> str:
    """SHA-256 over the source files of ``course_grader`` and ``course_lib`` (the checks and the
    reference answers): two machines grade alike when these agree."""
    import course_grader
    import course_lib

    h = hashlib.sha256()
    for pkg in (course_grader, course_lib):
        root = Path(pkg.__file__).resolve().parent
        for p in sorted(root.rglob("*.py")):
            if "__pycache__" not in p.parts:
                h.update(f"{pkg.__name__}/{p.relative_to(root).as_posix()}\0".encode() + p.read_bytes())
    return h.hexdigest()


def environment() -> dict[str, Any]:
    """What this machine grades with: code fingerprint, package version, Python, NumPy, and
    ``bwrap`` (None when bubblewrap works here, else why not)."""
    import numpy as np

    from course_grader import bwrap

    try:
        from importlib.metadata import version

        dist = version("course-lib")
    except Exception:
        dist = "unknown"
    return {"fingerprint": code_fingerprint(), "version": dist, "python": platform.python_version(),
            "numpy": np.__version__, "bwrap_problem": bwrap.problem(), "host": socket.gethostname()}


def check_environment(theirs: dict[str, Any], ours: dict[str, Any], where: str, need_bwrap: bool) -> None:
    """Raise :class:`EnvironmentMismatch` naming ``where`` when ``theirs`` would not grade as ``ours``."""
    problems = []
    if theirs.get("fingerprint") != ours.get("fingerprint"):
        problems.append(
            f"a different course_grader/course_lib (version {theirs.get('version')}, code "
            f"{str(theirs.get('fingerprint'))[:12]}; here: version {ours.get('version')}, code "
            f"{str(ours.get('fingerprint'))[:12]})")
    if ours.get("numpy") and theirs.get("numpy") != ours.get("numpy"):
        problems.append(f"NumPy {theirs.get('numpy')} (here {ours.get('numpy')})")
    if need_bwrap and theirs.get("bwrap_problem"):
        problems.append(f"no working bubblewrap ({theirs['bwrap_problem']})")
    if problems:
        raise EnvironmentMismatch(
            f"grading worker {where} (host {theirs.get('host')}) cannot grade this batch: it has "
            + "; ".join(problems)
            + ". Install the same course_grader on every grading machine (the same wheel or commit) "
            "and restart its `dask worker`.")


# ---------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One submission to grade: its snapshot (bytes), the assignment's spec, the expected grader."""

    assignment: str
    snapshot: Any  # course_grader.batch.Snapshot
    spec: Any  # course_grader.submission.AssignmentSpec
    sandboxed: bool
    fingerprint: str
    course_files: tuple[tuple[str, bytes], ...] = ()  # what the checks read from the course (solutions/*.py)

    @property
    def key(self) -> str:
        """The Dask key: the same bytes of the same student under the same spec are one task."""
        h = hashlib.sha256(f"{self.spec.digest()}:{self.sandboxed}".encode())
        for nb, item in sorted(self.snapshot.files.items()):
            h.update(nb.encode() + b"\0" + (item if isinstance(item, bytes) else repr(item).encode()))
        return f"grade-{self.assignment}-{self.snapshot.student}-{h.hexdigest()[:16]}"


_ONE_AT_A_TIME = threading.Lock()  # the checks redirect stdout and set warning filters: one per process


def grade_job(job: Job) -> Any:
    """Grade one snapshot on this machine (:func:`course_grader.batch.grade_snapshot`).

    Raises:
        EnvironmentMismatch: this machine's grader differs from the one the batch expects.
    """
    from course_grader import batch, course

    if job.fingerprint != code_fingerprint():
        check_environment(environment(), {"fingerprint": job.fingerprint, "version": "of the batch"},
                          socket.gethostname(), need_bwrap=False)
    with _ONE_AT_A_TIME, tempfile.TemporaryDirectory(prefix="course-job-") as tmp:
        # the course files some checks read (chapter 9's model solutions), in a course folder of
        # their own: the worker has no course directory
        (Path(tmp) / "nbgrader_config.py").write_text("# the course files a grading task needs\n")
        for rel, data in job.course_files:
            dest = Path(tmp, rel).resolve()
            if dest.is_relative_to(Path(tmp).resolve()):
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        with course.using(tmp):
            return batch.grade_snapshot(job.snapshot, job.assignment, job.spec, sandboxed=job.sandboxed)


COURSE_FILES = ("solutions/*.py",)  # course files the checks read at grading time


def course_files(course: Path) -> tuple[tuple[str, bytes], ...]:
    """The files of ``course`` a grading worker needs (:data:`COURSE_FILES`), relative path -> bytes."""
    return tuple((p.relative_to(course).as_posix(), p.read_bytes())
                 for pattern in COURSE_FILES for p in sorted(Path(course).glob(pattern)) if p.is_file())


# ---------------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------------

class DaskRunner:
    """Grade on a Dask cluster: ``tcp://HOST:8786`` (a running ``dask scheduler``) or ``local``
    (a ``LocalCluster`` of ``jobs`` single-threaded worker processes on this machine)."""

    def __init__(self, address: str, jobs: int | None = None):
        if not (address == "local" or address.startswith(("tcp://", "tls://", "ws://", "wss://"))):
            raise ClusterError(f"--cluster {address!r}: give the scheduler's address, tcp://HOST:8786, or `local`")
        self.address = address
        self.jobs = jobs
        self.client: Any = None
        self.cluster: Any = None
        self.workers = 0
        self.description = f"the Dask cluster at {address}"

    def connect(self, need_bwrap: bool) -> None:
        """Reach the scheduler, wait for a worker, check every worker's environment.

        Raises:
            ClusterError: no scheduler at the address, or no worker joined within a minute.
            EnvironmentMismatch: a worker would grade differently (or cannot sandbox).
        """
        from distributed import Client, LocalCluster

        try:
            if self.address == "local":
                n = self.jobs or len(os.sched_getaffinity(0))
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
                self.client = Client(self.cluster)
                self.description = "a local Dask cluster"
            else:
                self.client = Client(self.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            self.close()
            raise ClusterError(f"cannot reach the Dask scheduler at {self.address} ({e}): is `dask scheduler` "
                               "running there, and is its port open from this machine?") from None
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except (OSError, TimeoutError):
            self.close()
            raise ClusterError(f"the Dask scheduler at {self.address} has no workers (waited {WORKERS_TIMEOUT:g} s): "
                               f"start `dask worker {self.address} --nthreads 1` on each grading machine") from None
        ours = environment()
        envs = self.client.run(environment)
        for addr, env in sorted(envs.items()):
            check_environment(env, ours, addr, need_bwrap)
        self.workers = len(envs)
        self.description += f" ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def run(self, course: Path, assignment: str, students: Sequence[str], spec: Any, sandboxed: bool,
            done: Callable[[Any], None]) -> None:
        """Snapshot ``students`` here, grade them as tasks, hand each outcome to ``done`` once.

        Raises:
            ClusterError: the scheduler went away; the outcomes handed over so far stand.
        """
        from distributed import as_completed

        from course_grader import batch

        if self.client is None:
            self.connect(sandboxed)
        fingerprint = code_fingerprint()
        files = course_files(course)
        futures, owner = [], {}
        for s in students:
            job = Job(assignment, batch.snapshot(course, assignment, s, spec), spec, sandboxed, fingerprint, files)
            futures.append(self.client.submit(grade_job, job, key=job.key, pure=False, retries=0))
            owner[job.key] = s
        try:
            for fut in as_completed(futures):
                done(self._result(fut, owner[fut.key]))
                fut.release()
        except (OSError, TimeoutError, CancelledError) as e:
            raise ClusterError(self._lost(e)) from None

    def _result(self, fut: Any, student: str) -> Any:
        """The outcome of a finished future; a task that failed on the cluster (e.g. it killed
        every worker it ran on) is this student's failure, a lost scheduler is the batch's."""
        from course_grader import batch

        for attempt in range(3):
            if fut.status == "cancelled" or self.client.status not in ("running", "connecting"):
                raise ClusterError(self._lost(RuntimeError(f"task {fut.key} {fut.status}")))
            try:
                return fut.result()
            except (EnvironmentMismatch, CancelledError, OSError, TimeoutError):
                raise
            except Exception as e:
                if fut.status == "error":  # the task itself raised on a worker
                    return batch.Outcome(student, None, [f"grading {student} FAILED on the cluster: "
                                                         f"{type(e).__name__}: {e}"])
                if attempt == 2:  # the client could not fetch the result
                    raise ClusterError(self._lost(e)) from None
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def _lost(self, e: BaseException) -> str:
        return f"lost the Dask scheduler at {self.address} ({type(e).__name__}: {e})"

    def close(self) -> None:
        for obj in (self.client, self.cluster):
            if obj is not None:
                with contextlib.suppress(Exception):
                    obj.close()
        self.client = self.cluster = None
