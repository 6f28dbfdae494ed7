"""The tasks of every assignment, one module per chapter, all in one shape.

Each ``chNN_name`` module defines ``ASSIGNMENT = "chNN_name"`` and registers its tasks with
:func:`course_grader.engine.task` (ids ``"chNN_name.task"``); this package imports all nine, so
importing it is the one place where the registry :data:`course_grader.engine.TASKS` is filled.
"""

from course_grader.tasks import (
    ch01_neuron,
    ch02_loss,
    ch03_gradient_descent,
    ch04_conv,
    ch05_pooling,
    ch06_backprop,
    ch07_batchnorm,
    ch08_dropout,
    ch09_architectures,
)

#: The assignment modules in chapter order.
MODULES = (
    ch01_neuron,
    ch02_loss,
    ch03_gradient_descent,
    ch04_conv,
    ch05_pooling,
    ch06_backprop,
    ch07_batchnorm,
    ch08_dropout,
    ch09_architectures,
)

#: Assignment names in chapter order (``"ch01_neuron"`` …).
ASSIGNMENTS = tuple(m.ASSIGNMENT for m in MODULES)

__all__ = ["ASSIGNMENTS", "MODULES"]
