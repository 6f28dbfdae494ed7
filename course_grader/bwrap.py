"""Bubblewrap around the process that runs a student's code: what it sees and what it may do.

Every line of a submission runs in :mod:`course_grader.sandbox_child`, started through ``bwrap``
(Debian package ``bubblewrap``) with

- a root file system holding **only** read-only binds of the Python environment (``sys.prefix``,
  ``sys.base_prefix``), the system libraries it links against (``/usr/lib``, ``/usr/lib64``) and the
  child script itself; the course directory, the gradebook, ``source/``, ``release/``, other
  submissions, reports, the repository and home directories are simply not there (any of them
  that lies inside a bound folder, e.g. a non-editable ``course_lib`` in ``site-packages``, is
  covered by an empty read-only tmpfs);
- a private, size-limited ``/tmp`` (the working directory and ``$HOME``), new PID, IPC, UTS,
  network and cgroup namespaces (no network at all, not even loopback), ``--die-with-parent``
  and ``--new-session``;
- an unprivileged user: as root, bwrap keeps only ``CAP_SETUID``/``CAP_SETGID`` and the child
  switches to an unprivileged uid/gid of its own (:func:`drop_to`: 1 000 000 + the grading
  process's pid, no account) before it reads anything, so ``RLIMIT_NPROC`` binds (in a user
  namespace bwrap maps uid 65534 to the caller's uid 0, for which the kernel ignores
  ``RLIMIT_NPROC``: measured, 100 of 100 forks with a limit of 20). The uid is per grading
  process because the kernel counts processes per uid: a fork bomb in one sandbox must not use up
  the processes of a sandbox grading another student at the same time (``--jobs``). As any other
  user, ``--unshare-user --uid 65534 --gid 65534`` (the count is then per user namespace).

:func:`problem` runs a probe once per process; :func:`require` raises :class:`SandboxUnavailable`
with what to do when bubblewrap cannot run here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["CHILD_PATH", "HOW_TO_FIX", "NOBODY", "UID_BASE", "SandboxUnavailable", "command", "drop_to", "problem",
           "require", "sandbox_uid"]

NOBODY = 65534
UID_BASE = 1_000_000  # as root, sandbox uids are UID_BASE + the grading process's pid
CHILD_PATH = "/grader/sandbox_child.py"  # where the child script is bound inside the sandbox
HOW_TO_FIX = (
    "install bubblewrap (`make sandbox-tools`, or `sudo apt-get install bubblewrap`) on a Linux "
    "machine whose kernel allows user namespaces (as non-root: `sysctl kernel.unprivileged_userns_clone=1`); "
    "or, for a class you trust, grade without it: `course autograde ASSIGNMENT --no-sandbox` "
    "(the students' code then runs with your permissions)"
)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox here; the message says how to fix it."""


def _real(p: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(p))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def python_roots() -> list[str]:
    """Folders the child's interpreter needs: the environment, the base installation, system libs."""
    roots = {_real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.add(str(Path(_real(sys.executable)).parent.parent))
    for lib in ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/lib32"):
        if os.path.isdir(lib) and not os.path.islink(lib):
            roots.add(_real(lib))
    # a folder inside another bound folder needs no bind of its own
    return sorted(r for r in roots if not any(o != r and _inside(r, o) for o in roots))


def _symlinks() -> list[str]:
    """``/lib -> usr/lib`` and friends (merged-/usr systems) recreated inside the sandbox."""
    out = []
    for link in ("/lib", "/lib64", "/lib32", "/bin"):
        if os.path.islink(link):
            out += ["--symlink", os.readlink(link), link]
    return out


def command(argv: Sequence[str], *, tmp_bytes: int, child_script: str, hidden: Sequence[str] = ()) -> list[str]:
    """The ``bwrap`` command line running ``argv`` (whose program is this interpreter).

    Args:
        argv: the command inside the sandbox; ``child_script`` is bound read-only at
            :data:`CHILD_PATH`, where ``argv`` must name it.
        tmp_bytes: size limit of the private ``/tmp`` (the only writable place).
        hidden: folders that must stay out of sight even when they lie inside a bound folder.

    Raises:
        SandboxUnavailable: no ``bwrap`` on ``PATH``.
    """
    exe = shutil.which("bwrap")
    if exe is None:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed: {HOW_TO_FIX}")
    roots = python_roots()
    cmd = [exe, "--die-with-parent", "--new-session", "--as-pid-1"]
    if os.geteuid() == 0:
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    # the private /tmp comes first: an environment that lives under /tmp (a CI checkout's .venv)
    # is then bound on top of it instead of being covered by it
    cmd += ["--perms", "1777", "--size", str(int(tmp_bytes)), "--tmpfs", "/tmp"]
    parents = sorted({str(a) for r in roots for a in Path(r).parents if str(a) not in ("/", "/tmp")}, key=len)
    for d in parents:  # bwrap would copy a parent's mode (/root is 0700: closed to the sandbox's user)
        cmd += ["--perms", "0755", "--dir", d]
    for r in roots:
        cmd += ["--ro-bind", r, r]
    if os.path.isfile("/etc/ld.so.cache"):
        cmd += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    cmd += _symlinks()
    for h in sorted({_real(h) for h in hidden}):
        if any(_inside(h, r) and h != r for r in roots) and os.path.isdir(h):
            cmd += ["--size", "4096", "--tmpfs", h, "--remount-ro", h]
    cmd += ["--ro-bind", _real(child_script), CHILD_PATH,
            "--proc", "/proc", "--dev", "/dev",
            "--chdir", "/tmp", "--"]
    return cmd + list(argv)


def drop_to() -> int | None:
    """The uid the child must switch to itself (as root), or None (bwrap's user namespace already
    made it 65534). One uid per grading process: the kernel counts ``RLIMIT_NPROC`` per uid, so
    sandboxes grading at the same time never share a process budget."""
    return UID_BASE + os.getpid() if os.geteuid() == 0 else None


def sandbox_uid() -> int:
    """The uid the student's code runs as, seen from inside the sandbox."""
    uid = drop_to()
    return NOBODY if uid is None else uid


_PROBE: list[str | None] = []


def problem() -> str | None:
    """None when bubblewrap can run a sandboxed Python here, else what went wrong and how to fix it.

    The probe (one short sandboxed ``python -I``) runs once per process.
    """
    if _PROBE:
        return _PROBE[0]
    from course_grader import sandbox_child

    uid = drop_to()
    code = ("import os, sys\n"
            f"if {uid!r} is not None:\n"
            f"    os.setgroups([]); os.setresgid({uid!r}, {uid!r}, {uid!r}); os.setresuid({uid!r}, {uid!r}, {uid!r})\n"
            "import numpy\nprint(os.getuid())\n")
    try:
        cmd = command([sys.executable, "-I", "-c", code], tmp_bytes=1 << 20, child_script=sandbox_child.__file__)
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
        if run.returncode != 0 or run.stdout.strip() != str(sandbox_uid()):
            why = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
            raise SandboxUnavailable(f"bubblewrap is installed but cannot create a sandbox here ({why}): {HOW_TO_FIX}")
        _PROBE.append(None)
    except SandboxUnavailable as e:
        _PROBE.append(str(e))
    except (OSError, subprocess.SubprocessError) as e:
        _PROBE.append(f"bubblewrap could not be started ({e}): {HOW_TO_FIX}")
    return _PROBE[0]


def require() -> None:
    """Raise :class:`SandboxUnavailable` (saying how to fix it) unless bubblewrap works here."""
    why = problem()
    if why:
        raise SandboxUnavailable(why)
