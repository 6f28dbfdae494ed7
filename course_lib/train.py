"""Training infrastructure: the mini-batch loop, metrics, learning curves, checkpoints and a CLI.

:func:`fit` is the course's one training loop for networks, and :class:`History` its one record.
One epoch visits every training example once, in a fresh random order, in mini-batches. For
each batch: forward pass -> loss and ``dL/dscores`` -> backward pass (every layer stores its
parameter gradients) -> one optimiser step. After the epoch it measures the accuracy on the
validation (and, on request, the test) split in evaluation mode, so Dropout is off and
BatchNorm uses its running statistics.

Two kinds of model train with it: a :class:`~course_lib.architectures.Sequential` (chapter 9),
and a model in the CS231n style (chapter 6's ``TwoLayerNet``): ``params`` (name -> array) and
``loss(X) -> scores``, ``loss(X, y) -> (loss, grads)``, the loss function built in.

Everything random — the batch order, the augmentation shifts — is drawn from one generator
seeded by ``seed``; the weights come from the model's own ``rng``. The same seeds give the same
run, number for number (on the same machine: BLAS may sum in a different order elsewhere).

Command line (writes ``<out>/model.npz`` and ``<out>/history.json``)::

    python -m course_lib.train --model seed_cnn --epochs 10 --batch-size 64 --lr 1e-3 \\
        --schedule cosine --augment shift --out runs/seed_cnn
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from course_lib import loss as loss_module
from course_lib.architectures import Sequential
from course_lib.data import Dataset, iterate_minibatches
from course_lib.gradient_descent import Optimizer, cosine_annealing, make_optimizer, step_decay
from course_lib.history import History
from course_lib.init import as_rng
from course_lib.validate import check_array, check_int, check_labels, check_number

__all__ = [
    "History",
    "Metrics",
    "confusion_matrix",
    "evaluate",
    "fit",
    "main",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_misclassified",
    "random_shift",
]

LossFn = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]
Schedule = Callable[[int, int], float]
_LOSSES = ("softmax_cross_entropy", "hinge_loss")
_SCHEDULES = ("constant", "cosine", "step")


# ------------------------------------------------------------------------------------------------
# History and metrics
# ------------------------------------------------------------------------------------------------

class Metrics(NamedTuple):
    """Mean loss and accuracy (fraction in [0, 1]) of a model on a labelled set."""

    loss: float
    accuracy: float


def _loss_fn(loss: str | LossFn) -> LossFn:
    if callable(loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name or a function (scores, y) -> (loss, dscores), got {type(loss).__name__}")
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {list(_LOSSES)} or a function, got {loss!r}")
    return getattr(loss_module, loss)


def _is_loss_model(model: object) -> bool:
    """A CS231n-style model: ``params`` and ``loss(X[, y])`` (chapter 6's TwoLayerNet)."""
    return not isinstance(model, Sequential) and isinstance(getattr(model, "params", None), dict) \
        and callable(getattr(model, "loss", None))


def _check_model(model: object) -> None:
    if not (isinstance(model, Sequential) or _is_loss_model(model)):
        raise TypeError(
            "model must be a Sequential or a model with params and loss(X, y) -> (loss, grads), "
            f"got {type(model).__name__}"
        )


def _scores(model: Any, X: np.ndarray, batch_size: int) -> np.ndarray:
    """Class scores ``(N, K)`` in evaluation mode, in batches."""
    if isinstance(model, Sequential):
        return model.predict(X, batch_size=batch_size)
    return np.concatenate([model.loss(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])


def _check_xy(model: Any, X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    _check_model(model)
    X = check_array(X, "X")
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty batch (N, ...), got shape {X.shape}")
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must be an integer label array, got {type(y).__name__}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X {X.shape}, got {y.shape}")
    return X, y


def evaluate(model: Sequential | Any, X: np.ndarray, y: np.ndarray, batch_size: int = 500, *,
             loss: str | LossFn = "softmax_cross_entropy") -> Metrics:
    """Loss and accuracy of ``model`` on ``X (N, ...)`` with labels ``y (N,)``, in evaluation mode.

    Computed in batches (memory), weighted by batch size; the model's mode is restored after.
    ``loss`` is applied to the scores (for a CS231n-style model: its data loss, without the
    regularisation term).
    """
    X, y = _check_xy(model, X, y)
    batch_size = check_int(batch_size, "batch_size", low=1)
    fn = _loss_fn(loss)
    scores = _scores(model, X, batch_size)
    check_labels(y, scores.shape[0], scores.shape[1])
    total = 0.0
    for i in range(0, len(X), batch_size):
        total += fn(scores[i : i + batch_size], y[i : i + batch_size])[0] * len(y[i : i + batch_size])
    return Metrics(total / len(X), float(np.mean(scores.argmax(axis=1) == y)))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` = number of examples of true class i predicted as class j.

    Args:
        y_true, y_pred: integer labels of shape ``(N,)``.
        num_classes: K; default ``max(label) + 1``.

    Returns:
        ``(K, K)`` int64 array; rows sum to the class frequencies, the trace counts the hits.
    """
    for name, v in (("y_true", y_true), ("y_pred", y_pred)):
        if not isinstance(v, np.ndarray) or not np.issubdtype(v.dtype, np.integer):
            raise TypeError(f"{name} must be an integer label array, got {type(v).__name__}")
        if v.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {v.shape}")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    k = check_int(num_classes, "num_classes", low=1)
    check_labels(y_true, len(y_true), k, "y_true")
    check_labels(y_pred, len(y_pred), k, "y_pred")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


# ------------------------------------------------------------------------------------------------
# Augmentation and schedules
# ------------------------------------------------------------------------------------------------

def random_shift(X: np.ndarray, max_shift: int = 2, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Shift each image ``(N, C, H, W)`` by a random whole number of pixels in [−max_shift, max_shift].

    Both directions independently; pixels shifted in from outside are 0 (MNIST's background).
    A digit moved by two pixels is still the same digit, so the network is shown "new" examples
    it must classify the same way — a cheap regulariser. Returns a new array.
    """
    X = check_array(X, "X", ndim=4)
    s = check_int(max_shift, "max_shift", low=0)
    if s == 0:
        return X.copy()
    gen = as_rng(rng)
    n, _, h, w = X.shape
    padded = np.pad(X, ((0, 0), (0, 0), (s, s), (s, s)))
    dy = gen.integers(-s, s + 1, size=n)
    dx = gen.integers(-s, s + 1, size=n)
    out = np.empty_like(X)
    # One slice per distinct offset (at most (2s+1)² of them) instead of a Python loop per image.
    for oy in range(-s, s + 1):
        for ox in range(-s, s + 1):
            idx = np.flatnonzero((dy == oy) & (dx == ox))
            if idx.size:
                out[idx] = padded[idx, :, s + oy : s + oy + h, s + ox : s + ox + w]
    return out


def _schedule(lr_schedule: str | Schedule | None, lr0: float) -> Schedule:
    """A function ``(step, total_steps) -> learning rate``; strings name the built-in schedules."""
    if lr_schedule is None or lr_schedule == "constant":
        return lambda step, total: lr0
    if lr_schedule == "cosine":
        # Per step, not per epoch: no jumps in the learning rate at epoch boundaries.
        return lambda step, total: cosine_annealing(lr0, step, total)
    if lr_schedule == "step":
        # Halve three times over the run (after 1/4, 1/2, 3/4 of the steps, floor'd).
        return lambda step, total: step_decay(lr0, step, drop=0.5, every=max(1, total // 4))
    if callable(lr_schedule):
        return lr_schedule
    raise ValueError(f"lr_schedule must be one of {list(_SCHEDULES)}, a function (step, total) -> lr, or None; got {lr_schedule!r}")


def _augment_fn(augment: str | Callable[..., np.ndarray] | None) -> Callable[[np.ndarray, np.random.Generator], np.ndarray] | None:
    if augment is None:
        return None
    if augment == "shift":
        return lambda X, rng: random_shift(X, 2, rng)
    if callable(augment):
        return augment
    raise ValueError(f"augment must be None, 'shift' or a function (X, rng) -> X, got {augment!r}")


# ------------------------------------------------------------------------------------------------
# The training loop
# ------------------------------------------------------------------------------------------------

def fit(
    model: Sequential | Any,
    data: Dataset,
    optimizer: Optimizer | str,
    epochs: int,
    batch_size: int = 64,
    *,
    learning_rate: float | None = None,
    lr_schedule: str | Schedule | None = None,
    weight_decay: float = 0.0,
    val: bool = True,
    test: bool = False,
    progress: bool = True,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    augment: str | Callable[..., np.ndarray] | None = None,
    loss: str | LossFn = "softmax_cross_entropy",
    log: Callable[[str], None] | None = None,
    keep_best: bool = False,
) -> History:
    """Train ``model`` on ``data.X_train``/``data.y_train`` with mini-batch gradient descent.

    Args:
        model: a :class:`~course_lib.architectures.Sequential`, whose scores ``(B, K)`` go into
            ``loss``; or a CS231n-style model (``params``, ``loss(X) -> scores`` and
            ``loss(X, y) -> (loss, grads)`` with its own loss function, e.g. chapter 6's
            ``TwoLayerNet``), for which ``loss`` only scores the evaluations.
        data: a :class:`course_lib.data.Dataset` (``X_train (N, ...)``, ``y_train (N,)``, ...).
        optimizer: an :class:`~course_lib.gradient_descent.Optimizer` or a rule name (``"adam"``),
            then built with ``learning_rate``.
        epochs: passes over the training set, ≥ 1.
        batch_size: examples per step, ≥ 1 (the last batch of an epoch may be smaller).
        learning_rate: initial learning rate when ``optimizer`` is a name (default: the rule's).
        lr_schedule: None/"constant", "cosine" (per step, to 0 at the end), "step" (halved after
            each quarter of the run) or a function ``(step, total_steps) -> lr``.
        weight_decay: decoupled weight decay λ (as in AdamW): after each step every weight with
            more than one axis shrinks by ``lr·λ·w``; biases and BatchNorm's γ, β are exempt.
        val: evaluate ``data.X_val`` after every epoch (skipped if the split is empty).
        test: also evaluate ``data.X_test`` after every epoch (to report, never to choose by).
        progress: show a tqdm progress bar per epoch.
        seed: seed of the batch order and the augmentation.
        checkpoint_dir: if given, write ``last.npz`` after every epoch, ``best.npz`` when the
            validation accuracy improves, and ``history.json``.
        augment: None, ``"shift"`` (random shifts by up to ±2 pixels) or ``f(X, rng) -> X``.
        loss: ``"softmax_cross_entropy"``, ``"hinge_loss"`` or ``f(scores, y) -> (loss, dscores)``.
        log: called with one line of text per epoch (e.g. ``print``).
        keep_best: at the end, restore the parameters (and layer state, such as BatchNorm's
            running averages) of the epoch with the best validation accuracy (needs ``val``);
            otherwise the model keeps its final weights.

    Returns:
        the :class:`History`. The model is left in evaluation mode.
    """
    _check_model(model)
    sequential = isinstance(model, Sequential)
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a course_lib.data.Dataset, got {type(data).__name__}")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    seed = check_int(seed, "seed", low=0)
    weight_decay = check_number(weight_decay, "weight_decay", low=0)
    if isinstance(optimizer, str):
        hyper = {} if learning_rate is None else {"learning_rate": check_number(learning_rate, "learning_rate", low=0, low_inclusive=False)}
        optimizer = make_optimizer(optimizer, **hyper)
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer or a rule name, got {type(optimizer).__name__}")
    elif learning_rate is not None:
        optimizer.learning_rate = learning_rate
    loss_fn = _loss_fn(loss)
    schedule = _schedule(lr_schedule, optimizer.learning_rate)
    aug = _augment_fn(augment)
    X, y = _check_xy(model, data.X_train, data.y_train)
    n = X.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    use_val = val and data.X_val.shape[0] > 0
    if keep_best and not use_val:
        raise ValueError("keep_best=True needs a validation split (val=True and data.X_val not empty)")
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        if not sequential:
            raise TypeError("checkpoint_dir needs a Sequential model (it saves with Sequential.save)")
        ckpt.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    params = model.parameters() if sequential else model.params
    decayed = [k for k, v in params.items() if v.ndim > 1]
    history = History(config={
        "optimizer": optimizer.name, "hyper": dict(optimizer.hyper), "epochs": epochs,
        "batch_size": batch_size, "lr_schedule": lr_schedule if isinstance(lr_schedule, str | None) else "custom",
        "weight_decay": weight_decay, "augment": augment if isinstance(augment, str | None) else "custom",
        "seed": seed, "n_train": n,
    })
    best = -1.0
    best_params: dict[str, np.ndarray] | None = None
    best_state: dict[str, np.ndarray] = {}
    step = 0
    for epoch in range(1, epochs + 1):
        if sequential:
            model.train()
        t0 = time.perf_counter()
        loss_sum = 0.0
        hits = 0
        batches = iterate_minibatches(X, y, batch_size, shuffle=True, rng=rng)
        bar = _progress(batches, steps_per_epoch, f"epoch {epoch}/{epochs}", progress)
        for xb, yb in bar:
            lr = float(schedule(step, total_steps))
            if lr > 0:
                optimizer.learning_rate = lr
            if aug is not None:
                xb = aug(xb, rng)
            scores = model.forward(xb) if sequential else model.loss(xb)
            if not np.isfinite(scores).all():
                raise FloatingPointError(
                    f"the network's scores overflowed (inf/NaN) in epoch {epoch} (step {step}): the "
                    f"learning rate {lr:g} is probably too large"
                )
            if sequential:
                batch_loss, dscores = loss_fn(scores, yb)
            else:
                batch_loss, grads = model.loss(xb, yb)
            if not math.isfinite(batch_loss):
                raise FloatingPointError(
                    f"the loss became {batch_loss} in epoch {epoch} (step {step}): the learning rate "
                    f"{lr:g} is probably too large"
                )
            if sequential:
                model.backward(dscores.astype(scores.dtype, copy=False))
                grads = model.gradients()
            if lr > 0:
                optimizer.step(params, grads)
                if weight_decay:
                    for k in decayed:
                        params[k] -= params[k].dtype.type(lr * weight_decay) * params[k]
            loss_sum += batch_loss * len(yb)
            history.step_loss.append(float(batch_loss))
            hits += int(np.count_nonzero(scores.argmax(axis=1) == yb))
            step += 1
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{batch_loss:.4f}")
        seconds = time.perf_counter() - t0
        val_m = evaluate(model, data.X_val, data.y_val, loss=loss_fn) if use_val else None
        test_m = evaluate(model, data.X_test, data.y_test, loss=loss_fn) if test and data.X_test.shape[0] else None
        history.epoch.append(epoch)
        history.loss.append(loss_sum / n)
        history.train_acc.append(hits / n)
        history.val_loss.append(val_m.loss if val_m else None)
        history.val_acc.append(val_m.accuracy if val_m else None)
        history.test_acc.append(test_m.accuracy if test_m else None)
        history.lr.append(optimizer.learning_rate)
        history.seconds.append(seconds)
        if log is not None:
            parts = [f"epoch {epoch:3d}", f"loss {loss_sum / n:.4f}", f"train {100 * hits / n:.2f}%"]
            if val_m:
                parts.append(f"val {100 * val_m.accuracy:.2f}%")
            if test_m:
                parts.append(f"test {100 * test_m.accuracy:.2f}%")
            parts.append(f"{seconds:.1f} s")
            log("  ".join(parts))
        improved = val_m is not None and val_m.accuracy > best
        if improved:
            best = val_m.accuracy
            if keep_best:
                best_params = {k: v.copy() for k, v in params.items()}
                best_state = model.state() if sequential else {}  # e.g. BatchNorm running averages
        if ckpt is not None:
            model.save(ckpt / "last.npz")
            if improved:
                model.save(ckpt / "best.npz")
            history.save(ckpt / "history.json")
    if best_params is not None:
        for k, v in best_params.items():
            params[k][...] = v
        if best_state:
            model.load_state(best_state)
    if sequential:
        model.eval()
    return history


def _progress(it: Any, total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar(it)
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc=desc, leave=False)


class _NoBar:
    def __init__(self, it: Any) -> None:
        self._it = it

    def __iter__(self) -> Any:
        return iter(self._it)

    def set_postfix(self, **_: Any) -> None:
        pass


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------

def plot_learning_curves(history: History) -> Any:
    """Figure with two panels: training loss per epoch, and train/validation/test accuracy."""
    if not isinstance(history, History):
        raise TypeError(f"history must be a History, got {type(history).__name__}")
    if len(history) == 0:
        raise ValueError("history is empty: train for at least one epoch")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(history.epoch, history.loss, "o-", label="training loss")
    if any(v is not None for v in history.val_loss):
        ax1.plot(history.epoch, [np.nan if v is None else v for v in history.val_loss], "s-", label="validation loss")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax1.legend()
    for series, label, marker in ((history.train_acc, "train (running)", "o-"), (history.val_acc, "validation", "s-"),
                                  (history.test_acc, "test", "^-")):
        if any(v is not None for v in series):
            ax2.plot(history.epoch, [np.nan if v is None else 100 * v for v in series], marker, label=label)
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_misclassified(model: Sequential | Any, X: np.ndarray, y: np.ndarray, n: int = 16, *,
                       batch_size: int = 500) -> Any:
    """Grid of the first ``n`` misclassified images of ``X (N, C, H, W)``, titled "true → predicted"."""
    X, y = _check_xy(model, X, y)
    if X.ndim != 4:
        raise ValueError(f"X must be images (N, C, H, W), got shape {X.shape}")
    n = check_int(n, "n", low=1)
    import matplotlib.pyplot as plt

    pred = _scores(model, X, batch_size).argmax(axis=1)
    wrong = np.flatnonzero(pred != y)[:n]
    cols = min(8, max(1, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / cols))
    # 1 in per image keeps 8 columns within a book page's 688 px, so the 9 pt titles stay legible.
    fig, axes = plt.subplots(rows, cols, figsize=(1.0 * cols, 1.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(X[i].transpose(1, 2, 0).squeeze(-1) if X.shape[1] == 1 else X[i].transpose(1, 2, 0), cmap="gray_r")
        ax.set_title(f"{y[i]} → {pred[i]}", fontsize=9)
    if len(wrong) == 0:
        axes.flat[0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    fig.suptitle(f"{int(np.sum(pred != y))} of {len(y)} misclassified (true → predicted)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: np.ndarray, *, class_names: Sequence[str] | None = None, ax: Any = None) -> Any:
    """Heat map of a confusion matrix ``(K, K)`` (rows: true class, columns: predicted) with counts.

    Draws into ``ax`` (a matplotlib Axes, e.g. one panel of a side-by-side comparison) or, by
    default, a new figure; returns the figure.
    """
    if not isinstance(cm, np.ndarray) or not np.issubdtype(cm.dtype, np.integer):
        raise TypeError(f"cm must be an integer array from confusion_matrix, got {type(cm).__name__}")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be square (K, K), got shape {cm.shape}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else list(class_names)
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} entries for {k} classes")
    import matplotlib.pyplot as plt

    new = ax is None
    if new:
        fig, ax = plt.subplots(figsize=(0.45 * k + 2, 0.45 * k + 1.5))
    else:
        fig = ax.figure
    # Log colour scale: the diagonal (~1000) would otherwise wash out the few errors that matter.
    im = ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if np.log1p(cm[i, j]) > 0.6 * np.log1p(cm.max()) else "black")
    ax.set(xticks=range(k), yticks=range(k), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true")
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    if new:
        fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

def _build_model(name: str, activation: str | None, dtype: type, seed: int) -> Sequential:
    from course_lib import architectures

    builders = {"seed_cnn": architectures.seed_cnn, "mlp": architectures.mlp, "lenet5": architectures.lenet5}
    if name not in builders:
        raise ValueError(f"--model must be one of {sorted(builders)}, got {name!r}")
    kwargs: dict[str, Any] = {"dtype": dtype, "rng": seed}
    if activation is not None:
        kwargs["activation"] = activation
    return builders[name](**kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_lib.train``: train a chapter-9 network on MNIST, save weights + history."""
    p = argparse.ArgumentParser(prog="python -m course_lib.train", description=main.__doc__)
    p.add_argument("--model", default="seed_cnn", choices=["seed_cnn", "mlp", "lenet5"])
    p.add_argument("--activation", default=None, help="relu, sigmoid, tanh, ... (default: the model's)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="constant", choices=list(_SCHEDULES))
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--augment", default="none", choices=["none", "shift"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-size", type=int, default=0, help="training images held out for validation")
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--pad", type=int, default=0,
                   help="zero border in pixels around each image (lenet5 needs 2: 28×28 -> 32×32)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="directory for model.npz, history.json, checkpoints")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    for flag, v in (("--epochs", a.epochs), ("--batch-size", a.batch_size)):
        if v < 1:
            p.error(f"{flag} must be >= 1, got {v}")
    for flag, v in (("--limit-train", a.limit_train), ("--limit-test", a.limit_test)):
        if v is not None and v < 1:
            p.error(f"{flag} must be >= 1, got {v}")
    if not a.lr > 0:
        p.error(f"--lr must be > 0, got {a.lr}")
    if a.pad < 0:
        p.error(f"--pad must be >= 0, got {a.pad}")
    if a.model == "lenet5" and a.pad != 2:
        p.error(f"--model lenet5 takes 32×32 images: pass --pad 2 (got --pad {a.pad})")

    from course_lib.data import load_mnist, subset

    dtype = np.float32 if a.dtype == "float32" else np.float64
    data = load_mnist(data_dir=a.data_dir, dtype=dtype, validation_size=a.val_size, seed=a.seed, progress=False,
                      pad=a.pad)
    if a.limit_train is not None or a.limit_test is not None:
        data = subset(data, min(a.limit_train or len(data.y_train), len(data.y_train)),
                      min(a.limit_test or len(data.y_test), len(data.y_test)))
    model = _build_model(a.model, a.activation, dtype, a.seed)
    out = Path(a.out) if a.out else None
    print(f"{a.model}: {model.num_params():,} parameters; {len(data.y_train)} training, "
          f"{len(data.y_val)} validation, {len(data.y_test)} test images", flush=True)
    history = fit(
        model, data, a.optimizer, a.epochs, a.batch_size, learning_rate=a.lr, lr_schedule=a.schedule,
        weight_decay=a.weight_decay, val=True, test=True, progress=not a.no_progress, seed=a.seed,
        checkpoint_dir=out / "checkpoints" if out else None,
        augment=None if a.augment == "none" else a.augment,
        log=lambda s: print(s, flush=True),
    )
    history.config.update({
        "model": a.model, "activation": a.activation, "dtype": a.dtype, "pad": a.pad,
        "command": "python -m course_lib.train " + " ".join(sys.argv[1:] if argv is None else argv),
        "numpy": np.__version__, "python": platform.python_version(),
        "total_seconds": round(sum(history.seconds), 1),
    })
    final = history.test_acc[-1]
    print(f"final test accuracy {100 * final:.2f}% after {a.epochs} epochs, "
          f"{sum(history.seconds):.0f} s of training", flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / "model.npz")
        history.save(out / "history.json")
        print(f"wrote {out / 'model.npz'} and {out / 'history.json'}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
