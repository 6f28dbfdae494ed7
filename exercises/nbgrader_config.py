"""nbgrader configuration of the course (the course directory is this folder)."""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader's config loader

_here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "dl-ground-up"
c.CourseDirectory.root = _here
# The gradebook is a SQLite file inside the course directory.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "spec", "examples"]

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A grade cell runs a handful of sub-checks, each in a forked child with its own time limit
# (course_grader.grading); this is only the outer bound for one cell.
c.ExecutePreprocessor.timeout = 300
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
