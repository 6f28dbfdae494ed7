"""What the exercise notebooks import: ``from course_grader import grading``.

A test cell is one line, ``grading.grade("ch04_conv.conv_forward", globals())`` (visible tests) or
the same with ``hidden=True`` (graded only). Importing this module fills the task registry with the
tasks of all nine assignments (:mod:`course_grader.tasks`); the engine that runs them is
:mod:`course_grader.engine`.
"""

from course_grader import tasks
from course_grader.engine import (
    TASKS,
    Check,
    CheckOutcome,
    Fail,
    Task,
    TaskResult,
    grade,
    run_task,
    task_points,
)

ASSIGNMENTS = tasks.ASSIGNMENTS

__all__ = [
    "ASSIGNMENTS",
    "TASKS",
    "Check",
    "CheckOutcome",
    "Fail",
    "Task",
    "TaskResult",
    "grade",
    "run_task",
    "task_points",
]
