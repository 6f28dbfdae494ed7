"""The course's grader: autograding engine, the nine assignments' tasks, sandbox, notebook
generator and the ``course`` command line.

It imports :mod:`course_lib` (the reference implementations); ``course_lib`` never imports it.
Its third-party dependencies (nbgrader and the Jupyter stack) come with the ``grading`` extra.
"""

__all__: list[str] = []
