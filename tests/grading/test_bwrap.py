"""The OS boundary itself: code inside bubblewrap, with no audit hook to help, reaches nothing.

The script tests/grading/hostile/inside_bwrap.py runs in exactly the sandbox the grader builds
(:func:`course_grader.bwrap.command`, the same hidden folders and limits) and tries every attack
of the hostile-submission list directly; the host files are compared before and after.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from course_grader import bwrap, cli, sandbox

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "exercises" / "source" / "ch01_neuron" / "ch01_neuron.ipynb"


def _digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def course(tmp_path) -> Path:
    c = tmp_path / "course"
    (c / "source" / "ch01_neuron").mkdir(parents=True)
    shutil.copy2(SOURCE, c / "source" / "ch01_neuron")
    for s in ("ada", "eve"):
        (c / "submitted" / s / "ch01_neuron").mkdir(parents=True)
        shutil.copy2(SOURCE, c / "submitted" / s / "ch01_neuron")
    (c / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (c / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    (tmp_path / "second-checkout" / "source").mkdir(parents=True)  # another copy of the instructor's notebooks
    shutil.copy2(SOURCE, tmp_path / "second-checkout" / "source")
    return c


def test_code_inside_bubblewrap_reaches_nothing_without_the_audit_hook(course, tmp_path):
    import course_lib

    limits = sandbox.Limits()
    site = sysconfig.get_paths()["purelib"]
    lib = str(Path(course_lib.__file__).resolve().parent)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    args = {"gradebook": str(course / "gradebook.db"), "course": str(course),
            "source_nb": str(course / "source" / "ch01_neuron" / "ch01_neuron.ipynb"),
            "own_submission": str(course / "submitted" / "eve" / "ch01_neuron" / "ch01_neuron.ipynb"),
            "other_submission": str(course / "submitted" / "ada" / "ch01_neuron" / "ch01_neuron.ipynb"),
            "course_lib": lib, "site_packages": site, "port": listener.getsockname()[1],
            "processes": limits.processes, "file_bytes": limits.file_bytes}
    uid = bwrap.drop_to()
    cmd = bwrap.command([sys.executable, "-I", bwrap.CHILD_PATH, json.dumps(args), *([str(uid)] if uid is not None else [])],
                        tmp_bytes=limits.tmp_bytes, child_script=str(HERE / "hostile" / "inside_bwrap.py"),
                        hidden=[*sandbox.default_protected(course), str(Path.home())])
    before = _digest(tmp_path) | _digest(Path(lib)) | {site: str(sorted(p.name for p in Path(site).iterdir()))}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing connected to the host's loopback
    listener.close()

    assert got["uid"] == bwrap.sandbox_uid() != 0
    for attack in ("gradebook", "list_course", "write_source", "write_own_submission", "read_other_submission",
                   "write_course_lib", "write_site_packages_pth", "write_sitecustomize", "chmod_python",
                   "chmod_site_packages", "tcp_loopback"):
        assert got[attack].startswith("refused"), (attack, got[attack])
    assert got["home_is_private_tmp"] == "done: /tmp"  # ~/.ipython lands in the private /tmp, gone after the run
    assert got["search_disk"] == "done: ", "found a copy of the instructor's notebooks or a gradebook"
    assert "stopped after" in got["fork_bomb"] and int(got["fork_bomb"].split()[3]) < limits.processes, got["fork_bomb"]
    assert "stopped after" in got["fill_disk"] and int(got["fill_disk"].split()[3]) <= limits.tmp_bytes >> 20, got["fill_disk"]
    after = _digest(tmp_path) | _digest(Path(lib)) | {site: str(sorted(p.name for p in Path(site).iterdir()))}
    assert after == before, "a file outside the sandbox changed"


def test_autograde_refuses_without_bubblewrap_and_says_how_to_fix_it(monkeypatch, tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    monkeypatch.setattr(bwrap, "_PROBE", [])
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    assert cli.main(["autograde", "ch01_neuron", "--course", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "refusing to run students' code without a sandbox" in err
    assert "bubblewrap (`bwrap`) is not installed" in err and "make sandbox-tools" in err and "--no-sandbox" in err
    with pytest.raises(bwrap.SandboxUnavailable, match="apt-get install bubblewrap"):
        bwrap.require()


def test_each_grading_process_has_its_own_sandbox_uid():
    """The kernel counts RLIMIT_NPROC per uid: two processes grading at once (--jobs) must not share
    one budget, or a fork bomb in one sandbox would break the other student's checks."""
    other = subprocess.run([sys.executable, "-c", "from course_grader import bwrap; print(bwrap.sandbox_uid())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert bwrap.sandbox_uid() != 0
    if bwrap.drop_to() is not None:  # as root: uid per process (else a user namespace per sandbox)
        assert int(other) != bwrap.sandbox_uid()
