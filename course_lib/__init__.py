"""Deep Learning from the Ground Up — the reference library.

One module per chapter (``neuron``, ``loss``, ``gradient_descent``, ``conv``, ``pooling``,
``backprop``, ``batchnorm``, ``dropout``, ``architectures``) plus shared infrastructure:
``layers`` (the layer base class and the registry of layer classes), ``init`` (weight
initialisation), ``validate`` (input checks and cache types), ``gradcheck`` (numerical gradients),
``data`` (MNIST and the digits), ``train`` (the training loop) with ``history`` (its record),
``widgets`` (the book's explorers) and ``fast`` (the tuned paths the layer classes run). The
grading code is a separate package, ``course_grader``. Import the modules you need:

    >>> from course_lib import conv, gradcheck
"""

__version__ = "0.1.0"
