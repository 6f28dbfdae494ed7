"""Spec of assignment ch04_conv: the convolution layer of chapter 4."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch04_conv"

CELLS = [
    Markdown(
        """
        # Assignment 4: convolution

        A convolution layer slides F filters of shape (C, HH, WW) over an input batch of shape
        (N, C, H, W). Like every deep-learning library we compute a *cross-correlation*: the
        kernel is used as it is, not flipped.

        ```
        out[n, f, i, j] = b[f] + Σ_c Σ_p Σ_q  w[f, c, p, q] · x_pad[n, c, i·stride + p, j·stride + q]
        ```

        `x_pad` is `x` with `pad` zeros added on each side of H and W (`np.pad`). The layer
        convention is the one of the whole course: `out, cache = conv_forward_naive(x, w, b,
        stride=..., pad=...)` and `dx, dw, db = conv_backward_naive(dout, cache)`. Never modify
        `x`, `dout` or the cache in place.

        Each task has a test cell you can run (the number it prints is your score for that cell;
        the report says what was checked) and hidden tests that run when your notebook is graded:
        other shapes, strides and paddings, and numerical gradients of *your* forward pass.
        Loops are fine here; keep the inputs of your own experiments small.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: the output size

        Along one axis, an input of length n padded with `pad` zeros on each side has
        n + 2·pad entries; a window of length k fits at the positions 0, stride, 2·stride, …
        as long as it ends inside. Count the positions: (n + 2·pad − k) // stride + 1.
        When the windows do not tile the input exactly, the last rows are never read (floor).
        When the kernel does not fit at all, raise a `ValueError` whose message says so with
        the numbers — a silent 0 or a negative size only fails much later.
        """
    ),
    Solution(
        ["course_lib.conv:conv_output_size"],
        docs={
            "conv_output_size": """
                The number of positions of a k-wide window along an axis of length n, padded with pad
                zeros on each side and moved stride entries at a time. Windows that would end outside the
                padded input are not counted.

                Args:
                    n: input length (H or W), >= 1.
                    k: kernel length (HH or WW), >= 1.
                    pad: zeros added on each side, >= 0.
                    stride: step between windows.

                Returns:
                    the output length, an int >= 1.

                Raises:
                    ValueError: when the kernel does not fit the padded input, or stride < 1; the message
                        says which, with the numbers.
                """,
        },
    ),
    Tests("ch04_conv.output_size", book="Many channels, many filters"),
    Markdown(
        """
        ## Task 2: the forward pass, with loops

        Pad `x`, then loop over the examples n, the filters f and the output positions (i, j):
        each output is the sum of a window of `x_pad` times `w[f]`, plus `b[f]`. Use your
        `conv_output_size` for Ho and Wo.
        """
    ),
    Solution(
        ["course_lib.conv:conv_forward_naive"],
        retype={"ConvNaiveCache": "Any"},
        docs={
            "conv_forward_naive": """
                Convolution (cross-correlation, the kernel not flipped) forward pass, with loops.

                Args:
                    x: input, shape (N, C, H, W).
                    w: filters, shape (F, C, HH, WW).
                    b: biases, shape (F,).
                    stride: step between windows (both axes), >= 1.
                    pad: zeros added on each side of H and W, >= 0.

                Returns:
                    (out, cache): out of shape (N, F, Ho, Wo), Ho and Wo from conv_output_size; cache is
                    whatever conv_backward_naive needs (not graded).
                """,
        },
        hints=[
            'Pad once with np.pad (only the two spatial axes), then every window is a slice of the padded array.',
        ],
    ),
    Tests("ch04_conv.conv_forward", book="The naive implementation"),
    Markdown(
        """
        ## Task 3: the backward pass, with loops

        Walk the same loops. Output (n, f, i, j) computed `Σ w[f] · window + b[f]`, so its
        upstream gradient `g = dout[n, f, i, j]` contributes

        - `g · window` to `dw[f]` (the weights are shared by every window and every example:
          **add** the contributions),
        - `g · w[f]` to the window's place in `dx_pad` (overlapping windows add up),
        - `g` to `db[f]`.

        The padding is not part of `x`: return the gradient of the unpadded input,
        `dx_pad[:, :, pad:pad + H, pad:pad + W]`.
        """
    ),
    Solution(
        ["course_lib.conv:conv_backward_naive"],
        retype={"ConvNaiveCache": "Any"},
        docs={
            "conv_backward_naive": """
                Backward pass of conv_forward_naive, with loops.

                Args:
                    dout: dL/dout, shape (N, F, Ho, Wo).
                    cache: from conv_forward_naive (do not modify it).

                Returns:
                    (dx, dw, db) of shapes (N, C, H, W), (F, C, HH, WW), (F,).
                """,
        },
        hints=[
            "Walk the forward pass's loops again and, for each output entry, add its contribution to the window it read; compute dx on the padded shape first.",
            'Test with pad = 0 and with stride 2: a crop like dx_pad[:, :, pad:-pad] is empty when pad = 0, and windows start at i·stride.',
        ],
    ),
    Tests("ch04_conv.conv_backward", book="The backward pass"),
    Markdown(
        """
        ## Task 4: im2col

        Four nested loops are slow. The fast convolution copies every window into one row of a
        matrix (*im2col*), after which the whole layer is one matrix product:
        `im2col(x, HH, WW, stride, pad) @ w.reshape(F, -1).T + b`, reshaped to (N, Ho, Wo, F)
        and transposed to (N, F, Ho, Wo).

        Row `n·Ho·Wo + i·Wo + j` holds the window of output pixel (i, j) of example n, flattened
        in (c, p, q) order — the order of `w.reshape(F, -1)`. Hint: loop over the HH·WW kernel
        offsets (p, q), not over the pixels; each offset is one strided slice of `x_pad`.
        """
    ),
    Solution(
        ["course_lib.conv:im2col"],
        docs={
            "im2col": """
                Every window of the padded x as one row of a matrix.

                Row n·Ho·Wo + i·Wo + j holds the window that output pixel (i, j) of example n reads,
                flattened in (c, p, q) order, the order of w.reshape(F, -1).

                Args:
                    x: shape (N, C, H, W).
                    HH, WW: kernel height and width.
                    stride, pad: as in conv_forward_naive.

                Returns:
                    cols, shape (N·Ho·Wo, C·HH·WW).
                """,
        },
    ),
    Tests("ch04_conv.im2col", book="im2col: convolution as one matrix product"),
    Markdown(
        """
        Check your im2col against your loops (not graded):

        ```python
        rng = np.random.default_rng(0)
        x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        out, _ = conv_forward_naive(x, w, b, stride=2, pad=1)
        fast = (im2col(x, 3, 3, 2, 1) @ w.reshape(4, -1).T + b).reshape(2, 4, 4, 4).transpose(0, 3, 1, 2)
        print(np.abs(out - fast).max())
        ```
        """
    ),
    Markdown("## Task 5: written question"),
    Written(
        "conv-cost",
        """
        **Question (2 points).** A convolution layer with 16 filters of size 5×5, stride 1 and
        pad 2 is applied to one 32×32 RGB image (C = 3). Give the output shape, the number of
        trainable parameters and the number of multiply-adds. How many parameters would a
        fully connected layer need to map the same input to an output of the same size, and
        what property of the convolution explains the difference?
        """,
        """
        Output: Ho = (32 + 2·2 − 5)//1 + 1 = 32, so 16×32×32. Parameters: 16·(3·5·5) weights +
        16 biases = 1200 + 16 = 1216. Multiply-adds: one per weight per output position,
        16·32·32·75 = 1 228 800. A fully connected layer from 3·32·32 = 3072 inputs to
        16·32·32 = 16 384 outputs needs 3072·16 384 + 16 384 = 50 348 032 parameters. The
        convolution is local (each output sees a 5×5×3 window, not the whole image) and shares
        its weights across all positions (the same 75 weights per filter everywhere), which also
        makes it translation-equivariant.
        """,
        points=2,
    ),
]
