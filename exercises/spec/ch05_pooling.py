"""Spec of assignment ch05_pooling: the pooling layers of chapter 5."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch05_pooling"
_S = "solutions/ch05_pooling.py"

CELLS = [
    Markdown(
        """
        # Assignment 5: pooling

        A pooling layer slides a ph × pw window over every channel of an input of shape
        (N, C, H, W) separately, with step (sh, sw), and replaces each window by one number: its
        maximum (max pooling) or its mean (average pooling). It has no parameters. By default the
        stride equals the window (non-overlapping windows); the output size per axis is
        (H − ph) // sh + 1, the convolution formula without padding. Rows or columns that no
        window reaches are ignored (and get zero gradient).

        `pool_size` and `stride` are an int (the same along both axes) or a pair (rows, columns);
        `stride=None` means "the window size". Layer convention as always:
        `out, cache = max_pool_forward(x, pool_size=..., stride=...)` and
        `dx = max_pool_backward(dout, cache)`. Never modify `x`, `dout` or the cache in place.

        Each task has a test cell you can run (the number it prints is your score for that cell;
        the report says what was checked) and hidden tests that run when your notebook is graded.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: max pooling, forward

        First a helper that turns `pool_size` and `stride` into numbers and checks that the
        window fits (raise a `ValueError` naming the sizes when it does not); then the maximum of
        every window. A loop over the output positions (i, j), handling all examples and channels
        at once with `.max(axis=(2, 3))`, is fast enough.
        """
    ),
    Solution(
        [f"{_S}:pool_geometry", f"{_S}:max_pool_forward"],
        retype={"MaxPoolNaiveCache": "Any"},
        docs={
            "pool_geometry": """
                Window, stride and output size of a pooling layer (no padding).

                Args:
                    x_shape: (N, C, H, W).
                    pool_size: ph = pw (an int), or a pair (ph, pw).
                    stride: sh = sw (an int), a pair (sh, sw), or None for the window size.

                Returns:
                    (ph, pw, sh, sw, Ho, Wo): Ho and Wo count the windows that fit entirely.

                Raises:
                    ValueError: the window is larger than the input; the message says so, with the numbers.
                """,
            "max_pool_forward": """
                Max pooling: the largest entry of every ph × pw window of every channel.

                Args:
                    x: (N, C, H, W).
                    pool_size: window ph × pw (an int or a pair).
                    stride: step (an int or a pair); None means the window size.

                Returns:
                    (out, cache): out of shape (N, C, Ho, Wo); cache is what max_pool_backward needs.

                Raises:
                    ValueError: the window is larger than the input (raised by your code, with a message).
                """,
        },
    ),
    Tests("ch05_pooling.max_forward", book="Max and average pooling"),
    Markdown(
        """
        ## Task 2: max pooling, backward

        Only the maximum of a window influenced the output, so the window's upstream gradient is
        **routed**: all of it goes to the entry that was the maximum, the others get 0.

        - **Ties.** When several entries share the maximum, give everything to the *first* one
          in row-major order — the one `np.argmax` of the flattened window picks (as PyTorch
          does). Giving each tied entry the full gradient would count it twice.
        - **Overlapping windows** (stride < window): an entry can be the maximum of several
          windows; it receives the **sum** of their gradients.
        """
    ),
    Solution(
        ["course_lib.pooling:max_pool_backward_naive as max_pool_backward"],
        retype={"MaxPoolNaiveCache": "Any"},
        docs={
            "max_pool_backward": """
                Backward pass of max_pool_forward.

                Each window passes its gradient to the entry that was its maximum; with ties, to the first
                maximum in row-major order (np.argmax of the flattened window). An entry that is the maximum
                of several (overlapping) windows receives the sum of their gradients.

                Args:
                    dout: (N, C, Ho, Wo), not modified.
                    cache: from max_pool_forward.

                Returns:
                    dx, shape (N, C, H, W).
                """,
        },
        hints=[
            'Windows may overlap (stride < window) or skip entries (stride > window): add (+=) into dx, never assign.',
        ],
    ),
    Tests("ch05_pooling.max_backward", book="The backward pass"),
    Markdown(
        """
        ## Task 3: average pooling

        The forward pass is the mean of each window. Each of the ph·pw entries of a window
        contributed 1/(ph·pw) of that mean, so backward spreads `dout / (ph·pw)` evenly over the
        window; overlapping windows add up. Use your `pool_geometry`.
        """
    ),
    Solution(
        [f"{_S}:avg_pool_forward", f"{_S}:avg_pool_backward"],
        retype={"AvgPoolCache": "Any"},
        docs={
            "avg_pool_forward": """
                Average pooling: the mean of every ph × pw window. Arguments and shapes as in max_pool_forward.

                Returns:
                    (out, cache): out of shape (N, C, Ho, Wo); cache is what avg_pool_backward needs.
                """,
            "avg_pool_backward": """
                Backward pass of avg_pool_forward.

                Args:
                    dout: (N, C, Ho, Wo), not modified.
                    cache: from avg_pool_forward.

                Returns:
                    dx, shape (N, C, H, W).
                """,
        },
    ),
    Tests("ch05_pooling.avg_pool", book="Max and average pooling"),
    Markdown("## Task 4: written question"),
    Written(
        "pool-gradient",
        """
        **Question (2 points).** A 2×2 max pooling layer with stride 2 follows a ReLU. (a) At
        most what fraction of its inputs receives a non-zero gradient in one backward pass, and
        why? (b) A window holds four zeros (all its ReLU inputs were negative). Which entry
        receives the gradient under this course's rule, and does it matter for the weights
        below? (c) Give one reason to prefer a strided convolution over max pooling for
        downsampling, and one to prefer max pooling.
        """,
        """
        (a) A quarter: each non-overlapping 2×2 window routes its whole gradient to one entry
        (its first maximum), the other three get 0. (b) The first entry, (0, 0) of the window
        (np.argmax order). It does not matter: the ReLU below passes no gradient where its
        input was negative (its output is 0 there), so that gradient stops at the ReLU either
        way. (c) A strided convolution learns how to downsample and passes gradient to every
        input; max pooling has no parameters and no cost to learn, and gives some invariance
        to small shifts of a feature inside the window.
        """,
        points=2,
    ),
]
