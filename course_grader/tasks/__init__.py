"""The tasks of every assignment, one module per chapter, all in one shape.

Each ``chNN_name`` module defines ``ASSIGNMENT = "chNN_name"`` and registers its tasks with
:func:`course_grader.engine.task` (ids ``"chNN_name.task"``); this package imports all nine, so
importing it is the one place where the registry :data:`course_grader.engine.TASKS` is filled.
"""

import importlib
from types import ModuleType

#: Assignment names in chapter order; each is the name of its module in this package.
ASSIGNMENTS = (
    "ch01_neuron",
    "ch02_loss",
    "ch03_gradient_descent",
    "ch04_conv",
    "ch05_pooling",
    "ch06_backprop",
    "ch07_batchnorm",
    "ch08_dropout",
    "ch09_architectures",
)

#: The assignment modules in chapter order (importing them registers their tasks).
MODULES: tuple[ModuleType, ...] = tuple(importlib.import_module(f"{__name__}.{name}") for name in ASSIGNMENTS)

__all__ = ["ASSIGNMENTS", "MODULES"]
