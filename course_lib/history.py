"""The record of a training run, shared by every training loop of the course.

:class:`History` is what :func:`course_lib.train.fit` (networks, chapters 6–9) and
:func:`course_lib.gradient_descent.linear_regression_gd` (chapter 3's step-by-step loop) return,
and what ``models/*_history.json`` hold. It lives in its own module so that both can use it
without importing each other.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch record of a training run (lists indexed by epoch − 1), plus the loss of every step.

    ``loss`` is the epoch's training loss: for :func:`course_lib.train.fit` the mean over the
    epoch's batches (measured while the weights were still changing, with augmentation and
    dropout on), for chapter 3's ``linear_regression_gd`` the loss on all the data after the
    epoch. ``train_acc`` is the running accuracy on the training batches (None for a regression).
    ``val_loss``/``val_acc``/``test_acc`` are measured after the epoch in evaluation mode (None
    when that split is not evaluated). ``lr`` is the learning rate at the end of the epoch,
    ``seconds`` the training time only. ``step_loss`` holds the loss of each mini-batch, in order
    (``epochs × ⌈N / batch_size⌉`` entries): the noisy curve that ``loss`` summarises per epoch.
    ``config`` records how the run was made (optimizer, batch size, seed, ...).
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    train_acc: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    test_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def best_epoch(self) -> int | None:
        """Epoch (1-based) with the highest validation accuracy, or None without a validation set."""
        vals = [(v, e) for v, e in zip(self.val_acc, self.epoch) if v is not None]
        return max(vals, key=lambda t: (t[0], -t[1]))[1] if vals else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history as JSON (human-readable, loaded by the book)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        """Read a history written by :meth:`save`; unknown keys raise ``ValueError``."""
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{os.fspath(path)!r} is not a JSON training history: {e}") from e
        if not isinstance(d, dict):
            raise ValueError(f"{os.fspath(path)!r} does not hold a training history (a JSON object)")
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"{os.fspath(path)!r} has unknown history fields {bad}")
        return cls(**d)
