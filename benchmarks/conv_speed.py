"""Speed of the fast convolution and pooling against the naive loops (ratios, same process).

    python benchmarks/conv_speed.py                  # MNIST-sized defaults
    python benchmarks/conv_speed.py --batch 32 --naive-batch 2 --repeats 5

Times forward + backward of the two convolution and pooling layers of the chapter-9 seed CNN
(conv 1→16 5×5 on 28×28, 2×2 max pool, conv 16→32 5×5 on 12×12, 2×2 max pool) in float32.
The naive loops are timed on a smaller batch and scaled linearly (their cost is proportional
to N). Prints milliseconds per batch and the speed-up fast/naive. Not a test: pytest never
collects benchmarks/.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from course_lib import conv, pooling


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of ``repeats`` runs after one warm-up (least disturbed by other load)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def conv_step(forward, backward, x, w, b, **kw):
    def run():
        out, cache = forward(x, w, b, **kw)
        return backward(np.ones_like(out), cache)
    return run


def pool_step(forward, backward, x, **kw):
    def run():
        out, cache = forward(x, **kw)
        return backward(np.ones_like(out), cache)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64, help="batch size for the fast versions")
    ap.add_argument("--naive-batch", type=int, default=1, help="batch size for the naive loops")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs of the fast versions")
    ap.add_argument("--naive-repeats", type=int, default=2, help="timed runs of the naive loops")
    args = ap.parse_args()

    print("Note: for numbers comparable with other libraries, unset OPENBLAS_NUM_THREADS / "
          "OMP_NUM_THREADS / MKL_NUM_THREADS (set here: "
          + (", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                        "MKL_NUM_THREADS") if k in os.environ) or "none")
          + "); on a shared machine the ratios are more meaningful than the absolute times.")
    rng = np.random.default_rng(0)
    f32 = np.float32
    N, n = args.batch, args.naive_batch
    cases = [
        ("conv 1→16 5×5, 28×28", "conv", (1, 28, 28), (16, 1, 5, 5)),
        ("maxpool 2×2, 16×24×24", "pool", (16, 24, 24), None),
        ("conv 16→32 5×5, 12×12", "conv", (16, 12, 12), (32, 16, 5, 5)),
        ("maxpool 2×2, 32×8×8", "pool", (32, 8, 8), None),
    ]
    print(f"\nforward + backward, float32, fast at N={N}, naive at N={n} scaled to N={N}")
    print(f"{'layer':<26}{'fast ms':>10}{'naive ms':>12}{'speed-up':>10}")
    total_fast = 0.0
    for name, kind, shape, wshape in cases:
        x = rng.standard_normal((N, *shape)).astype(f32)
        xs = x[:n].copy()
        if kind == "conv":
            w = (rng.standard_normal(wshape) * 0.1).astype(f32)
            b = np.zeros(wshape[0], f32)
            fast = conv_step(conv.conv_forward, conv.conv_backward, x, w, b)
            naive = conv_step(conv.conv_forward_naive, conv.conv_backward_naive, xs, w, b)
        else:
            fast = pool_step(pooling.max_pool_forward, pooling.max_pool_backward, x, pool_size=2)
            naive = pool_step(pooling.max_pool_forward_naive, pooling.max_pool_backward_naive, xs, pool_size=2)
        t_fast = best_time(fast, args.repeats)
        t_naive = best_time(naive, args.naive_repeats) * N / n
        total_fast += t_fast
        print(f"{name:<26}{t_fast * 1e3:>10.2f}{t_naive * 1e3:>12.1f}{t_naive / t_fast:>9.0f}×")
    print(f"{'total (fast)':<26}{total_fast * 1e3:>10.2f}")

    # The first layer of a network never needs dL/dimages: conv_backward(..., need_dx=False).
    x = rng.standard_normal((N, 1, 28, 28)).astype(f32)
    w = (rng.standard_normal((16, 1, 5, 5)) * 0.1).astype(f32)
    b = np.zeros(16, f32)
    out, cache = conv.conv_forward(x, w, b)
    dout = np.ones_like(out)
    t_dx = best_time(lambda: conv.conv_backward(dout, cache), args.repeats)
    t_nodx = best_time(lambda: conv.conv_backward(dout, cache, need_dx=False), args.repeats)
    print(f"\nconv 1→16 backward: with dx {t_dx * 1e3:.2f} ms, need_dx=False {t_nodx * 1e3:.2f} ms "
          f"({t_dx / t_nodx:.1f}× faster)")


if __name__ == "__main__":
    main()
