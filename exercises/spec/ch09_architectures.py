"""Spec of assignment ch09_architectures: describe, build, run and train a small CNN (chapter 9)."""

from course_grader.generate import Code, Markdown, Setup, Solution, Tests, Written
from course_grader.tasks.ch09_architectures import TARGET_ACCURACY, TRAIN_SECONDS, given_source

ASSIGNMENT = "ch09_architectures"
_S = "solutions/ch09_architectures.py"

CELLS = [
    Markdown(
        """
        # Assignment 9: putting a CNN together

        You have written every layer of a convolutional network. This assignment is about the
        glue: describing a network, building its parameters, running it forward and backward,
        taking a training step, and finally training a small CNN on scikit-learn's 8×8 digits.

        A network here is plain data, a **list of dicts**, one per layer:

        ```python
        arch = [
            {"type": "conv", "filters": 8, "kernel": 3, "pad": 1},   # stride 1 unless "stride" is given
            {"type": "relu"},
            {"type": "pool"},                                        # 2×2 max pooling, stride 2
            {"type": "flatten"},
            {"type": "affine", "units": 10},
        ]
        ```

        `build_network` adds the parameters (`"w"`, `"b"`) to the conv and affine dicts. The next
        cell hands you the layer functions (the course library's layers of chapters 2–8, with the
        helpers they use); use them, do
        not modify them. Never modify the arguments of your functions (return new dicts and
        arrays). Each task has a test cell you can run and hidden tests that run at grading.
        """
    ),
    Setup(),
    Markdown("The layers you wrote in chapters 2–8 (read-only):"),
    Code(given_source(), locked=True, name="given-layers"),
    Markdown(
        """
        ## Task 1: shapes, parameter counts and parameters

        `summary` computes, by arithmetic alone, what each layer outputs for ONE example and how
        many parameters it has: a convolution of F filters of size k×k over C channels has
        F·C·k·k weights and F biases and outputs floor((H + 2·pad − k)/stride) + 1 rows; pooling
        halves H and W (rounding down); flatten gives C·H·W numbers; an affine layer from D to M
        has D·M + M parameters.

        `build_network` then allocates the parameters, layer by layer: He-initialised weights
        N(0, 2/fan_in) (fan_in = C·k·k for a conv, D for an affine layer) and zero biases, all drawn
        from ONE generator `np.random.default_rng(seed)`.
        """
    ),
    Solution(
        [f"{_S}:summary", f"{_S}:build_network"],
        docs={
            "summary": """
                Output shape and number of trainable parameters of every layer, by arithmetic alone.

                Args:
                    arch: a list of layer descriptions (dicts), one of
                        {"type": "conv", "filters": F, "kernel": k, "stride": s, "pad": p} (stride 1 and
                        pad 0 when missing; weights (F, C, k, k) and F biases),
                        {"type": "relu"}, {"type": "pool"} (2×2 max pooling, stride 2),
                        {"type": "dropout", "keep_prob": q}, {"type": "flatten"},
                        {"type": "affine", "units": M} (weights (D, M) and M biases).
                    input_shape: the shape of ONE example, e.g. (1, 8, 8) = (C, H, W).

                Returns:
                    one pair (output shape of one example, number of parameters) per layer.
                """,
            "build_network": """
                The layers of arch with parameters: He-initialised weights, zero biases.

                Args:
                    arch: layer descriptions as for summary.
                    input_shape: the shape of one example.
                    seed: seed of ONE generator, np.random.default_rng(seed), used for all weights in
                        the order of the layers.

                Returns:
                    a list of new dicts, one per layer: a copy of the description, plus "w" and "b" for
                    conv ((F, C, k, k) and (F,)) and affine ((D, M) and (M,)) layers.
                """,
        },
    ),
    Tests("ch09_architectures.build", book="From layers to a network"),
    Markdown(
        """
        ## Task 2: forward and backward through the whole network

        `model_forward` runs the layers in order and keeps each layer's cache; `model_backward`
        runs them in **reverse** order, turning dL/d(output) into dL/d(input) and collecting the
        parameter gradients, stored in the order of the layers (`grads[i]` belongs to
        `layers[i]`). Flatten is yours: reshape to (N, −1) going forward, and back to the input's
        shape going backward. Dropout layers get `mode` and all draw from ONE generator
        `np.random.default_rng(seed)`, in the order of the layers.
        """
    ),
    Solution(
        [f"{_S}:model_forward", f"{_S}:model_backward"],
        docs={
            "model_forward": """
                Run the network on a batch.

                Args:
                    layers: from build_network.
                    x: a batch (N, C, H, W).
                    mode: "train" or "test" (passed to every dropout layer).
                    seed: seed of ONE generator, np.random.default_rng(seed), which the dropout layers
                        draw from, in order.

                Returns:
                    (scores, caches): scores (N, K) and one cache per layer, for model_backward.
                """,
            "model_backward": """
                Backpropagate through the network.

                Args:
                    dscores: dL/dscores (N, K).
                    caches: from model_forward.

                Returns:
                    (dx, grads): the gradient for the input batch, and one dict per layer in the order of
                    the layers: {"w": dw, "b": db} for conv and affine layers, {} for the others.
                """,
        },
    ),
    Tests("ch09_architectures.model", book="The seed CNN"),
    Markdown(
        """
        ## Task 3: one training step

        Forward in **train** mode, softmax cross-entropy (`softmax_cross_entropy` is given),
        backward, and a plain gradient-descent step w ← w − η·dw for every parameter. Each step
        uses the gradients of its own batch only.
        """
    ),
    Solution(
        [f"{_S}:train_step"],
        docs={
            "train_step": """
                One step of gradient descent on a batch: forward in train mode (dropout on, generator from
                seed), softmax cross-entropy, backward, then w ← w − learning_rate·dw for every parameter.

                Args:
                    layers: the network (not modified).
                    x, y: a batch (N, C, H, W) and its labels (N,).
                    learning_rate: the step size.
                    seed: passed to model_forward.

                Returns:
                    (loss, new_layers): the loss on the batch before the step, and the updated layers (new
                    dicts and arrays).
                """,
        },
    ),
    Tests("ch09_architectures.train_step", book="Case study: the seed CNN on MNIST"),
    Markdown(
        f"""
        ## Task 4: train on the digits

        Train `DIGITS_ARCH` on the training split of the 8×8 digits (1437 images (N, 1, 8, 8),
        pixels in [0, 1]). The grader calls `train_digits(X_train, y_train, seed)` and measures the
        accuracy of the returned network on the 360 test images in test mode: it must reach
        **{TARGET_ACCURACY:.0%}** within **{TRAIN_SECONDS:g} s** (a few epochs of mini-batch
        gradient descent take about a second). To experiment in your own kernel:
        `from course_lib.data import load_digits; data = load_digits(dtype=np.float64)`
        (not inside the function: the grader passes the data in).
        """
    ),
    Solution(
        [f"{_S}:train_digits"],
        docs={
            "train_digits": """
                Train DIGITS_ARCH on the 8×8 digits.

                Args:
                    X: training images (N, 1, 8, 8) with pixels in [0, 1].
                    y: labels (N,) in 0..9.
                    seed: makes the run reproducible (initialisation and batch order).

                Returns:
                    the trained layers; they must reach 90 % accuracy on the held-out test split (evaluated
                    in test mode) within the grader's time limit (15 s).
                """,
        },
    ),
    Tests("ch09_architectures.digits", book="Case study: the seed CNN on MNIST"),
    Markdown("## Task 5: written question"),
    Written(
        "where-the-parameters-are",
        """
        **Question (2 points).** Use your `summary` on this network for 1×28×28 inputs: conv
        8@3×3 pad 1, relu, pool, conv 16@3×3 pad 1, relu, pool, flatten, affine 64, relu,
        affine 10. Which layers hold most of the parameters, and which do most of the
        computation (multiply-adds)? Why does a convolution have so few parameters for the work it
        does?
        """,
        """
        Parameters: 80 + 1,168 in the convolutions, 50,240 + 650 in the affine layers (52,138 in
        total): the first affine layer (784 → 64) alone holds 96 %. Computation: the first
        convolution does 8·28·28·9 = 56,448 multiply-adds and the second 16·14·14·72 = 225,792,
        against 50,176 + 640 for the affine layers: the convolutions do 85 % of the work with 2 %
        of the parameters. A convolution reuses the same small filter at every position (weight
        sharing), so its parameter count does not grow with the image size while its work does.
        """,
        points=2,
    ),
]
