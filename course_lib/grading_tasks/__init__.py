"""Task definitions of the assignments beyond chapter 3, one module per chapter.

:mod:`course_lib.grading` imports this package on its last line, so every chapter module can use
the grading helpers and registers its tasks in :data:`course_lib.grading.TASKS`. The
``solutions_chNN`` modules hold the pure-NumPy model solutions the exercise generator puts in the
notebooks' solution cells.
"""

from course_lib.grading_tasks import (
    ch04_conv,  # noqa: F401
    ch05_pooling,  # noqa: F401
    ch06_backprop,  # noqa: F401
    ch07_batchnorm,  # noqa: F401
    ch08_dropout,  # noqa: F401
    ch09_architectures,  # noqa: F401
)
