"""The tuned code paths of the layer classes, kept apart from the code the book explains.

The chapter modules hold the functions the book walks through — :func:`course_lib.conv.conv_forward`
follows the im2col recipe of chapter 4, :func:`course_lib.pooling.max_pool_forward` loops over
window offsets, :func:`course_lib.gradient_descent.adam` is the update rule of chapter 3. The
layer classes (:class:`~course_lib.conv.Conv2D`, :class:`~course_lib.pooling.MaxPool2D`,
:class:`~course_lib.neuron.ReLU`) and :class:`~course_lib.gradient_descent.Optimizer` call the
versions in this package instead, which compute the same numbers faster:

- :mod:`course_lib.fast.conv`: channels-last im2col with cache blocking and a folded bias,
  the input gradient as one small product per kernel offset;
- :mod:`course_lib.fast.pooling`: max pooling over channels-last memory in two stages;
- :mod:`course_lib.fast.activations`: ReLU into reused memory;
- :mod:`course_lib.fast.optim`: Adam in place, one flat update over all parameters;
- :mod:`course_lib.fast.parallel`: :class:`~course_lib.architectures.Sequential` runs a large
  batch data-parallel, one share of the examples per thread (:func:`set_num_threads`); the
  shares after the first run in worker processes (:func:`set_parallel_backend`: ``"processes"``,
  the default, or ``"threads"``), which the GIL does not slow down: at 2 threads the seed CNN's
  training step takes ~0.8x the time of the thread split (``benchmarks/train_speed.py
  --backends threads processes``). A network with a layer class of the user's own runs in
  threads (a worker process rebuilds the layers from their records and cannot import a class
  defined in a notebook). Workers start on first use (~0.2 s), are shared by all networks, and
  end with the process or :func:`shutdown_workers`;
- :mod:`course_lib.fast.fused`: Conv2D -> ReLU -> MaxPool2D as one step, for
  :class:`~course_lib.architectures.Sequential` (the product's rows in window-offset order, so
  that pooling is a few maxima of contiguous slabs and the ReLU runs on the pooled values).

:class:`~course_lib.architectures.Sequential` runs its layers through a small plan of steps:
one layer, or a group run as one — Conv2D -> ReLU -> MaxPool2D fused where the windows tile the
convolution's output, and a ReLU followed by max pooling as pooling followed by the ReLU (the
same numbers and gradients, a quarter of the ReLU's work).

Layers keep their internal buffers between steps (a *workspace*) and hand out results in memory
reused once nobody holds it any more (so a training step touches no fresh pages). Every
function here is tested against its teaching counterpart (``tests/test_fast.py``): forward
passes and gradients agree to float32 rounding (float64: to ~1e-10), and a 200-step training
run gives the same losses.
"""

from __future__ import annotations

from course_lib.fast._threads import get_num_threads, set_num_threads
from course_lib.fast.parallel import get_parallel_backend, set_parallel_backend, shutdown_workers

__all__ = ["get_num_threads", "get_parallel_backend", "set_num_threads", "set_parallel_backend", "shutdown_workers"]
