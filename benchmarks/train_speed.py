"""Training speed of the seed CNN: course_lib (NumPy) against the same network in PyTorch (CPU).

What is timed: one training step = forward + softmax cross-entropy + backward + Adam update, on
a batch of 64 float32 MNIST-sized images (1×28×28), for the chapter-9 network
conv 16@5×5 -> ReLU -> max-pool 2 -> conv 32@5×5 -> ReLU -> max-pool 2 -> affine 512→128 -> ReLU
-> affine 128→10. Both implementations run in this process, on the same random data, for
``--batches`` steps per round (default 100 ≈ 1/9 of an MNIST epoch); rounds alternate between
the two (course_lib, torch, course_lib, torch, ...) so that a noisy neighbour on a shared machine
slows both alike, and the *median* round is reported. Output: ms per batch for each, and the
ratio course_lib / PyTorch (target ≤ 1.0, acceptable ≤ 1.5).

Threads: PyTorch is limited to as many threads as NumPy's BLAS uses (``threadpoolctl`` reports
them), so neither side gets more cores than the other. For a fair and stable measurement, run on
an otherwise idle machine and mind the environment variables that OpenBLAS (NumPy's BLAS in the
PyPI wheels) and OpenMP (PyTorch's intra-op pool) read at start-up:

- ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``: if a parent shell exported ``=1`` (common on
  clusters and in some CI images), NumPy runs single-threaded while you think it uses all
  cores. Unset both (``env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS python ...``) to let each
  library use every core, or set both to the same number to compare at a fixed thread count;
  ``--threads N`` does the latter from inside (through threadpoolctl and torch.set_num_threads).
- ``MKL_NUM_THREADS`` matters only for an MKL build of NumPy; ``GOTO_NUM_THREADS`` is an old
  OpenBLAS alias.

These variables are for benchmarking only: the tests and CI never set them (and must not — they
would hide a thread-related slowdown instead of measuring it). On a shared machine, compare at one
thread (``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/train_speed.py --threads 1``)
and read the CPU-time line: waiting for a core then costs neither side anything.

Memory allocator. Both libraries allocate megabytes of fresh arrays per step (activations and
their gradients). glibc's malloc hands freed memory at the top of its heap back to the operating
system and the next step takes a page fault per 4 KiB page to get it again; on a virtual machine
that was 5-10 ms per step for *each* library (the ``faults/step`` column). course_lib's layers
keep their large internal buffers between steps to limit this; it also hits PyTorch, whose CPU
allocator is glibc's malloc too. To see both without this overhead, raise glibc's thresholds
for the run (not a setting for the library or its tests):
``GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456``.

PyTorch is an optional dependency (``pip install -e ".[bench]"``, CPU build); the library never
imports it. ``--profile`` adds a cProfile of the course_lib step, sorted by own time, to show
where the time goes.

Usage::

    python benchmarks/train_speed.py [--batches 100] [--rounds 5] [--threads N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib.architectures import seed_cnn
from course_lib.gradient_descent import make_optimizer
from course_lib.loss import softmax_cross_entropy

BATCH = 64


def blas_threads() -> int:
    """Threads NumPy's BLAS will use (1 if threadpoolctl cannot tell)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 1
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else 1


def make_data(n_batches: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n_batches, BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=(n_batches, BATCH))
    return X, y


class CourseLibRunner:
    """The course_lib network plus an Adam optimiser; ``step`` trains on one batch."""

    def __init__(self) -> None:
        self.model = seed_cnn(dtype=np.float32, rng=0)
        self.opt = make_optimizer("adam", learning_rate=1e-3)
        self.params = self.model.parameters()

    def step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        scores = self.model.forward(xb)
        loss, dscores = softmax_cross_entropy(scores, yb)
        self.model.backward(dscores.astype(np.float32, copy=False))
        self.opt.step(self.params, self.model.gradients())
        return loss


class TorchRunner:
    """The identical network in PyTorch (same shapes, He-style default init, Adam 1e-3)."""

    def __init__(self) -> None:
        import torch
        from torch import nn

        self.torch = torch
        torch.manual_seed(0)
        self.model = nn.Sequential(
            nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = nn.CrossEntropyLoss()

    def step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        x = self.torch.from_numpy(xb)
        y = self.torch.from_numpy(yb)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def time_round(runner: object, X: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, minor page faults) per batch over one pass through the batches.

    CPU time (all threads of this process) is the steadier number on a shared machine: time
    spent waiting for a core does not count. With one thread it equals the wall time of an idle
    machine; with several, threads that spin while waiting inflate it.
    """
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0, c0 = time.perf_counter(), time.process_time()
    for xb, yb in zip(X, y):
        runner.step(xb, yb)  # type: ignore[attr-defined]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return wall / len(X), cpu / len(X), faults / len(X)


def profile_course_lib(X: np.ndarray, y: np.ndarray, top: int = 25) -> str:
    runner = CourseLibRunner()
    runner.step(X[0], y[0])
    prof = cProfile.Profile()
    prof.enable()
    for xb, yb in zip(X, y):
        runner.step(xb, yb)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=100, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per implementation")
    p.add_argument("--threads", type=int, default=None, help="thread count for both (default: NumPy's BLAS threads)")
    p.add_argument("--profile", action="store_true", help="cProfile the course_lib step")
    a = p.parse_args(argv)

    threads = a.threads or blas_threads()
    if a.threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            p.error("--threads needs threadpoolctl (pip install threadpoolctl); or set "
                    "OPENBLAS_NUM_THREADS and OMP_NUM_THREADS before starting Python")
        threadpool_limits(a.threads)
    X, y = make_data(a.batches)
    print(f"seed CNN, batch {BATCH}, float32, {a.batches} steps x {a.rounds} rounds; threads: {threads}")
    print(f"NumPy {np.__version__}")

    ours = CourseLibRunner()
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed (pip install -e '.[bench]'): timing course_lib only")
        torch = None
    theirs = None
    if torch is not None:
        torch.set_num_threads(threads)
        print(f"PyTorch {torch.__version__} with {torch.get_num_threads()} thread(s)")
        theirs = TorchRunner()

    # Warm-up: first calls allocate buffers, load BLAS kernels, build autograd graphs.
    for runner in (ours, theirs):
        if runner is not None:
            for i in range(min(5, a.batches)):
                runner.step(X[i], y[i])

    t_ours: list[tuple[float, float, float]] = []
    t_theirs: list[tuple[float, float, float]] = []
    for _ in range(a.rounds):
        t_ours.append(time_round(ours, X, y))
        if theirs is not None:
            t_theirs.append(time_round(theirs, X, y))

    def report(name: str, times: list[tuple[float, float, float]]) -> tuple[float, float]:
        wall = statistics.median(t for t, _, _ in times) * 1e3
        cpu = statistics.median(c for _, c, _ in times) * 1e3
        faults = statistics.median(f for _, _, f in times)
        rounds = ", ".join(f"{t * 1e3:.1f}" for t, _, _ in times)
        print(f"{name:<11}: {wall:7.2f} ms/batch wall, {cpu:7.2f} ms/batch CPU, {faults:6.0f} faults/step"
              f"  (wall per round: {rounds})")
        return wall, cpu

    w_ours, c_ours = report("course_lib", t_ours)
    if theirs is not None:
        w_theirs, c_theirs = report("PyTorch", t_theirs)
        for what, ratio in (("wall", w_ours / w_theirs), ("CPU", c_ours / c_theirs)):
            verdict = "target met" if ratio <= 1.0 else ("acceptable" if ratio <= 1.5 else "SLOWER than the 1.5x limit")
            print(f"ratio course_lib / PyTorch ({what} time): {ratio:.2f}  ({verdict}; target <= 1.0, limit 1.5)")
    if a.profile:
        print("\ncProfile of the course_lib training step (sorted by own time):")
        print(profile_course_lib(X, y))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
