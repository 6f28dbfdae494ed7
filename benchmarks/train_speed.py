"""Training speed and memory of the seed CNN: course_lib (NumPy) against PyTorch (CPU), one run.

What is timed: one training step = forward + softmax cross-entropy + backward + Adam update, on
a batch of 64 float32 MNIST-sized images (1×28×28), for the chapter-9 network
conv 16@5×5 -> ReLU -> max-pool 2 -> conv 32@5×5 -> ReLU -> max-pool 2 -> affine 512→128 -> ReLU
-> affine 128→10. Both libraries run in the same child process on the same random data, at 1 and at 2
threads (BLAS through threadpoolctl, PyTorch through ``torch.set_num_threads``, course_lib's own
batch-splitting pool through ``course_lib.fast.set_num_threads``), in alternating rounds of
``--batches`` steps: round r times every (thread count, library) pair once, the library order
flipping from round to round, so that a noisy neighbour on a shared machine slows both alike.
``--processes`` such child processes (default 3) run one after the other: a process's speed
depends on where its memory lands and where its threads and workers run, so that the rounds of
one process agree closely while the 2-thread ratio of one process differed from another's by up
to ±0.15 here. Reported: the median round per pair over all processes' rounds (ms per step,
wall clock and CPU time of the process and its workers), the ratio course_lib / PyTorch per
thread count (target ≤ 1.0), and the ratio of each process. Only ratios from one run mean
anything on a shared machine; absolute times move with the load.

Memory: the peak resident memory a 200-step training run adds over the process's state after its
imports (and the data), each library in a fresh process of its own, at 1 thread
(``VmHWM`` after the run minus ``VmRSS`` before it; the high-water mark is reset first).

Environment. The child processes start with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``
removed (some machines set them to pin an older OpenBLAS kernel; here they would slow NumPy's
BLAS only) and with ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` removed, so
that the thread count is set from inside; the output names the OpenBLAS kernel that ran. This
applies to the benchmark's own processes only: tests and CI never set or unset these variables.

Where the time goes now (course_lib, 1 thread, ms per step, median of 200 steps, each step of
``Sequential``'s plan timed on its own with ``time.perf_counter``, OpenBLAS as in the benchmark;
idle machine, 2026-12-05 21:30; step 5.37 ms):

==============================  =============  ================================================
step (fwd + bwd)                ms             of which matrix products (BLAS)
==============================  =============  ================================================
conv 1→16 + ReLU + max-pool 2   0.95 + 0.63    0.19 + 0.26
conv 16→32 + ReLU + max-pool 2  1.02 + 2.19    0.48 + 0.53 (dW) + 0.61 (dx, 25 offsets)
the other 6 layers              0.28           0.13
loss + Adam                     0.08 + 0.22
==============================  =============  ================================================

The products run at ~255 GFLOP/s (AVX-512 kernel) and take ~2.2 ms; the rest is copies
(im2col; col2im's zeroing and 25 scatter-adds, ~0.55 ms), pooling and Python. How it got
here (same machine, ratios against PyTorch from one run each; the intermediate runs were on a
busier machine than the committed one):

- Recycled result memory (0 page faults per step instead of ~1200, ~1.5 ms) and a ReLU into
  reused memory: 8.1 -> 6.7 ms at 1 thread.
- A data-parallel ``Sequential``: each share of the batch through the whole network on its own
  thread with one BLAS thread (``course_lib.fast.parallel``); one flat Adam update. With threads
  two shares still took ~1.45x as long as one alone: the GIL hand-offs of ~150 NumPy calls per
  share.
- ReLU -> MaxPool2D run as max pool -> ReLU, then Conv2D -> ReLU -> MaxPool2D as one fused step
  (``course_lib.fast.fused``: the product's rows in pooling-window order, pooling as a few
  maxima of contiguous slabs, the ReLU on the pooled values): 1 thread 1.20x -> 1.02x, the
  step 7.1 -> 6.3 ms in that run.
- The shares after the first in worker *processes* (``course_lib.fast.parallel``'s default
  backend; ``--backends threads processes`` times both in one run): no GIL between the shares.
  ms per step at 2 threads, threads / processes / PyTorch, one run each: 5.06 / 4.51 / 4.17
  (load 0.8); once the worker and the parent poll their socket for up to 1 and 0.5 ms before
  sleeping (waking a process costs ~60 us, four times per step): 4.87 / 3.76 / 4.18 (load 2.2).
  When the machine's other core is busy with other work neither split gains (the shares wait
  for a CPU); in short loaded runs the process split then came out slower than the thread split.
- At two threads each process's working set matters: two processes running the step on 32
  examples each slowed by ~1.3x against one alone, on 16 examples by ~1.08x (they share the L3
  cache and the memory bus). col2im's products one kernel row at a time (0.65 MB instead of
  3.3 MB for the second layer, still in the cache when added): the step ~5% faster at 1 and at
  2 threads (6 + 6 fresh processes alternated, medians 3.65 -> 3.4 ms and 5.75 -> 5.4 ms).
  The same for the second layer's forward (columns one slab at a time) measured no gain.

The two libraries share the process's allocator, so one's allocation pattern moves the other's
times. PyTorch alone faults pages too (same machine, one run each: 7.96 ms at 1 thread, 5.14 ms
at 2; with glibc's trimming switched off, ``MALLOC_TRIM_THRESHOLD_``/``MALLOC_MMAP_THRESHOLD_``:
6.37 and 3.90 ms). Beside the old course_lib, which returned its large arrays to the system at
every step, it kept faulting (PyTorch 7.0 ms at 1 thread, 6.7 at 2, in the 17:48 run); beside
the new one, which keeps its memory, it does not (6.1 and 3.9 ms). Its figures here are
therefore its compute without page faults, and the ratio is the harder one.

PyTorch is an optional dependency (``pip install -e ".[bench]"``, CPU build); the library never
imports it.

Usage::

    python benchmarks/train_speed.py [--batches 50] [--rounds 5] [--processes 3] [--threads 1 2]
                                     [--backends threads processes]
                                     [--memory-steps 200] [--out benchmarks/results/train_speed.txt]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64
_DROP = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
         "MKL_NUM_THREADS", "GOTO_NUM_THREADS")


# ------------------------------------------------------------------------------------------------
# The two training steps
# ------------------------------------------------------------------------------------------------

class CourseLibRunner:
    """The course_lib network plus an Adam optimiser; ``step`` trains on one batch, its shares
    k > 0 (at several threads) in ``backend`` (``course_lib.fast.set_parallel_backend``; None:
    the library's default)."""

    def __init__(self, backend: str | None = None) -> None:
        import numpy as np

        from course_lib.architectures import seed_cnn
        from course_lib.fast import parallel
        from course_lib.gradient_descent import make_optimizer
        from course_lib.loss import softmax_cross_entropy

        self.np, self.loss = np, softmax_cross_entropy
        self.model = seed_cnn(dtype=np.float32, rng=0)
        self.opt = make_optimizer("adam", learning_rate=1e-3)
        self.params = self.model.parameters()
        self.backend = backend or parallel.get_parallel_backend()
        self.set_backend = parallel.set_parallel_backend

    def step(self, xb, yb) -> float:
        self.set_backend(self.backend)
        scores = self.model.forward(xb)
        loss, dscores = self.loss(scores, yb)
        self.model.backward(dscores.astype(self.np.float32, copy=False))
        self.opt.step(self.params, self.model.gradients())
        return loss


class TorchRunner:
    """The identical network in PyTorch (same shapes, its default init, Adam 1e-3)."""

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

    def step(self, xb, yb) -> float:
        x = self.torch.from_numpy(xb)
        y = self.torch.from_numpy(yb)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def make_data(n_batches: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.random((n_batches, BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=(n_batches, BATCH))
    return X, y


def set_threads(n: int, torch) -> None:
    from threadpoolctl import threadpool_limits

    from course_lib import fast

    threadpool_limits(limits=n, user_api="blas")
    fast.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------------
# Child processes
# ------------------------------------------------------------------------------------------------

def _cpu_seconds() -> float:
    """CPU time of this process and of course_lib's worker processes (``/proc/PID/schedstat``)."""
    from course_lib.fast._procs import worker_pids

    total = time.process_time()
    for pid in worker_pids():
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return total


def child_time(batches: int, rounds: int, threads: list[int], backends: list[str] | None = None) -> dict:
    """Alternating rounds; returns per (library, threads) the wall and CPU seconds per step.
    With ``backends``, one course_lib runner per backend (``"course_lib/threads"``, ...)."""
    from threadpoolctl import threadpool_info

    X, y = make_data(batches)
    import torch

    runners: dict = ({"course_lib": CourseLibRunner()} if not backends else
                     {f"course_lib/{b}": CourseLibRunner(b) for b in backends})
    runners["PyTorch"] = TorchRunner()
    for t in threads:  # warm-up: buffers, BLAS kernels, autograd graphs, thread pools
        set_threads(t, torch)
        for r in runners.values():
            for i in range(min(5, batches)):
                r.step(X[i], y[i])
    times: dict[str, list[list[float]]] = {f"{name}@{t}": [] for name in runners for t in threads}
    for rnd in range(rounds):
        for t in threads:
            set_threads(t, torch)
            order = list(runners) if rnd % 2 == 0 else list(reversed(runners))
            for name in order:
                t0, c0 = time.perf_counter(), _cpu_seconds()
                for xb, yb in zip(X, y):
                    runners[name].step(xb, yb)
                times[f"{name}@{t}"].append([(time.perf_counter() - t0) / batches,
                                             (_cpu_seconds() - c0) / batches])
    blas = [f"{p['internal_api']} {p.get('version')} ({p.get('architecture')} kernel)"
            for p in threadpool_info() if p.get("user_api") == "blas"]
    import numpy as np

    return {"times": times, "blas": blas, "numpy": np.__version__, "torch": torch.__version__}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child_memory(library: str, steps: int) -> dict:
    """Peak RSS a ``steps``-step run adds over the state after imports and data (MiB)."""
    import numpy as np  # noqa: F401 - both libraries' imports before the baseline

    if library == "PyTorch":
        import torch

        torch.set_num_threads(1)
    else:
        import course_lib.architectures
        import course_lib.gradient_descent
        import course_lib.loss  # noqa: F401
        from course_lib import fast

        fast.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    X, y = make_data(10)
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark VmHWM to VmRSS
    before = _status_kib("VmRSS")
    runner = TorchRunner() if library == "PyTorch" else CourseLibRunner()
    for i in range(steps):
        runner.step(X[i % len(X)], y[i % len(y)])
    peak = _status_kib("VmHWM")
    return {"before_mib": before / 1024, "peak_mib": peak / 1024, "added_mib": (peak - before) / 1024}


# ------------------------------------------------------------------------------------------------
# The parent: runs the children, prints the report
# ------------------------------------------------------------------------------------------------

def _run_child(args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine() -> str:
    model, cores = platform.processor() or "unknown CPU", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        cores = f"{fields.get('CPU(s)', cores).strip()} CPU(s), {fields.get('Core(s) per socket', '?').strip()} core(s) per socket"
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    return f"{model}, {cores}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=50, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per process (>= 5 for the protocol)")
    p.add_argument("--processes", type=int, default=3,
                   help="fresh timing processes, one after the other; the medians are over all their rounds")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to compare")
    p.add_argument("--backends", nargs="+", choices=["processes", "threads"], default=None,
                   help="time course_lib with each parallel backend (default: the library's default only)")
    p.add_argument("--memory-steps", type=int, default=200, help="steps of the memory run (0: skip)")
    p.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    p.add_argument("--child", choices=["time", "memory-course_lib", "memory-PyTorch"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child == "time":
        print(json.dumps(child_time(a.batches, a.rounds, a.threads, a.backends)))
        return 0
    if a.child:
        print(json.dumps(child_memory(a.child.split("-", 1)[1], a.memory_steps)))
        return 0
    if a.batches < 1 or a.rounds < 1 or a.processes < 1 or min(a.threads) < 1:
        p.error("--batches, --rounds, --processes and --threads must be >= 1")

    command = "python benchmarks/train_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "Seed CNN training step (forward + backward + Adam), batch 64, float32",
        f"date:     {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"machine:  {_machine()}",
        f"command:  {command}",
        f"load:     {os.getloadavg()[0]:.1f} at the start (1-minute load average; "
        f"{os.cpu_count()} CPUs): how busy the machine was with other work",
    ]
    # Several fresh processes: the speed of a process varies with where its memory lands (and
    # where its worker runs); within one process the rounds agree closely, between processes the
    # 2-thread ratio moved by up to ±0.15 on this machine.
    runs = [_run_child(["--child", "time", "--batches", str(a.batches), "--rounds", str(a.rounds),
                        "--threads", *map(str, a.threads), *(["--backends", *a.backends] if a.backends else [])])
            for _ in range(a.processes)]
    res = dict(runs[0], times={k: [r for run in runs for r in run["times"][k]] for k in runs[0]["times"]})
    ours_keys = [k for k in dict.fromkeys(k.rsplit("@", 1)[0] for k in res["times"]) if k != "PyTorch"]
    lines += [
        f"versions: Python {platform.python_version()}, NumPy {res['numpy']}, PyTorch {res['torch']}",
        f"BLAS:     {'; '.join(res['blas'])}; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in the "
        "benchmark's processes",
        f"protocol: {a.processes} fresh processes one after the other, each {a.rounds} alternating rounds of "
        f"{a.batches} steps per (threads, library); medians over all {a.processes * a.rounds} rounds. The machine "
        "may be shared with other jobs: only the ratios of one run count.",
        "",
        f"{'threads':>7}  {'course_lib ms':>13}  {'PyTorch ms':>10}  {'ratio (wall)':>12}  {'ratio (CPU)':>11}",
    ]
    for ours_key in ours_keys:
        if len(ours_keys) > 1:
            lines.append(f"{ours_key}:")
        for t in a.threads:
            ours, theirs = res["times"][f"{ours_key}@{t}"], res["times"][f"PyTorch@{t}"]
            w_o, w_t = (statistics.median(r[0] for r in x) * 1e3 for x in (ours, theirs))
            c_o, c_t = (statistics.median(r[1] for r in x) * 1e3 for x in (ours, theirs))
            lines.append(f"{t:>7}  {w_o:>13.2f}  {w_t:>10.2f}  {w_o / w_t:>11.2f}x  {c_o / c_t:>10.2f}x")
    lines.append("(ms per step: median wall time; the CPU ratio uses the CPU time of all threads and of "
                 "course_lib's worker processes)")
    lines.append(f"load:     {os.getloadavg()[0]:.1f} at the end of the timing")
    for ours_key in ours_keys:
        for t in a.threads:
            each = []
            for run in runs:
                ours, theirs = run["times"][f"{ours_key}@{t}"], run["times"][f"PyTorch@{t}"]
                each.append(statistics.median(r[0] for r in ours) / statistics.median(r[0] for r in theirs))
            lines.append(f"  {t} thread(s), ratio (wall) of each process: {', '.join(f'{x:.2f}x' for x in each)}")
    for ours_key in ours_keys:
        for t in a.threads:
            per_round = ", ".join(f"{r[0] * 1e3:.1f}/{s[0] * 1e3:.1f}"
                                  for r, s in zip(res["times"][f"{ours_key}@{t}"], res["times"][f"PyTorch@{t}"]))
            lines.append(f"  {t} thread(s), ms per round, {ours_key}/PyTorch: {per_round}")
    if a.memory_steps:
        lines += ["", f"Peak resident memory a {a.memory_steps}-step run adds over the state after its "
                      "imports (a fresh process each, 1 thread):"]
        mem = {lib: _run_child(["--child", f"memory-{lib}", "--memory-steps", str(a.memory_steps)])
               for lib in ("course_lib", "PyTorch")}
        for lib, m in mem.items():
            lines.append(f"  {lib:<10}: +{m['added_mib']:6.1f} MiB (from {m['before_mib']:.1f} to a peak of {m['peak_mib']:.1f} MiB)")
        lines.append(f"  ratio course_lib / PyTorch: {mem['course_lib']['added_mib'] / mem['PyTorch']['added_mib']:.2f}x")
    # Lines of at most 76 characters: the book prints this file as it is.
    report = "\n".join(textwrap.fill(line, 76, subsequent_indent=" " * (10 if line[:10].rstrip().endswith(":") else 4))
                       if len(line) > 76 else line for line in lines)
    print(report)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
