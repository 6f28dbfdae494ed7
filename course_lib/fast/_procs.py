"""Private helper of :mod:`course_lib.fast` (imported within the package only): the worker
processes of :class:`course_lib.fast.parallel.BatchSplit`'s process backend.

Why processes. Threads share one interpreter: every NumPy call of a share (about 150 per
training step of the seed CNN) takes the GIL, and at two threads the hand-offs ate a third of
the second core. A worker process has its own interpreter; the parent and the worker run their
shares of a batch truly side by side and meet twice per step (after the forward and after the
backward pass).

The workers. One long-lived worker per extra share of a batch, started on first use and shared
by every network of the process; each network registers its layers with a worker once, as
layer records (:meth:`course_lib.layers.Layer.record`) that the worker rebuilds through the
layer registry (:func:`course_lib.layers.build_layer`), so only course_lib's own layer classes
can run there. A worker is a fresh interpreter (``python -c``, the equivalent of
multiprocessing's "spawn" start method, without its re-import of the parent's ``__main__``,
which would re-run a script that has no ``if __name__ == "__main__"`` guard): safe in a
multi-threaded parent and in Jupyter kernels; starting one (importing NumPy and course_lib)
takes 0.1–0.2 s. It runs with one BLAS thread and ``set_num_threads(1)``, ignores SIGINT (a
Ctrl-C is the parent's to handle), and exits when its socket to the parent closes: when the
parent exits or dies, or :func:`shutdown` closes it (also at interpreter exit).

The data. Arrays never go through the socket: each side writes what it sends into memory it
shares with the other (an anonymous ``memfd``, mapped by both, handed over once as a file
descriptor over the Unix socket; on systems without memfd an unlinked temporary file), and the
socket carries small pickled messages with the arrays' offsets, shapes and dtypes. Nothing is
named, so nothing can be left behind in ``/dev/shm`` and no resource tracker is involved; the
memory goes away with the last process that maps it. Per step the parent writes the
parameters (every step: an optimiser may have replaced the arrays) and the worker's share of
``x``, and the worker answers with its share of the output; then the parent writes the share of
``dout`` and the worker answers with its parameter gradients (and ``dL/dx`` when the first
layer computes it). Each network has its own memory per worker, so two networks can take turns
on a worker between their forward and backward passes. Both sides poll the socket briefly
before sleeping on it (waking a sleeping process costs more than the wait usually lasts).

Errors. An exception raised in a worker comes back to the parent as the same exception (with
the worker's traceback as a note); a worker that dies or stops answering the socket makes the
step raise :class:`WorkerError` (the next step starts a new worker); a worker that cannot be
started at all raises :class:`WorkerUnavailable`, after which the caller uses threads.
"""

from __future__ import annotations

import array
import atexit
import itertools
import mmap
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OWN_ATTRIBUTES", "ProcessShares", "Unbuildable", "WorkerError", "WorkerUnavailable", "shutdown", "unsupported_reason",
           "worker_pids", "workers"]

#: An array in shared memory: (byte offset, shape, dtype string).
Ref = tuple[int, tuple[int, ...], str]

_HEADER = struct.Struct("<QI")  # payload bytes, file descriptors attached
_ALIGN = 64
_MIN_ARENA = 1 << 20
_MAX_FDS = 4
# Seconds a worker polls for the next request, and the parent for a reply, before sleeping on
# the socket: waking a sleeping process costs ~60 us each way here, four times per step (the
# seed CNN's step at batch 32: 2.1 -> 1.8 ms). The next request usually comes within the time
# the parent needs for the loss, or for the optimiser's step and the next batch.
_SPIN_WORKER = 0.001
_SPIN_PARENT = 0.0005
_START_TIMEOUT = 120.0  # seconds a new worker may take to import NumPy and course_lib

#: The attributes of a layer that each of its copies (a thread's replica in
#: :mod:`course_lib.fast.parallel`, a worker's rebuilt layer) has of its own.
OWN_ATTRIBUTES = frozenset({"grads", "_cache", "_workspace"})
#: What a worker's layer never receives: its own attributes, and the parameters, which travel
#: through shared memory.
_NOT_SENT = OWN_ATTRIBUTES | {"params"}


class WorkerError(RuntimeError):
    """A worker process died (or its socket broke) during a step: that step's results are lost."""


class WorkerUnavailable(RuntimeError):
    """No worker process could be started here (the caller splits across threads instead)."""


class Unbuildable(Exception):
    """A worker could not rebuild a network's layers from their records (the caller splits
    that network across threads instead)."""


def unsupported_reason() -> str | None:
    """None when this system can run worker processes, else the reason it cannot."""
    if os.name != "posix" or not hasattr(socket, "AF_UNIX") or not hasattr(socket, "send_fds"):
        return "worker processes need a POSIX system with Unix sockets that pass file descriptors"
    return None


# ------------------------------------------------------------------------------------------------
# Transport: pickled messages over a Unix socket, file descriptors alongside
# ------------------------------------------------------------------------------------------------

class _Link:
    """Framed messages over a connected Unix stream socket (``EOFError`` when the peer is gone)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, obj: Any, fds: Sequence[int] = ()) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        header = _HEADER.pack(len(data), len(fds))
        if fds:
            socket.send_fds(self.sock, [header], list(fds))
            self.sock.sendall(data)
        else:
            self.sock.sendall(header + data)

    def recv(self, spin: float = 0.0) -> tuple[Any, list[int]]:
        """The next message and the descriptors sent with it; first polls for up to ``spin``
        seconds (yielding the CPU to anyone waiting for it) before going to sleep on the socket."""
        if spin > 0:
            deadline = time.perf_counter() + spin
            while not select.select([self.sock], [], [], 0)[0] and time.perf_counter() < deadline:
                os.sched_yield()
        fds = array.array("i")
        header = b""
        while len(header) < _HEADER.size:
            chunk, anc, _flags, _addr = self.sock.recvmsg(
                _HEADER.size - len(header), socket.CMSG_SPACE(_MAX_FDS * fds.itemsize),
                getattr(socket, "MSG_CMSG_CLOEXEC", 0))
            if not chunk:
                raise EOFError("the other process closed the socket")
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            header += chunk
        size, _nfds = _HEADER.unpack(header)
        data = bytearray(size)
        view, got = memoryview(data), 0
        while got < size:
            k = self.sock.recv_into(view[got:])
            if not k:
                raise EOFError("the other process closed the socket")
            got += k
        return pickle.loads(data), list(fds)


# ------------------------------------------------------------------------------------------------
# Shared memory: one writer, one reader
# ------------------------------------------------------------------------------------------------

def _anonymous_file(size: int) -> int:
    """A file descriptor of ``size`` bytes of memory with no name (memfd, else an unlinked file)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("course_lib.fast", getattr(os, "MFD_CLOEXEC", 0))
    else:  # pragma: no cover - not on Linux
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    try:
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Arena:
    """``size`` bytes mapped from ``fd`` (the mapping outlives the descriptor and every view of
    it keeps it alive)."""

    def __init__(self, fd: int, size: int) -> None:
        self.mm = mmap.mmap(fd, size)
        self.size = size

    def view(self, ref: Ref) -> np.ndarray:
        offset, shape, dtype = ref
        return np.ndarray(shape, np.dtype(dtype), buffer=self.mm, offset=offset)


class _Outbox:
    """The memory one side writes its arrays into; grows (a new arena, announced with the next
    message) when a message does not fit."""

    def __init__(self) -> None:
        self.arena: _Arena | None = None
        self.used = 0
        self.fresh_fd: int | None = None  # the new arena's descriptor, until it has been sent

    def reset(self) -> None:
        """Start writing at the beginning again (the reader holds no earlier array any more)."""
        self.used = 0

    def put(self, arrays: Sequence[np.ndarray]) -> list[Ref]:
        """Copy ``arrays`` into shared memory after what this message cycle wrote before."""
        def layout(start: int) -> tuple[list[int], int]:
            offsets, end = [], start
            for a in arrays:
                begin = -(-end // _ALIGN) * _ALIGN
                offsets.append(begin)
                end = begin + a.nbytes
            return offsets, end

        offsets, end = layout(self.used)
        if self.arena is None or end > self.arena.size:
            # A new arena; the reader keeps the old one mapped as long as it holds views of it.
            offsets, end = layout(0)
            size = max(_MIN_ARENA, 2 * end)
            fd = _anonymous_file(size)
            self.arena = _Arena(fd, size)
            if self.fresh_fd is not None:
                os.close(self.fresh_fd)
            self.fresh_fd = fd
        refs: list[Ref] = []
        for a, offset in zip(arrays, offsets):
            ref = (offset, a.shape, a.dtype.str)
            np.copyto(self.arena.view(ref), a)
            refs.append(ref)
        self.used = end
        return refs

    def take_fresh(self) -> tuple[int | None, list[int]]:
        """``(size, [fd])`` of a new arena to announce with the next message, else ``(None, [])``."""
        if self.fresh_fd is None or self.arena is None:
            return None, []
        return self.arena.size, [self.fresh_fd]

    def sent(self) -> None:
        """The reader has the new arena's descriptor: close ours (the mapping stays)."""
        if self.fresh_fd is not None:
            os.close(self.fresh_fd)
            self.fresh_fd = None


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _map(fds: list[int], size: int | None, current: _Arena | None) -> _Arena | None:
    """The arena announced by a message (``fds``, ``size``; the descriptors are closed), else
    ``current``."""
    if not fds:
        return current
    try:
        return _Arena(fds[0], int(size)) if size is not None else current
    finally:
        _close(fds)


# ------------------------------------------------------------------------------------------------
# The worker process
# ------------------------------------------------------------------------------------------------

class _Model:
    """A network registered with a worker: its rebuilt layers and the parent's shared memory."""

    def __init__(self, records: list[dict[str, Any]], run_forward: Callable[..., Any],
                 run_backward: Callable[..., Any]) -> None:
        from course_lib.layers import build_layer

        self.layers = [build_layer(r) for r in records]
        self.run_forward, self.run_backward = run_forward, run_backward
        self.arena: _Arena | None = None


def _exception_reply(exc: BaseException) -> tuple[Any, ...]:
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # an exception that does not survive pickling comes back as its text
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    exc.__traceback__ = None
    return ("error", exc, text)


def _serve(fd: int) -> None:
    """The worker's loop: answer the parent's requests on socket ``fd`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import course_lib.architectures  # noqa: F401  (every layer module: fills the registry)
    from course_lib.fast._threads import set_num_threads

    set_num_threads(1)
    link = _Link(socket.socket(fileno=fd))
    models: dict[int, _Model] = {}
    outbox = _Outbox()
    link.send(("ready", os.getpid()))
    while True:
        try:
            msg, fds = link.recv(spin=_SPIN_WORKER)
        except (EOFError, OSError):
            return
        kind, sid = msg[0], msg[1]
        try:
            if kind == "forward":
                _, _, size, setup, drops, attrs, params, xref = msg
                for gone in drops:
                    models.pop(gone, None)
                if setup is not None:
                    try:
                        models[sid] = _Model(*setup)
                    except Exception as e:  # reported to the parent, which uses threads
                        _close(fds)
                        link.send((None, ("unbuildable", f"{type(e).__name__}: {e}")))
                        continue
                model = models[sid]
                model.arena, fds = _map(fds, size, model.arena), []
                for i, a in attrs.items():
                    vars(model.layers[i]).update(a)
                for layer, refs in zip(model.layers, params):
                    layer.params = {name: model.arena.view(r) for name, r in refs.items()}  # type: ignore[union-attr]
                out = model.run_forward(model.layers, model.arena.view(xref))  # type: ignore[union-attr]
                outbox.reset()
                reply: tuple[Any, ...] = ("ok", outbox.put([np.asarray(out)])[0])
            elif kind == "backward":
                model = models[sid]
                model.arena, fds = _map(fds, msg[2], model.arena), []
                dx = model.run_backward(model.layers, model.arena.view(msg[3]))  # type: ignore[union-attr]
                keys = [(i, k) for i, layer in enumerate(model.layers) for k in layer.grads]
                arrays = [np.asarray(model.layers[i].grads[k]) for i, k in keys]
                outbox.reset()
                refs = outbox.put(arrays + ([] if dx is None else [np.asarray(dx)]))
                reply = ("ok", (list(zip(keys, refs)), None if dx is None else refs[-1]))
            elif kind == "describe":
                reply = ("ok", [({k: v for k, v in vars(layer).items() if k not in _NOT_SENT},
                                 {k: np.array(v) for k, v in layer.params.items()})
                                for layer in models[sid].layers])
            else:
                raise ValueError(f"unknown request {kind!r}")
        except Exception as e:  # every error goes back to the parent
            _close(fds)
            reply = _exception_reply(e)
        size, fresh = outbox.take_fresh()
        try:
            link.send((size, reply), fresh)
        except OSError:
            return
        outbox.sent()


# ------------------------------------------------------------------------------------------------
# The parent's side: the pool of workers
# ------------------------------------------------------------------------------------------------

class _Worker:
    """One worker process and the socket to it; ``lock`` is held from a request to its reply."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the directory holding course_lib
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                f"from course_lib.fast._procs import _serve; _serve({theirs.fileno()})")
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()],
                                         stdin=subprocess.DEVNULL, env=env)
        except OSError as e:
            mine.close()
            raise WorkerUnavailable(f"cannot start {sys.executable!r}: {e}") from None
        finally:
            theirs.close()
        self.link = _Link(mine)
        self.lock = threading.Lock()
        self.inbox: _Arena | None = None
        self.drops: list[int] = []
        self.alive = True

    def wait_ready(self) -> None:
        """Wait for the new worker's "ready" (:class:`WorkerUnavailable` if it does not come)."""
        self.link.sock.settimeout(_START_TIMEOUT)
        try:
            msg, _ = self.link.recv()
            self.link.sock.settimeout(None)
        except (EOFError, OSError):
            self.close()
            raise WorkerUnavailable(f"the worker process exited while starting ({self._status()}); "
                                    "see its error output above") from None
        if msg != ("ready", self.proc.pid):
            self.close()
            raise WorkerUnavailable(f"the worker process answered {msg!r} instead of 'ready'")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _status(self) -> str:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def _died(self, what: str) -> WorkerError:
        self.close()
        return WorkerError(f"course_lib.fast: the worker process {self.pid} (running a share of the batch) "
                           f"died during {what} ({self._status()}); this step's results are lost, the next "
                           "step starts a new worker")

    def send(self, msg: tuple[Any, ...], fds: Sequence[int] = ()) -> None:
        """Send a request (the caller holds :attr:`lock`); :class:`WorkerError` if the worker is gone."""
        if not self.alive:
            raise WorkerError(f"course_lib.fast: the worker process {self.pid} is closed")
        try:
            self.link.send(msg, fds)
        except OSError:
            raise self._died(f"the {msg[0]} request") from None
        except BaseException:  # interrupted mid-message: the conversation is out of step
            self.close()
            raise

    def recv(self, what: str) -> Any:
        """The reply to the request sent last: its payload, or the worker's exception raised."""
        try:
            (size, reply), fds = self.link.recv(spin=_SPIN_PARENT)
        except (EOFError, OSError):
            raise self._died(what) from None
        except BaseException:  # interrupted mid-message: the conversation is out of step
            self.close()
            raise
        self.inbox = _map(fds, size, self.inbox)
        if reply[0] == "error":
            exc = reply[1]
            exc.add_note(f"(raised in course_lib.fast worker process {self.pid}:)\n{reply[2]}")
            raise exc
        if reply[0] == "unbuildable":
            raise Unbuildable(reply[1])
        return reply[1]

    def close(self) -> None:
        """Close the socket: the worker exits when it reads the end (or is killed if it does not)."""
        if self.alive:
            self.alive = False
            self.link.sock.close()
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_pool_lock = threading.Lock()
_pool: list[_Worker] = []
_forked: list[_Worker] = []  # inherited by a fork: never used, never closed from here


def workers(n: int) -> list[_Worker]:
    """``n`` live workers, started as needed (:class:`WorkerUnavailable` if one cannot start)."""
    with _pool_lock:
        _pool[:] = [w for w in _pool if w.alive]
        new: list[_Worker] = []
        try:
            while len(_pool) + len(new) < n:
                new.append(_Worker())  # all started first: they import side by side
            for w in new:
                w.wait_ready()
        except BaseException:
            for w in new:
                w.close()
            raise
        _pool.extend(new)
        return _pool[:n]


def worker_pids() -> list[int]:
    """The process ids of the running workers (for measuring their CPU time)."""
    return [w.pid for w in list(_pool) if w.alive]


def shutdown() -> None:
    """Stop every worker process (new ones start on the next split step); a worker in the
    middle of a step is stopped once the step is done."""
    with _pool_lock:
        pool, _pool[:] = list(_pool), []
    for w in pool:
        held = w.lock.acquire(timeout=10.0)
        try:
            w.close()
        finally:
            if held:
                w.lock.release()


def _after_fork_in_child() -> None:
    # A forked child must not talk to its parent's workers (their conversations are the parent's)
    # and must not wait for a lock that a thread of the parent held at the fork.
    global _pool_lock
    _pool_lock = threading.Lock()
    _forked.extend(_pool)
    _pool.clear()
    for w in _forked:
        w.alive = False
        w.link.sock.close()
        w.proc.returncode = 0  # not this process's child: nothing to wait for


atexit.register(shutdown)
os.register_at_fork(after_in_child=_after_fork_in_child)


# ------------------------------------------------------------------------------------------------
# The parent's side: one network's shares
# ------------------------------------------------------------------------------------------------

def _attributes(layer: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(layer).items() if k not in _NOT_SENT}


def _same(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # an array attribute: compared element-wise, ambiguous
        return False


class _Share:
    """What the parent keeps per (network, worker): its shared memory and what the worker has."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.outbox = _Outbox()
        self.sent_attrs: list[dict[str, Any]] | None = None  # None: not registered yet


_sids = itertools.count(1)


def _forget(sid: int) -> None:
    """A network's split is gone: its layers leave every worker with the next request."""
    for w in list(_pool):
        w.drops.append(sid)


class ProcessShares:
    """Shares k >= 1 of a network's batches in worker processes (share 0 stays with the caller).

    Args:
        layers: the network's layers, every one a registered course_lib layer class.
        run_forward / run_backward: the network's run functions (importable from course_lib;
            the workers run the same functions on their rebuilt layers).

    Raises:
        TypeError, ValueError: a layer (or a run function) that a worker could not rebuild.
    """

    def __init__(self, layers: Sequence[Any], run_forward: Callable[..., Any],
                 run_backward: Callable[..., Any]) -> None:
        from course_lib.layers import LAYERS, build_layer

        for fn in (run_forward, run_backward):
            if not getattr(fn, "__module__", "").startswith("course_lib.") or "<" in fn.__qualname__:
                raise TypeError(f"{fn!r} is not a course_lib function a worker can import")
        for i, layer in enumerate(layers):
            cls = type(layer)
            if LAYERS.get(cls.__name__) is not cls or not cls.__module__.startswith("course_lib."):
                raise TypeError(f"layer {i} ({cls.__name__}) is not a course_lib layer class")
        self.layers = list(layers)
        self.records = [layer.record() for layer in self.layers]
        for i, record in enumerate(self.records):  # the worker's rebuild, tried on paper here
            if type(build_layer(record, on_paper=True)) is not type(self.layers[i]):
                raise TypeError(f"layer {i}'s record {record} rebuilds another class")
        self.setup = (self.records, run_forward, run_backward)
        pickle.dumps(self.setup)  # raises for an unpicklable config
        self.sid = next(_sids)
        self.shares: list[_Share] = []
        self._finalizer = weakref.finalize(self, _forget, self.sid)
        self._finalizer.atexit = False

    def _shares_for(self, n: int) -> list[_Share]:
        ws = workers(n)
        if [s.worker for s in self.shares] != ws:
            old = {id(s.worker): s for s in self.shares}
            self.shares = [old.get(id(w)) or _Share(w) for w in ws]
        return self.shares

    def forward(self, x: np.ndarray, bounds: list[int], share0: Callable[[], np.ndarray]) -> list[np.ndarray]:
        """The outputs of every share of ``x`` (cut at ``bounds``): share 0 by ``share0()`` here,
        share k >= 1 by worker k − 1, at the same time."""
        shares = self._shares_for(len(bounds) - 2)
        attrs = [_attributes(layer) for layer in self.layers]
        params = [layer.params for layer in self.layers]
        arrays = [np.asarray(p) for ps in params for p in ps.values()]
        for a in arrays:
            if a.dtype.hasobject:
                raise TypeError("parameters of dtype object cannot be shared with a worker process")
        if x.dtype.hasobject:
            raise TypeError(f"x must be an array of numbers, got dtype {x.dtype}")

        # What each worker has not seen yet; checked before anything is sent (nothing to undo).
        changes = [dict(enumerate(attrs)) if share.sent_attrs is None else
                   {i: a for i, a in enumerate(attrs) if not _same(a, share.sent_attrs[i])} for share in shares]
        for changed in changes:
            if changed:
                try:
                    pickle.dumps(changed)
                except Exception as e:
                    raise Unbuildable(f"a layer attribute cannot be sent to a worker process: {e}") from None

        def request(k: int, share: _Share) -> None:
            share.outbox.reset()
            refs = iter(share.outbox.put([*arrays, x[bounds[k]:bounds[k + 1]]]))
            param_refs = [{name: next(refs) for name in ps} for ps in params]
            xref = next(refs)
            setup, changed = (self.setup if share.sent_attrs is None else None), changes[k - 1]
            drops, share.worker.drops = share.worker.drops, []
            _send(share, ("forward", self.sid, setup, drops, changed, param_refs, xref))
            share.sent_attrs = attrs

        outs = _exchange(shares, request, share0, "the forward pass")
        return [outs[0], *(s.worker.inbox.view(ref) for s, ref in zip(shares, outs[1:]))]  # type: ignore[union-attr]

    def backward(self, dout: np.ndarray, bounds: list[int],
                 share0: Callable[[], np.ndarray | None]) -> tuple[list[dict[tuple[int, str], np.ndarray]],
                                                                   list[np.ndarray | None]]:
        """Send every share of ``dout`` back; returns the workers' gradients ``{(layer, name):
        array}`` and the input gradients of all shares (share 0's from ``share0()``)."""
        shares = self.shares

        def request(k: int, share: _Share) -> None:
            _send(share, ("backward", self.sid, share.outbox.put([dout[bounds[k]:bounds[k + 1]]])[0]))

        replies = _exchange(shares, request, share0, "the backward pass")
        grads, dxs = [], [replies[0]]
        for share, (pairs, dx_ref) in zip(shares, replies[1:]):
            inbox = share.worker.inbox
            grads.append({key: inbox.view(ref) for key, ref in pairs})  # type: ignore[union-attr]
            dxs.append(None if dx_ref is None else inbox.view(dx_ref))  # type: ignore[union-attr]
        return grads, dxs

    def describe(self, k: int) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """Worker ``k``'s copy of the layers: (attributes, parameters) per layer (for tests)."""
        share = self.shares[k]
        with share.worker.lock:
            share.worker.send(("describe", self.sid))
            return share.worker.recv("describe")


class _locked:
    """Hold the locks of the shares' workers (in pool order, so two networks cannot deadlock)."""

    def __init__(self, shares: list[_Share]) -> None:
        self.locks = [s.worker.lock for s in shares]

    def __enter__(self) -> None:
        for lock in self.locks:
            lock.acquire()

    def __exit__(self, *exc: object) -> None:
        for lock in reversed(self.locks):
            lock.release()


def _send(share: _Share, msg: tuple[Any, ...]) -> None:
    """Send ``(kind, sid, arena size or None, *rest)`` with a new arena's descriptor if any."""
    size, fresh = share.outbox.take_fresh()
    share.worker.send((*msg[:2], size, *msg[2:]), fresh)
    share.outbox.sent()


def _exchange(shares: list[_Share], request: Callable[[int, _Share], None], share0: Callable[[], Any],
              what: str) -> list[Any]:
    """``request(k, share)`` to every worker, ``share0()`` here, then the replies (see
    :func:`_gather`); the workers' locks are held throughout."""
    with _locked(shares):
        sent: list[_Share] = []
        try:
            for k, share in enumerate(shares, 1):
                request(k, share)
                sent.append(share)
        except BaseException:
            for share in sent:  # they will answer a request nobody reads: out of step
                share.worker.close()
            raise
        return _gather(shares, share0, what)


def _gather(shares: list[_Share], share0: Callable[[], Any], what: str) -> list[Any]:
    """Run ``share0()`` here while the workers run theirs, then every worker's reply. Every
    reply is read even when something failed (the conversations stay in step); the first error
    is raised after: share 0's, a dead worker's, a worker's exception."""
    errors: list[BaseException] = []
    try:
        first = share0()
    except BaseException as e:  # re-raised below, once every worker has answered
        errors.append(e)
        first = None
    results = [first]
    for share in shares:
        try:
            results.append(share.worker.recv(what))
        except Unbuildable as e:
            share.sent_attrs = None
            errors.append(e)
            results.append(None)
        except BaseException as e:
            if not share.worker.alive:
                share.sent_attrs = None
            errors.append(e)
            results.append(None)
    if errors:
        # a dead worker first, then a network the workers cannot run, then the step's own error
        ranked = sorted(errors, key=lambda e: 0 if isinstance(e, WorkerError) else 1 if isinstance(e, Unbuildable) else 2)
        raise ranked[0]
    return results
