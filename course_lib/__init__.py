"""Deep Learning from the Ground Up — the reference library.

One module per chapter (``neuron``, ``loss``, ``gradient_descent``, ``conv``, ``pooling``,
``backprop``, ``batchnorm``, ``dropout``, ``architectures``) plus shared infrastructure
(``gradcheck``, ``data``, ``train``, ``grading``, ``widgets``). Import the modules you need:

    >>> from course_lib import conv, gradcheck
"""

__version__ = "0.1.0"
