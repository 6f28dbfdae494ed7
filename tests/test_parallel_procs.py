"""course_lib.fast.parallel's process backend: shares k > 0 of a batch in worker processes.

The worker processes must give the thread split's numbers (the same functions on the same data
with one BLAS thread each, summed in the same order: equal to the bit), see every change of the
parent's parameters and layer attributes, bring errors back as the same exceptions, turn a dead
worker into a clear error instead of a hang, and leave nothing behind (no processes, no shared
memory, no warnings at exit). Networks the workers cannot rebuild run in threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from course_lib import fast
from course_lib.architectures import Flatten, Sequential, seed_cnn
from course_lib.backprop import Affine
from course_lib.conv import Conv2D
from course_lib.fast import parallel as fast_parallel
from course_lib.fast._procs import unsupported_reason
from course_lib.gradient_descent import make_optimizer
from course_lib.layers import Layer
from course_lib.loss import softmax_cross_entropy
from course_lib.neuron import ReLU
from course_lib.pooling import MaxPool2D

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(unsupported_reason() is not None, reason="no worker processes here")


@pytest.fixture
def backend():
    """Restores the thread count and the backend after the test."""
    threads, before = fast.get_num_threads(), fast_parallel.get_parallel_backend()
    yield fast_parallel.set_parallel_backend
    fast.set_num_threads(threads)
    fast_parallel.set_parallel_backend(before)


def _net(dtype: type = np.float64) -> Sequential:
    # need_dx=True on the first conv: the workers' dL/dx comes back too
    return Sequential(Conv2D(2, 4, 3, pad=1, rng=0, dtype=dtype), ReLU(), MaxPool2D(2),
                      Flatten(), Affine(4 * 4 * 4, 5, rng=1, dtype=dtype))


def _step(model: Sequential, x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, dict]:
    out = model.forward(x)
    dx = model.backward(dout)
    return out.copy(), None if dx is None else dx.copy(), {k: v.copy() for k, v in model.gradients().items()}


def _worker_pids(model: Sequential) -> list[int]:
    return [s.worker.pid for s in model._split._procs.shares]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [2, 3])
def test_processes_give_the_thread_splits_numbers_to_the_bit(dtype, n_threads, backend, rng):
    """Outputs, dL/dx and summed gradients of a split in worker processes equal those of the
    split across threads exactly, over two steps (the second reuses workers and memory)."""
    model = _net(dtype)
    x = rng.standard_normal((2, 37, 2, 8, 8)).astype(dtype)  # 37: shares of unequal size
    dout = rng.standard_normal((2, 37, 5)).astype(dtype)
    fast.set_num_threads(n_threads)
    backend("threads")
    want = [_step(model, x[i], dout[i]) for i in range(2)]
    backend("processes")
    for i in range(2):
        out, dx, grads = _step(model, x[i], dout[i])
        assert model._split.backend == "processes"
        pids = _worker_pids(model)
        assert len(pids) == n_threads - 1 and os.getpid() not in pids
        np.testing.assert_array_equal(out, want[i][0])
        np.testing.assert_array_equal(dx, want[i][1])
        assert grads.keys() == want[i][2].keys()
        for k in grads:
            assert grads[k].dtype == dtype
            np.testing.assert_array_equal(grads[k], want[i][2][k], err_msg=k)


def test_200_training_steps_in_processes_give_the_one_thread_losses(backend):
    """The seed CNN on 800 MNIST images, batch 16 (two shares of 8), 200 Adam steps from the same
    weights on the same batches at 1 thread, at 2 threads and in 2 processes: the losses of the
    process split equal the thread split's exactly, and the one-thread losses to 1e-3 relative
    at every step (the tolerance of the tuned-vs-teaching run in test_fast.py)."""
    from course_lib.data import load_mnist, subset

    data = subset(load_mnist(progress=False), 800, 1)
    X, y = data.X_train, data.y_train
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(y), size=16, replace=False) for _ in range(200)]
    losses = {}
    for threads, where in ((1, "threads"), (2, "threads"), (2, "processes")):
        fast.set_num_threads(threads)
        backend(where)
        model = seed_cnn(rng=0)
        opt = make_optimizer("adam", learning_rate=1e-3)
        params = model.parameters()
        run = []
        for idx in batches:
            loss, dscores = softmax_cross_entropy(model.forward(X[idx]), y[idx])
            model.backward(dscores.astype(np.float32))
            opt.step(params, model.gradients())
            run.append(loss)
        split = getattr(model, "_split", None)
        assert (split.backend if split is not None else "one thread") == (where if threads == 2 else "one thread")
        losses[threads, where] = np.array(run)
    np.testing.assert_array_equal(losses[2, "processes"], losses[2, "threads"])
    np.testing.assert_allclose(losses[2, "processes"], losses[1, "threads"], rtol=1e-3)
    assert losses[2, "processes"][-20:].mean() < 0.25 * losses[2, "processes"][:20].mean()  # it learned


def test_mode_attributes_and_parameters_reach_the_workers(backend, rng):
    """train/eval, need_dx, an attribute of the user's own, parameters updated in place, replaced
    by set_parameters, a rebound params dict: the next split forward pass sees them all."""
    model = _net()
    fast.set_num_threads(2)
    backend("processes")
    x = rng.standard_normal((40, 2, 8, 8))
    model.forward(x)
    split = model._split._procs

    model.eval()
    model.layers[0].need_dx = False
    model.layers[4].note = "mine"
    model.layers[0].params["w"] += 1.0                                  # in place
    model.set_parameters({"4.b": np.full(5, 3.0)})                       # a new array
    model.layers[4].params = {k: v * 2 for k, v in model.layers[4].params.items()}  # a new dict
    got = model.forward(x)
    assert model.backward(np.ones((40, 5))) is None                     # need_dx=False there too
    for (attrs, params), layer in zip(split.describe(0), model.layers):
        assert attrs["training"] is False
        assert params.keys() == layer.params.keys()
        for k in params:
            np.testing.assert_array_equal(params[k], layer.params[k])
    worker = split.describe(0)
    assert worker[0][0]["need_dx"] is False and worker[4][0]["note"] == "mine"
    fast.set_num_threads(1)
    np.testing.assert_array_equal(got, model.forward(x))
    fast.set_num_threads(2)
    model.train()
    model.forward(x)
    assert all(attrs["training"] is True for attrs, _ in split.describe(0))


def test_two_networks_take_turns_on_the_same_worker(backend, rng):
    a, b = _net(), Sequential(Affine(128, 3, rng=2), ReLU())
    xa, xb = rng.standard_normal((32, 2, 8, 8)), rng.standard_normal((20, 128))
    da, db = rng.standard_normal((32, 5)), rng.standard_normal((20, 3))
    fast.set_num_threads(1)
    want_a, want_b = _step(a, xa, da), _step(b, xb, db)
    fast.set_num_threads(2)
    backend("processes")
    out_a, out_b = a.forward(xa), b.forward(xb)   # both forwards first: both caches on the worker
    dx_b, dx_a = b.backward(db), a.backward(da)
    assert _worker_pids(a) == _worker_pids(b)
    for got, want in ((out_a, want_a[0]), (dx_a, want_a[1]), (out_b, want_b[0]), (dx_b, want_b[1])):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for model, want in ((a, want_a), (b, want_b)):
        for k, g in model.gradients().items():
            np.testing.assert_allclose(g, want[2][k], rtol=1e-10, atol=1e-12)


def test_two_threads_training_two_networks_share_the_workers(backend, rng):
    """Two threads of the parent, each training its own network on the same workers at once:
    every step's gradients are those of the network trained alone."""
    import threading

    fast.set_num_threads(2)
    backend("processes")
    x, dout = rng.standard_normal((5, 32, 2, 8, 8)), rng.standard_normal((5, 32, 5))

    def train(model: Sequential, out: list) -> None:
        for i in range(5):
            _, _, grads = _step(model, x[i], dout[i])
            out.append((grads, model._split.backend))
            for k, p in model.parameters().items():
                p -= 0.01 * grads[k]

    alone: list = []
    train(_net(), alone)
    runs: list[list] = [[], []]
    threads = [threading.Thread(target=train, args=(_net(), runs[j])) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for run in runs:
        assert len(run) == 5
        for (got, where), (want, _) in zip(run, alone):
            assert where == "processes"
            for k in want:
                np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def _stepped_in_a_worker(backend, rng) -> tuple[Sequential, np.ndarray, np.ndarray, tuple, int]:
    """A network after one step at 2 processes: (network, x, dout, the step's results, the
    worker's pid)."""
    model = _net()
    fast.set_num_threads(2)
    backend("processes")
    x, dout = rng.standard_normal((32, 2, 8, 8)), rng.standard_normal((32, 5))
    want = _step(model, x, dout)
    (pid,) = _worker_pids(model)
    return model, x, dout, want, pid


def test_a_forked_child_starts_its_own_workers_and_leaves_the_parents_alone(backend, rng):
    """After os.fork the child never talks to its parent's workers (their conversations are the
    parent's): it starts its own, and the parent's go on serving the parent."""
    model, x, dout, want, pid = _stepped_in_a_worker(backend, rng)
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork" on 3.12+
        child = os.fork()
    if child == 0:  # the child: report its worker and whether it got the parent's numbers
        code = 1
        try:
            os.close(r)
            got = _step(model, x, dout)
            same = all(np.array_equal(a, b) for a, b in zip(got[:2], want[:2]))
            os.write(w, f"{_worker_pids(model)[0]} {same}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        report = f.read().split()
    assert os.waitpid(child, 0)[1] == 0
    assert int(report[0]) != pid and report[1] == "True"
    got = _step(model, x, dout)
    assert _worker_pids(model) == [pid]
    np.testing.assert_array_equal(got[0], want[0])


def test_a_workers_error_comes_back_as_the_same_exception(backend, rng):
    """A NaN in the worker's share only: the worker's ValueError reaches the parent (with the
    worker's traceback as a note); Sequential.forward reports it for the whole batch, and the
    worker goes on serving."""
    model = _net()
    fast.set_num_threads(2)
    backend("processes")
    x = rng.standard_normal((32, 2, 8, 8))
    model.forward(x)
    bad = x.copy()
    bad[-1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"x contains 1 non-finite") as info:
        model._split.forward(bad)
    assert any("worker process" in note for note in getattr(info.value, "__notes__", []))
    with pytest.raises(ValueError, match=r"x contains 1 non-finite"):
        model.forward(bad)
    with pytest.raises(ValueError, match=r"channel mismatch: x of shape \(32, 3, 8, 8\)"):
        model.forward(np.zeros((32, 3, 8, 8)))
    fast.set_num_threads(1)
    want = _step(model, x, np.ones((32, 5)))
    fast.set_num_threads(2)
    got = _step(model, x, np.ones((32, 5)))
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


@pytest.mark.parametrize("when", ["before forward", "between forward and backward"])
def test_a_dead_worker_is_a_clear_error_and_the_next_step_starts_a_new_one(when, backend, rng):
    model, x, dout, want, pid = _stepped_in_a_worker(backend, rng)
    if when == "before forward":
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(fast_parallel.WorkerError, match=rf"worker process {pid} .*died.*SIGKILL"):
            model.forward(x)
    else:
        model.forward(x)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(fast_parallel.WorkerError, match=rf"worker process {pid} .*died.*SIGKILL"):
            model.backward(dout)
    got = _step(model, x, dout)
    assert _worker_pids(model) != [pid]
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_array_equal(a, b)


def test_networks_the_workers_cannot_rebuild_run_in_threads(backend, recwarn, monkeypatch, rng):
    """A layer class of the user's own (even a subclass of a course_lib layer) cannot be rebuilt
    in a fresh process, nor a layer whose record its class refuses: threads, silently. An
    attribute that cannot be pickled: threads, with a warning. The numbers are those of one
    thread."""

    class Twice(Layer):
        per_example = True

        def _forward(self, x):
            return 2 * x, ()

        def _backward(self, dout, cache):
            return 2 * dout, {}

    class MyAffine(Affine):
        pass

    fast.set_num_threads(2)
    backend("processes")
    x = rng.standard_normal((32, 6))
    for model in (Sequential(Affine(6, 3, rng=0), Twice()), Sequential(MyAffine(6, 3, rng=0), ReLU())):
        model.forward(x)
        assert isinstance(model._cache, fast_parallel.BatchSplit) and model._split.backend == "threads"
        assert model.backward(np.ones((32, 3))).shape == (32, 6)
    fast.set_num_threads(1)
    want = Sequential(Affine(6, 3, rng=0), ReLU()).forward(x)
    fast.set_num_threads(2)
    model = Sequential(Affine(6, 3, rng=0), ReLU())
    model.layers[1].callback = lambda: None  # not picklable
    with pytest.warns(RuntimeWarning, match=r"cannot run in worker processes \(a layer attribute cannot be sent"):
        got = model.forward(x)
    assert model._split.backend == "threads"
    np.testing.assert_allclose(got, want, rtol=1e-12)

    monkeypatch.setattr(Affine, "record", lambda self: {"class": "Affine", "config": {"no_such_argument": 1}})
    model = Sequential(Affine(6, 3, rng=0), ReLU())
    got = model.forward(x)  # a record that does not rebuild: threads, decided before any worker sees it
    assert model._split.backend == "threads" and "cannot build Affine" in model._split._no_procs
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert not recwarn.list  # (the unpicklable attribute's warning went to pytest.warns)


def test_workers_that_cannot_start_fall_back_to_threads_with_a_warning(backend, monkeypatch, rng):
    fast.set_num_threads(2)
    fast_parallel.shutdown_workers()  # the next split must start one
    backend("processes")
    monkeypatch.setattr(sys, "executable", str(ROOT / "no-such-python"))
    monkeypatch.setattr(fast_parallel, "_no_processes", None)  # restored after the test
    model = Sequential(Affine(6, 3, rng=0), ReLU())
    x = rng.standard_normal((32, 6))
    with pytest.warns(RuntimeWarning, match="cannot start worker processes"):
        got = model.forward(x)
    assert model._split.backend == "threads"
    fast.set_num_threads(1)
    np.testing.assert_allclose(got, model.forward(x), rtol=1e-12)


def test_set_parallel_backend_rejects_unknown_names(backend):
    with pytest.raises(ValueError, match=r"one of \('processes', 'threads'\), got 'gpu'"):
        fast_parallel.set_parallel_backend("gpu")


def _shared_memory_of(pid: int) -> tuple[int, list[str]]:
    """How many mappings of process ``pid`` are shared memory (memfd or /dev/shm), and the
    descriptors it holds that are files in /dev/shm."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            pass
    return (sum("memfd:" in line or "/dev/shm/" in line for line in maps),
            [link for link in links if link.startswith("/dev/shm/")])


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc")
def test_memory_descriptors_and_processes_do_not_leak(backend, rng):
    """Two networks for 150 steps, a third one dropped on the way: afterwards the parent and the
    worker map no more shared memory and hold no more descriptors than after the first steps
    (the dropped network's memory is given back on both sides), none of it a named file in
    /dev/shm; shutdown_workers ends the worker processes."""
    import gc

    fast.set_num_threads(2)
    backend("processes")

    def nets() -> list[tuple[Sequential, np.ndarray, np.ndarray]]:
        return [(_net(), rng.standard_normal((32, 2, 8, 8)), np.ones((32, 5))),
                (seed_cnn(rng=0), rng.standard_normal((32, 1, 28, 28)).astype(np.float32),
                 np.ones((32, 10), np.float32))]

    kept = nets()
    for model, x, d in kept:
        _step(model, x, d)
    (pid,) = _worker_pids(kept[0][0])
    gc.collect()  # networks of earlier tests (held in cycles, e.g. by tracebacks) go before the baseline
    for model, x, d in kept:
        _step(model, x, d)  # (and the workers hear of it)
    before = {p: _shared_memory_of(p)[0] for p in (os.getpid(), pid)}
    fds_before = {p: len(os.listdir(f"/proc/{p}/fd")) for p in (os.getpid(), pid)}
    dropped = nets()[1]
    _step(*dropped)
    assert _shared_memory_of(os.getpid())[0] > before[os.getpid()]
    del dropped
    gc.collect()
    for _ in range(150):
        for model, x, d in kept:
            _step(model, x, d)
    for p in (os.getpid(), pid):
        count, named = _shared_memory_of(p)
        assert count <= before[p] and named == [], p
        assert len(os.listdir(f"/proc/{p}/fd")) <= fds_before[p], p
    procs = [s.worker.proc for s in kept[0][0]._split._procs.shares]
    fast_parallel.shutdown_workers()
    assert all(p.poll() is not None for p in procs)


_SCRIPT = """
import os, sys, numpy as np
from course_lib import fast
from course_lib.architectures import seed_cnn
fast.set_num_threads(2)
model = seed_cnn(rng=0)
model.forward(np.zeros((32, 1, 28, 28), np.float32))
model.backward(np.ones((32, 10), np.float32))
print(*(s.worker.pid for s in model._split._procs.shares), flush=True)
{end}
"""


def _gone(pid: int, seconds: float = 10.0) -> bool:
    """True once process ``pid`` has ended (it is not our child: /proc tells)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("end", ["exits normally", "is killed"])
def test_workers_end_with_their_parent_without_warnings(end):
    """A script (no ``__main__`` guard, warnings as errors) trains at 2 threads and exits or is
    killed: its worker ends too, and a normal exit prints nothing on stderr (no resource tracker,
    no leaked memory)."""
    code = _SCRIPT.format(end="import signal; os.kill(os.getpid(), signal.SIGKILL)" if end == "is killed" else "")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 1, done.stderr
    assert all(_gone(pid) for pid in pids)
    if end == "exits normally":
        assert done.returncode == 0 and done.stderr == ""
    else:
        assert done.returncode == -signal.SIGKILL
