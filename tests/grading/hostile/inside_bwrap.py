"""Run inside bubblewrap *without* the sandbox child's audit hook: what can code there reach?

Usage (bound at /grader/sandbox_child.py by the test): ``python -I SCRIPT JSON_ARGS [UID]``.
Prints one JSON object: for each attack, what happened (``"refused: ..."`` or ``"done: ..."``).
"""

import json
import os
import resource
import socket
import sys

args = json.loads(sys.argv[1])
if len(sys.argv) > 2:  # as root: become the unprivileged uid, as the real child does
    uid = int(sys.argv[2])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
resource.setrlimit(resource.RLIMIT_NPROC, (args["processes"], args["processes"]))
resource.setrlimit(resource.RLIMIT_FSIZE, (args["file_bytes"], args["file_bytes"]))
out = {"uid": os.getuid()}


def attempt(name, fn):
    try:
        out[name] = "done: " + str(fn())[:200]
    except BaseException as e:
        out[name] = f"refused: {type(e).__name__}: {e}"[:300]


def write(path, text="pwned"):
    with open(path, "w") as fh:
        fh.write(text)
    return path


def fork_bomb():
    pids = []
    try:
        for _ in range(1000):
            pid = os.fork()
            if pid == 0:
                import time

                time.sleep(3)
                os._exit(0)
            pids.append(pid)
    except OSError as e:
        return f"stopped after {len(pids)} forks ({e})"
    return f"{len(pids)} forks"


def fill_disk():
    n = 0
    try:
        for i in range(10_000):
            with open(f"/tmp/fill{i}", "wb") as fh:
                fh.write(b"x" * (1 << 20))
            n += 1
    except OSError as e:
        return f"stopped after {n} MB ({e.strerror})"
    return f"{n} MB written"


def search_disk():
    found = []
    for root, _, files in os.walk("/"):
        if root.startswith(("/proc", "/sys", "/dev")):
            continue
        # the instructor's notebooks anywhere; a gradebook outside the Python environment (nbgrader ships test ones)
        python = root.startswith((sys.prefix, sys.base_prefix))
        found += [os.path.join(root, f) for f in files if f == "ch01_neuron.ipynb" or (f == "gradebook.db" and not python)]
    return ",".join(found)


attempt("gradebook", lambda: open(args["gradebook"], "r+b").read(16))
attempt("list_course", lambda: os.listdir(args["course"]))
attempt("write_source", lambda: write(args["source_nb"]))
attempt("write_own_submission", lambda: write(args["own_submission"]))
attempt("read_other_submission", lambda: open(args["other_submission"]).read(100))
attempt("write_course_lib", lambda: write(os.path.join(args["course_lib"], "evil.py")))
attempt("write_site_packages_pth", lambda: write(os.path.join(args["site_packages"], "evil.pth"), "import os\n"))
attempt("write_sitecustomize", lambda: write(os.path.join(args["site_packages"], "sitecustomize.py")))
attempt("ipython_startup", lambda: (os.makedirs(os.path.expanduser("~/.ipython/profile_default/startup"), exist_ok=True),
                                    write(os.path.expanduser("~/.ipython/profile_default/startup/00-evil.py")))[1])
attempt("home_is_private_tmp", lambda: os.path.expanduser("~"))
attempt("chmod_python", lambda: os.chmod(sys.executable, 0o777))
attempt("chmod_site_packages", lambda: os.chmod(args["site_packages"], 0o777))
attempt("tcp_loopback", lambda: socket.create_connection(("127.0.0.1", args["port"]), timeout=2).sendall(b"pwned"))
attempt("search_disk", search_disk)
attempt("fork_bomb", fork_bomb)
attempt("fill_disk", fill_disk)
print(json.dumps(out))
