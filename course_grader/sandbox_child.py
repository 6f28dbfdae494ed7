"""The untrusted side of :mod:`course_grader.sandbox`: runs a student's notebook code, serves calls.

Run as a *script* (``python -I _sandbox_child.py``), never imported by the student's code: the
package ``course_lib`` is not on this process's path, and importing it is blocked. The trusted
grader (the parent process) imports this file only for :func:`encode` / :func:`decode`, the wire
format both sides share.

Protocol (two pipes whose numbers come in ``argv``): frames of an 8-byte little-endian length and
a payload. A payload is a JSON header plus binary blobs (``np.save`` without pickle), so the parent
never unpickles anything this process sends. Messages are plain dicts (see :func:`_main`).

Nothing here is secret: the reference implementation and the expected values stay in the parent.
What this process guards is the machine (resource limits, an audit hook refusing subprocesses,
network, writes outside the sandbox folder, reads of the course files) and the grader's time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import sys
from typing import Any

_MAX_DEPTH = 12
_MAX_ITEMS = 200_000
_KINDS = "biufc?SU"  # plain numbers, booleans and fixed-width strings: never object arrays


# ---------------------------------------------------------------------------------------------
# Wire format (shared with the parent)
# ---------------------------------------------------------------------------------------------

class EncodeError(Exception):
    """A value that cannot cross the pipe (too deep, too many items)."""


def encode(obj: Any, handles: list[Any] | None = None) -> bytes:
    """``obj`` -> bytes. Objects that are not plain data become handles when ``handles`` is given.

    Plain data: None, bool, int, float, complex, str, bytes, tuple, list, dict, NumPy arrays of a
    non-object dtype and NumPy scalars, and the cache types of ``course_lib.validate`` (sent by
    value, so that the parent sees a cache changed in place; see :func:`trust_cache_types`).
    ``("__handle__", i)`` stands for ``handles[i]``.
    """
    import numpy as np

    blobs: list[bytes] = []
    count = [0]

    def enc(o: Any, depth: int) -> Any:
        count[0] += 1
        if depth > _MAX_DEPTH or count[0] > _MAX_ITEMS:
            raise EncodeError("value too deeply nested or too large")
        if o is None or isinstance(o, bool):
            return ["v", o]
        if type(o) is int:
            return ["v", o] if abs(o) < 2**62 else ["I", str(o)]
        if type(o) is float:
            return ["v", o]
        if type(o) is str:
            return ["v", o]
        if type(o) is complex:
            return ["c", o.real, o.imag]
        if type(o) is bytes:
            blobs.append(o)
            return ["B", len(blobs) - 1]
        if type(o) is np.ndarray and o.dtype.kind in _KINDS and o.dtype.names is None:
            blobs.append(o.tobytes(order="C"))
            return ["a", len(blobs) - 1, o.dtype.str, list(o.shape)]
        if isinstance(o, np.generic) and type(o).__module__ == "numpy" and o.dtype.kind in _KINDS:
            blobs.append(np.asarray(o).tobytes())
            return ["g", len(blobs) - 1, o.dtype.str, []]
        if type(o) is tuple:
            return ["t", [enc(x, depth + 1) for x in o]]
        name = _cache_name(o)
        if name is not None:  # tuple's own methods: a patched class runs no code here
            return ["n", name, [enc(tuple.__getitem__(o, i), depth + 1) for i in range(tuple.__len__(o))]]
        if type(o) is list:
            return ["l", [enc(x, depth + 1) for x in o]]
        if type(o) is dict:
            return ["d", [[enc(k, depth + 1), enc(v, depth + 1)] for k, v in o.items()]]
        if type(o) is Handle:
            return ["h", o.index, o.type_name]
        if handles is None:
            raise EncodeError(f"cannot send a {type(o).__name__}")
        handles.append(o)
        return ["h", len(handles) - 1, _tname(o)]

    tree = enc(obj, 0)
    head = json.dumps({"tree": tree, "sizes": [len(b) for b in blobs]}).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


#: The NamedTuple cache types of ``course_lib.validate`` by name, as this process had them before
#: any student code ran (the parent's own module; in the child, the one the parent sent).
_CACHE_TYPES: dict[str, type] = {}


def trust_cache_types() -> None:
    """Remember the cache types of this process's ``course_lib.validate`` (call it before any
    student code runs: the wire then recognises exactly these classes, by identity)."""
    validate = sys.modules.get("course_lib.validate")
    _CACHE_TYPES.clear()
    for name in getattr(validate, "__all__", ()):
        kind = getattr(validate, name, None)
        if isinstance(kind, type) and issubclass(kind, tuple) and "_fields" in vars(kind):
            _CACHE_TYPES[name] = kind


def _cache_name(o: Any) -> str | None:
    """The name of ``o``'s cache type if it is one of :data:`_CACHE_TYPES` (compared by identity:
    no hash or equality of a class the student may have made)."""
    t = type(o)
    for name, kind in _CACHE_TYPES.items():
        if t is kind:
            return name
    return None


class Handle:
    """An object that stays in the child (a cache of an unusual type); the parent holds its index."""

    __slots__ = ("index", "type_name")

    def __init__(self, index: int, type_name: str):
        self.index = int(index)
        self.type_name = str(type_name)

    def __repr__(self) -> str:
        return f"<{self.type_name} object (kept in the sandbox)>"


def decode(data: bytes, handles: list[Any] | None = None) -> Any:
    """Inverse of :func:`encode`. In the parent ``handles`` is None and handles stay :class:`Handle`."""
    import numpy as np

    if len(data) < 8:
        raise EncodeError("truncated message")
    (n,) = struct.unpack("<Q", data[:8])
    head = json.loads(data[8 : 8 + n].decode())
    blobs, pos = [], 8 + n
    for size in head["sizes"]:
        blobs.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        raise EncodeError("message length mismatch")

    def dec(t: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH + 1 or not isinstance(t, list) or not t:
            raise EncodeError("malformed message")
        tag = t[0]
        if tag == "v":
            return t[1]
        if tag == "I":
            return int(t[1])
        if tag == "c":
            return complex(t[1], t[2])
        if tag == "B":
            return bytes(blobs[t[1]])
        if tag in ("a", "g"):
            dtype = np.dtype(str(t[2]))
            if dtype.kind not in _KINDS or dtype.names is not None:
                raise EncodeError("unsupported array type")
            shape = tuple(int(n) for n in t[3])
            a = np.frombuffer(blobs[t[1]], dtype=dtype).reshape(shape).copy()
            return a[()] if tag == "g" else a
        if tag == "t":
            return tuple(dec(x, depth + 1) for x in t[1])
        if tag == "n":
            items = [dec(x, depth + 1) for x in t[2]]
            kind = _CACHE_TYPES.get(str(t[1]))
            if kind is None or len(items) != len(kind._fields):
                return tuple(items)  # the fields as a plain tuple, which every backward pass accepts
            return tuple.__new__(kind, items)
        if tag == "l":
            return [dec(x, depth + 1) for x in t[1]]
        if tag == "d":
            return {dec(k, depth + 1): dec(v, depth + 1) for k, v in t[1]}
        if tag == "h":
            if handles is None:
                return Handle(t[1], t[2])
            return handles[int(t[1])]
        raise EncodeError(f"unknown tag {tag!r}")

    return dec(head["tree"], 0)


def write_frame(fd: int, payload: bytes) -> None:
    data = struct.pack("<Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int) -> bytes:
    (n,) = struct.unpack("<Q", _read_exact(fd, 8))
    return _read_exact(fd, n)


# ---------------------------------------------------------------------------------------------
# The child process
# ---------------------------------------------------------------------------------------------

class _Bounded(io.TextIOBase):
    """A stdout/stderr keeping the first ``limit`` characters and counting the rest."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        s = str(s)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... output truncated ({self.dropped} more characters)"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


_VIOLATIONS: list[str] = []  # what the import blocker refused (tampering it only hides messages)


def _tname(obj: Any) -> str:
    """The class name of ``obj`` without running a metaclass's code."""
    return str(type.__dict__["__name__"].__get__(type(obj), type))[:60]


class _Guard:
    """Switches between the grader's own code ("internal": nothing refused) and the student's.

    The switch lives in closures held only by ``_main``'s frame; the audit hook refuses every way
    to reach a frame (``sys._getframe``, ``tb_frame``, ``gi_frame``), ``gc`` introspection and
    ``ctypes``. While internal, signals are blocked (no student handler runs in grader code),
    the cyclic garbage collector is off (no student ``__del__`` runs either), and only the main
    thread counts as internal (a student thread started earlier stays refused).
    """

    __slots__ = ("enter", "leave", "take")


def _install_audit_hook(protected: list[str], sandbox_dir: str) -> _Guard:
    """Refuse what grading never needs: processes, network, foreign files, escaping the call stack.

    PEP 578 hooks are not a sandbox against a determined attacker; see exercises/SECURITY.md.
    """
    import builtins
    import gc
    import signal
    import threading

    state = {"internal": True, "violations": []}
    builtins_dict = builtins.__dict__
    safe_builtins = dict(builtins_dict)
    main_thread = threading.get_ident()
    all_signals = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
    protected = [os.path.realpath(p) + os.sep for p in protected]
    sandbox = os.path.realpath(sandbox_dir) + os.sep
    mypid = str(os.getpid())
    deny_always = {
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.kill",
        "os.killpg", "signal.pthread_kill", "socket.connect", "socket.bind", "socket.sendto",
        "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle",
        "ctypes.cdata", "ctypes.call_function", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "sys.setprofile", "sys.settrace", "sys._getframe", "sys._current_frames",
        "object.__getattr__", "os.fork", "os.forkpty", "pty.spawn", "webbrowser.open",
    }
    writes = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.symlink", "os.link",
              "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move",
              "shutil.copyfile", "os.removexattr", "os.setxattr"}

    def inside(path: str, root: str) -> bool:
        return (path + os.sep).startswith(root)

    def real(p: Any) -> str | None:
        if type(p) not in (str, bytes):
            return None
        try:
            return os.path.realpath(os.fsdecode(p))
        except Exception:
            return None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if state["internal"] and threading.get_ident() == main_thread:
            return
        reason = None
        if event == "object.__getattr__" and not (len(args) > 1 and str(args[1]).endswith(("_frame", "f_back"))):
            return  # e.g. reading a function's __code__ (dataclasses, numpy): harmless
        if event in deny_always:
            reason = {
                "object.__getattr__": f"looking into the call stack ({args[1] if len(args) > 1 else ''})",
                "sys._getframe": "looking into the call stack",
            }.get(event, f"`{event}`")
        elif event == "open" and args:
            path = real(args[0])
            mode = args[1] if len(args) > 1 and type(args[1]) is str else "r"
            flags = args[2] if len(args) > 2 and type(args[2]) is int else 0
            if path is not None:
                if any(inside(path, p) for p in protected):
                    reason = f"reading or writing {path} (a course file)"
                elif path.startswith("/proc/") and not path.startswith(("/proc/self/", f"/proc/{mypid}/")):
                    reason = f"opening {path} (another process)"
                elif (any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) and not inside(path, sandbox):
                    reason = f"writing {path} (outside the grading folder)"
        elif event in writes and args:
            for p in args[:2]:
                path = real(p)
                if path is not None and not inside(path, sandbox):
                    reason = f"`{event}` on {path} (outside the grading folder)"
                    break
        elif event == "import" and args and str(args[0]).split(".")[0] in ("ctypes", "_ctypes", "cffi"):
            reason = f"importing {args[0]}"
        if reason:
            if event == "sys._getframe":
                # typing/namedtuple/enum call sys._getframe for a module name and fall back on
                # ValueError: refused quietly (the static scan reports a student's own use)
                raise ValueError(f"not allowed while grading: {reason}")
            state["violations"].append(reason)
            raise PermissionError(f"not allowed while grading: {reason}")

    def enter() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, all_signals)
        gc.disable()
        state["internal"] = True
        # the grader's code in this process must not run the student's patched builtins
        builtins_dict.update(safe_builtins)

    def leave() -> None:
        state["internal"] = False
        gc.enable()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, all_signals)

    def take() -> list[str]:
        out = [str(v) for v in state["violations"]] + [str(v) for v in _VIOLATIONS]
        state["violations"].clear()
        _VIOLATIONS.clear()
        return out

    sys.addaudithook(hook)
    guard = _Guard()
    guard.enter, guard.leave, guard.take = enter, leave, take
    enter()
    return guard


def _install_import_blocker() -> None:
    """Neither ``course_lib`` nor ``course_grader`` is importable here: ``from course_grader import
    grading`` gets an inert stub, ``course_lib.validate`` (input checks and cache types, no graded
    answer) is the module the parent sends, and any other module of either package (the reference
    implementation, the grader) raises ImportError."""
    import importlib.abc
    import importlib.machinery
    import types

    lib = types.ModuleType("course_lib")
    lib.__path__ = []  # type: ignore[attr-defined]
    grader = types.ModuleType("course_grader")
    grader.__path__ = []  # type: ignore[attr-defined]
    stub = types.ModuleType("course_grader.grading")

    def grade(*args: Any, **kwargs: Any) -> None:
        return None

    stub.grade = grade  # type: ignore[attr-defined]
    grader.grading = stub  # type: ignore[attr-defined]
    sys.modules["course_lib"] = lib
    sys.modules["course_grader"] = grader
    sys.modules["course_grader.grading"] = stub
    allowed = {"course_lib", "course_lib.validate", "course_grader", "course_grader.grading"}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
            if name.split(".")[0] in ("course_lib", "course_grader") and name not in allowed:
                _VIOLATIONS.append(f"importing {name} (the reference implementation or the grader)")
                raise ImportError(
                    f"importing {name} is not allowed while grading: it is the reference "
                    "implementation (or the grader). Write the function yourself."
                )
            return None

    sys.meta_path.insert(0, Blocker())


def _limits(cfg: dict[str, Any]) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file-size limit fails instead
    for name, value in (("RLIMIT_AS", cfg["memory_mb"] * 2**20), ("RLIMIT_CPU", int(cfg["cpu_seconds"])),
                        ("RLIMIT_FSIZE", cfg["file_bytes"]), ("RLIMIT_CORE", 0),
                        *((("RLIMIT_NPROC", cfg["processes"]),) if cfg.get("processes") else ())):
        lim = getattr(resource, name, None)
        if lim is None:
            continue
        try:
            # hard = soft: the student's code cannot raise its own limits back
            resource.setrlimit(lim, (value, value))
        except (ValueError, OSError):
            pass


def _where(tb: Any) -> str:
    """Where in the student's cells an exception arose (called in grader mode: frames allowed)."""
    import traceback

    try:
        frames = traceback.extract_tb(tb)
    except BaseException:
        return ""
    for fr in reversed(frames):
        if str(fr.filename).startswith("<cell"):
            line = str(fr.line or "").strip()[:200]
            return f"in {fr.name}" + (f", at: {line}" if line else "") + f" ({str(fr.filename)[1:-1]}, line {fr.lineno})"
    return ""


def _deliberate(tb: Any) -> bool:
    """Whether the exception comes from a ``raise`` statement outside NumPy (see
    course_grader.engine: an accidental ValueError from NumPy is not a size check)."""
    import os
    import traceback

    import numpy

    try:
        frames = traceback.extract_tb(tb)
    except BaseException:
        return True
    if not frames:
        return True
    last = frames[-1]
    if os.path.abspath(str(last.filename)).startswith(os.path.dirname(numpy.__file__)):
        return False
    line = str(last.line or "").lstrip()
    return not line or line.startswith("raise")


def _exc_info(e: BaseException, guard: _Guard) -> dict[str, Any]:
    cls = type(e)
    guard.leave()  # str(e) may run the student's __str__: in student mode
    try:
        message = str(e)[:2000]
    except BaseException:
        message = "(the exception's message could not be shown)"
    finally:
        guard.enter()
    return {
        "type": _tname(e),
        "message": message,
        "where": _where(e.__traceback__),
        "deliberate": _deliberate(e.__traceback__),
        "not_implemented": issubclass(cls, NotImplementedError),
        "runtime_warning": issubclass(cls, RuntimeWarning),
        "memory": issubclass(cls, MemoryError),
    }


def _describe_names(ns: dict[str, Any], guard: _Guard) -> dict[str, Any]:
    """The notebook's top-level names: which are callable, and their parameters (student mode)."""
    import inspect

    names: dict[str, Any] = {}
    for k, v in list(ns.items()):
        if type(k) is not str or k.startswith("__"):
            continue
        guard.leave()
        try:
            info: dict[str, Any] = {"callable": bool(callable(v)), "type": ""}
            try:
                sig = inspect.signature(v)
                info["params"] = [[str(p.name), int(p.kind), p.default is not p.empty] for p in sig.parameters.values()]
            except BaseException:
                info["params"] = None
        except BaseException:
            info = {"callable": False, "params": None}
        finally:
            guard.enter()
        info["type"] = _tname(v)
        names[k] = info
    return names


# ---------------------------------------------------------------------------------------------
# A numerical gradient of the student's function, computed here in one round trip
# ---------------------------------------------------------------------------------------------

class _Fallback(Exception):
    """Something unusual happened: the parent computes this gradient call by call instead, which
    reports the problem exactly as it always has (an exception, a result of another kind, an
    argument changed in place, a result too large to send)."""


def _copy_plain(o: Any) -> Any:
    """A fresh copy of plain data (as decoded from the parent): arrays copied, containers rebuilt."""
    import numpy as np

    t = type(o)
    if t is np.ndarray:
        return o.copy()
    if t is tuple:
        return tuple(_copy_plain(x) for x in o)
    if t is list:
        return [_copy_plain(x) for x in o]
    if t is dict:
        return {k: _copy_plain(v) for k, v in o.items()}
    return o


def _same_plain(a: Any, b: Any) -> bool:
    """Whether ``b`` (an argument after the student's call) still equals ``a`` (what was passed),
    bit for bit; type checks first, so that no code of the student's runs here."""
    import numpy as np

    t = type(a)
    if type(b) is not t:
        return False
    if t is np.ndarray:
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if t in (tuple, list):
        return len(a) == len(b) and all(_same_plain(x, y) for x, y in zip(a, b))
    if t is dict:
        return len(a) == len(b) and all(k in b and _same_plain(v, b[k]) for k, v in a.items())
    if t is float and a != a:
        return b != b
    return t in (type(None), bool, int, float, complex, str, bytes) and a == b


def _reply_size(o: Any, depth: int, count: list[int]) -> int:
    """What :func:`encode` would meet sending ``o``: counts its items in ``count`` (raising
    :class:`EncodeError` past its limits, as it would) and returns the bytes of its arrays."""
    import numpy as np

    count[0] += 1
    if depth > _MAX_DEPTH or count[0] > _MAX_ITEMS:
        raise EncodeError("value too deeply nested or too large")
    t = type(o)
    if t is np.ndarray:
        return int(o.nbytes)
    if t is bytes or t is str:
        return len(o)
    if t in (tuple, list):
        return sum(_reply_size(x, depth + 1, count) for x in o)
    if t is dict:
        return sum(_reply_size(k, depth + 1, count) + _reply_size(v, depth + 1, count) for k, v in o.items())
    return 8


def _plain(o: Any, depth: int = 0) -> bool:
    """Plain data all the way down (dropping it runs no code of the student's)."""
    import numpy as np

    t = type(o)
    if t in (type(None), bool, int, float, complex, str, bytes):
        return True
    if t is np.ndarray:
        return o.dtype.kind in _KINDS
    if depth > _MAX_DEPTH:
        return False
    if t in (tuple, list):
        return all(_plain(x, depth + 1) for x in o)
    if t is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in o.items())
    return isinstance(o, np.generic) and t.__module__ == "numpy"


def _numgrad(msg: dict[str, Any], f: Any, fd: dict[str, Any], guard: _Guard, keep: list[Any],
             out: _Bounded) -> Any:
    """The central-difference gradient of the value ``f(*args, **kwargs)[0]`` with respect to the
    array at ``msg["at"]``: ``Σ value·dout`` when ``msg["dout"]`` is an array, else the value
    itself (a number). Every evaluation gets fresh copies of the arguments, exactly what the
    parent sends when it calls ``f`` once per perturbed entry, and the loop is
    ``course_lib.finite_differences`` (the parent's own). Raises :class:`_Fallback` (or what
    the student's code raised) when anything differs from an ordinary call; returns the
    gradient, and the student's output (its last characters, as the parent would keep them).
    """
    import numpy as np

    args, kwargs, at = msg["args"], msg["kwargs"], msg["at"]
    dout, h, pair, unchanged_skip = msg["dout"], msg["h"], bool(msg["pair"]), msg["keep"]
    if type(args) is not list or type(kwargs) is not dict or type(at) is not list or not at or type(h) is not float:
        raise _Fallback("malformed request")
    if f is None or (dout is not None and (type(dout) is not np.ndarray or dout.dtype != np.float64)):
        raise _Fallback("malformed request")
    x: Any = kwargs if type(at[0]) is str else args
    for step in at:
        if type(x) is dict and type(step) is str and step in x:
            x = x[step]
        elif type(x) in (list, tuple) and type(step) is int and 0 <= step < len(x):
            x = x[step]
        else:
            raise _Fallback("no such argument")
    if type(x) is not np.ndarray or x.dtype != np.float64:
        raise _Fallback("the perturbed argument is not a float64 array")
    limit = int(msg["message_bytes"]) // 2
    state = {"tail": ""}

    def probe() -> Any:
        a, k = _copy_plain(args), _copy_plain(kwargs)
        guard.leave()
        try:
            r = f(*a, **k)
        finally:
            guard.enter()
        if not _plain(r) or not _plain(a) or not _plain(k):
            keep.append((r, a, k))
        state["tail"] = (state["tail"] + out.take())[-out.limit:]
        # what the parent's check of a call would see: inputs unchanged, a reply it accepts
        for i, (before, after) in enumerate(zip(args, a)):
            if i not in unchanged_skip and not _same_plain(before, after):
                raise _Fallback("an argument changed in place")
        for key, before in kwargs.items():
            if key not in unchanged_skip and not _same_plain(before, k[key]):
                raise _Fallback("an argument changed in place")
        if _reply_size({"ev": "result", "result": r, "error": None, "args": a, "kwargs": k,
                        "violations": [], "output": ""}, 0, [0]) > limit:
            raise _Fallback("a large result")
        if type(r) not in (tuple, list) or not r or (pair and len(r) != 2):
            raise _Fallback("not a pair")
        value = r[0]
        if dout is None:  # a number: float(np.asarray(value, float64).reshape(()))
            if type(value) in (float, int):
                return float(value)
            if type(value) is np.float64:
                return float(value)
            if type(value) is np.ndarray and value.dtype.kind in "biuf" and value.size == 1:
                return float(value.astype("f8").reshape(()))
            raise _Fallback("not a number")
        if type(value) is not np.ndarray or value.dtype.kind not in "biuf" or value.shape != dout.shape:
            raise _Fallback("not an array of the upstream gradient's shape")
        return value.astype("f8")

    if dout is None:
        grad = fd["central_differences"](x, h, probe, lambda fp, fm: fp - fm)
    else:
        grad = fd["central_differences"](x, h, probe, lambda pos, neg: fd["weighted_difference"](pos, neg, dout))
    return grad, state["tail"]


def _numgrad_forked(msg: dict[str, Any], ns: dict[str, Any], fd: dict[str, Any] | None, guard: _Guard,
                    keep: list[Any], out: _Bounded, wfd: int) -> None:
    """Answer a ``numgrad`` request from a fork of this server.

    The fork computes the gradient. When every evaluation went like an ordinary call it sends
    the gradient and carries on as the server (this process waits for it and exits with it): the
    student's code then stands where the same calls made one at a time would have left it.
    Otherwise it exits and this process, untouched by the attempt (its state, its output, what
    was refused), answers None: the parent makes the calls one at a time, and the student's code
    meets them exactly as it would have without the attempt.
    """
    r_ok, w_ok = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r_ok)
        try:
            if fd is None:
                raise _Fallback("the grader sent no finite-difference loop")
            grad, output = _numgrad(msg, ns.get(msg["name"]), fd, guard, keep, out)
        except BaseException:  # a fallback, what the student's code raised, a warning of NumPy's
            os._exit(0)
        os.write(w_ok, b"1")
        os.close(w_ok)
        write_frame(wfd, encode({"ev": "numgrad", "grad": grad, "output": output, "violations": guard.take()}))
        return
    os.close(w_ok)
    took_over = os.read(r_ok, 1) == b"1"  # b"" when the fork exited (or died) without the gradient
    os.close(r_ok)
    _, status = os.waitpid(pid, 0)
    if took_over:
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    write_frame(wfd, encode({"ev": "numgrad", "grad": None, "output": "", "violations": []}))


def _drop_privileges(uid: int) -> None:
    """Become ``uid`` (unprivileged) for good before anything is read: no capability survives, and
    ``RLIMIT_NPROC`` binds (it does not for uid 0). Exits when the switch fails."""
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError:
        os._exit(5)
    if os.getuid() != uid or os.geteuid() != uid:
        os._exit(5)


def _main() -> None:
    rfd, wfd = int(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3:
        _drop_privileges(int(sys.argv[3]))
    cfg = decode(read_frame(rfd))
    import select
    import warnings

    wait_readable = select.select  # taken before any student code runs (which may patch select)
    lifeline = cfg.get("lifeline") if type(cfg.get("lifeline")) is int else None

    import numpy as np

    out = _Bounded(cfg["output_chars"])
    sys.stdout = sys.stderr = out
    _install_import_blocker()
    for name, source in cfg.get("helpers", []):
        # trusted module text from the parent: course_lib.validate (input checks, cache types)
        mod = type(sys)(name)
        mod.__file__ = f"<{name} (sent by the grader)>"
        sys.modules[name] = mod
        setattr(sys.modules[name.rpartition(".")[0]], name.rpartition(".")[2], mod)
        try:
            exec(compile(source, mod.__file__, "exec"), mod.__dict__)
        except Exception:
            pass
    private: dict[str, dict[str, Any]] = {}
    for name, source in cfg.get("private", []):
        # trusted module text kept out of sys.modules (the student's code cannot import it):
        # course_lib.finite_differences, the loop of a numerical gradient (see _numgrad)
        private[name] = {"__name__": name}
        exec(compile(source, f"<{name} (sent by the grader)>", "exec"), private[name])
    trust_cache_types()
    _VIOLATIONS.clear()  # the stubs' own refused imports are not the student's doing
    _limits(cfg)
    os.chdir(cfg["sandbox"])
    guard = _install_audit_hook(cfg["protected"], cfg["sandbox"])
    keep: list[Any] = []  # everything the student's code touched lives until os._exit (no __del__)

    def send(msg: dict[str, Any], handles: list[Any] | None = None) -> None:
        write_frame(wfd, encode(msg, handles))

    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    # the student's code must not reach this script's globals through sys.modules["__main__"]
    sys.modules["__main__"] = type(sys)("__main__")
    flags = __import__("__future__").annotations.compiler_flag
    for index, source in cfg["cells"]:
        send({"ev": "cell", "index": index})
        error = None
        try:
            code = compile(source, f"<cell {index}>", "exec", flags=flags, dont_inherit=True)
            guard.leave()
            exec(code, ns)
        except BaseException as e:  # the student's cell failed: record and go on like a notebook
            guard.enter()
            keep.append(e)
            error = _exc_info(e, guard)
        guard.enter()
        send({"ev": "cell_done", "index": index, "error": error, "output": out.take(),
              "violations": guard.take()})

    send({"ev": "ready", "names": _describe_names(ns, guard)})

    while True:  # the zygote: one forked server per sub-check
        try:
            msg = decode(read_frame(rfd))
        except EOFError:
            os._exit(0)
        if msg.get("cmd") != "fork":
            os._exit(3)
        pid = os.fork()
        if pid == 0:
            _serve(rfd, wfd, ns, out, np, warnings, guard, keep, msg.get("given"),
                   private.get("course_lib.finite_differences"))
        send({"ev": "ended", "status": _wait_for(pid, lifeline, wait_readable)})


def _wait_for(pid: int, lifeline: int | None, wait_readable: Any) -> int:
    """``os.waitpid(pid)``'s status, but when the grader is gone (killed, or its Dask worker lost:
    its end of the lifeline pipe closes) exit at once. This process is the sandbox's PID
    namespace's init: its exit ends every process in the sandbox, the student's loop included.
    Without bubblewrap the check's processes are killed as this process's group. (bubblewrap's
    --die-with-parent does not reach a namespace's init here.)"""
    if lifeline is None or not hasattr(os, "pidfd_open"):
        return os.waitpid(pid, 0)[1]
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return os.waitpid(pid, 0)[1]
    try:
        while True:
            ready, _, _ = wait_readable([pidfd, lifeline], [], [])
            if lifeline in ready:  # nothing is ever written to it: end of file, the grader is gone
                with contextlib.suppress(OSError):  # without bubblewrap (no PID namespace): the group
                    os.killpg(0, signal.SIGKILL)
                os._exit(0)
            if pidfd in ready:
                break
    finally:
        os.close(pidfd)
    return os.waitpid(pid, 0)[1]


def _given(ns: dict[str, Any], given: Any) -> dict[str, Any]:
    """The functions the parent calls by name: the student's own. ``given`` (trusted source from
    the parent, e.g. the reference ``conv_output_size``) is defined in a scope of its own and its
    names replace the student's in ``ns``, the globals the student's other functions read, for
    this forked check only. Runs in grader mode."""
    own = dict(ns)
    if isinstance(given, dict):
        scope: dict[str, Any] = {"__name__": "given", "__builtins__": __builtins__}
        try:
            exec(compile(str(given["source"]), "<given by the grader>", "exec"), scope)
            ns.update({str(n): scope[str(n)] for n in given["names"]})
        except Exception:  # e.g. course_lib.validate replaced by the student: their own functions stay
            pass
    return own


def _serve(rfd: int, wfd: int, ns: dict[str, Any], out: _Bounded, np: Any, warnings: Any,
           guard: _Guard, keep: list[Any], given: Any = None, fd: dict[str, Any] | None = None) -> None:
    own = _given(ns, given)
    handles: list[Any] = []
    warnings.simplefilter("error", RuntimeWarning)
    np.seterr(over="warn", divide="warn", invalid="warn", under="ignore")
    write_frame(wfd, encode({"ev": "forked", "pid": os.getpid()}))
    while True:
        try:
            msg = decode(read_frame(rfd), handles)
        except EOFError:
            os._exit(0)
        if msg.get("cmd") == "numgrad":
            _numgrad_forked(msg, own, fd, guard, keep, out, wfd)
            continue
        if msg.get("cmd") != "call":
            write_frame(wfd, encode({"ev": "bye", "output": out.take(), "violations": guard.take()}))
            os._exit(0)
        f = own.get(msg["name"])
        args, kwargs = msg["args"], msg["kwargs"]
        result, error = None, None
        try:
            guard.leave()
            result = f(*args, **kwargs)
        except BaseException as e:
            guard.enter()
            keep.append(e)
            error = _exc_info(e, guard)
        guard.enter()
        keep.append(result)
        reply = {"ev": "result", "result": result, "error": error, "args": args, "kwargs": kwargs,
                 "violations": guard.take(), "output": out.take()}
        try:
            data = encode(reply, handles)
        except (EncodeError, RecursionError, ValueError, TypeError) as e:
            reply.update(result=None, args=None, kwargs=None,
                         error={"type": "ValueError", "message": f"the result cannot be graded: {e}",
                                "where": "", "not_implemented": False, "runtime_warning": False, "memory": False})
            data = encode(reply, handles)
        write_frame(wfd, data)


if __name__ == "__main__":
    _main()
