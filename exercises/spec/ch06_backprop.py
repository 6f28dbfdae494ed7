"""Spec of assignment ch06_backprop: gates, the affine layer and a two-layer network (chapter 6)."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch06_backprop"
_S = "solutions/ch06_backprop.py"


def _gate_doc(gate: str, tie: str = "") -> str:
    """The student docstring of a gate's backward pass ``(dz, x, y) -> (dx, dy)``."""
    return f"""
        Backward pass of the {gate} (elementwise for arrays).

        Args:
            dz: dL/dz, a float or an array of the shape of x and y.
            x, y: the gate's inputs (floats, or arrays of one shape).

        Returns:
            (dx, dy), each of the shape of dz.{tie}
        """


CELLS = [
    Markdown(
        """
        # Assignment 6: backpropagation

        Backpropagation is the chain rule applied in a fixed order. Each operation knows only its
        *local* gradient; walking the graph backwards, it multiplies the gradient arriving from
        above, dL/dz, by that local gradient and passes the result down. You will write the
        backward passes of three gates, then of the affine layer, and finally put layers together
        into a two-layer network whose loss and gradients you compute by hand.

        Never modify the inputs (`x`, `dout`, the cache, the parameters) in place. Each task has a
        test cell you can run (the number it prints is your score for that cell; the report says
        what was checked) and hidden tests that run when your notebook is graded.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: three gates

        Each function gets the upstream gradient `dz` and the gate's inputs `x`, `y` (floats, or
        arrays of one shape, elementwise) and returns `(dx, dy)`:

        - the **add** gate `z = x + y` *distributes*: both inputs receive `dz`;
        - the **multiply** gate `z = x·y` *swaps*: `dx = y·dz`, `dy = x·dz`;
        - the **max** gate `z = max(x, y)` *routes*: the larger input receives `dz`, the other 0.
          On a tie (x == y) give everything to `x`.
        """
    ),
    Solution(
        [f"{_S}:add_gate_backward", f"{_S}:multiply_gate_backward", f"{_S}:max_gate_backward"],
        docs={
            "add_gate_backward": _gate_doc("add gate z = x + y"),
            "multiply_gate_backward": _gate_doc("multiply gate z = x · y"),
            "max_gate_backward": _gate_doc("max gate z = max(x, y)", tie=" On a tie (x == y) all of the gradient goes to x."),
        },
    ),
    Tests("ch06_backprop.gates", book="Patterns in the gradient flow"),
    Markdown(
        """
        ## Task 2: the affine layer

        `out = x @ w + b` with x (N, D), w (D, M), b (M,). Backward, with dout (N, M): derive
        dx, dw and db. Each follows from the shapes alone — check that yours have the shapes of
        x, w and b. A sum over the batch comes from a parameter being shared by all N examples.
        """
    ),
    Solution(
        ["course_lib.backprop:affine_forward", "course_lib.backprop:affine_backward"],
        retype={"AffineCache": "Any"},
        docs={
            "affine_forward": """
                Fully connected layer out = x @ w + b.

                Args:
                    x: (N, D) inputs, one example per row.
                    w: (D, M) weights.
                    b: (M,) biases.

                Returns:
                    (out, cache): out of shape (N, M); cache is what affine_backward needs.
                """,
            "affine_backward": """
                Backward pass of affine_forward.

                Args:
                    dout: (N, M), dL/dout.
                    cache: from affine_forward.

                Returns:
                    (dx, dw, db) of shapes (N, D), (D, M), (M,).
                """,
        },
        hints=[
            'Each gradient has the shape of its input: that shape decides which product and which transposes you need.',
        ],
    ),
    Tests("ch06_backprop.affine", book="Vectorised backpropagation: the affine layer"),
    Markdown(
        """
        ## Task 3: a two-layer network

        scores = relu(X @ W1 + b1) @ W2 + b2, and the loss is the mean softmax cross-entropy of
        the scores plus the L2 penalty **reg · (ΣW1² + ΣW2²)** — no ½, so it adds 2·reg·W to each
        weight gradient; the biases are not regularised. Compute the loss with a forward pass
        through your affine layer and the given `relu_forward` and `softmax_cross_entropy`, then
        the gradients with the backward passes in reverse order. Return the gradients in a dict
        with the parameters' names. Do not modify `params`.

        `relu_forward`, `relu_backward` and `softmax_cross_entropy` (chapters 1 and 2) are given
        at the top of the cell.
        """
    ),
    Solution(
        [f"{_S}:two_layer_net_loss"],
        docs={
            "two_layer_net_loss": """
                Loss and gradients of the network affine – ReLU – affine – softmax cross-entropy.

                scores = relu(X @ W1 + b1) @ W2 + b2; the loss is the mean softmax cross-entropy
                plus reg · (ΣW1² + ΣW2²) (no ½; the biases are not regularised).

                Args:
                    X: (N, D) inputs.
                    y: (N,) integer labels in [0, C).
                    params: "W1" (D, H), "b1" (H,), "W2" (H, C), "b2" (C,). Do not modify them.
                    reg: the regularisation strength λ >= 0.

                Returns:
                    (loss, grads): a float, and a dict with the gradient of the loss with respect
                    to each parameter under the parameter's name (same shapes).
                """,
        },
        hints=["Write the forward pass keeping every intermediate (h, a, scores), then go back through the same steps with the given relu_backward and your affine_backward."],
        preamble='''
        # Given (chapters 1 and 2): use them as they are.
        def relu_forward(x):
            """max(0, x) elementwise; the cache is x."""
            return np.maximum(x, 0), x


        def relu_backward(dout, cache):
            """dout where x > 0, else 0."""
            return np.where(cache > 0, dout, 0.0)


        def softmax_cross_entropy(scores, y):
            """Mean softmax cross-entropy of scores (N, C) with labels y (N,), and dL/dscores."""
            shifted = scores - scores.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            n = scores.shape[0]
            dscores = np.exp(log_p)
            dscores[np.arange(n), y] -= 1
            return float(-log_p[np.arange(n), y].mean()), dscores / n
        ''',
    ),
    Tests("ch06_backprop.two_layer_net", book="Training a two-layer network"),
    Markdown("## Task 4: written question"),
    Written(
        "fan-out",
        """
        **Question (2 points).** In the graph of f(x) = x·x + 3x, the input x feeds three
        operations. Compute df/dx at x = 2 by backpropagating through the graph, and explain the
        rule you need where a value is used more than once. Where does the same rule show up in
        your `affine_backward`?
        """,
        """
        f = x·x + 3·x. The multiply gate x·x sends dz·x to each of its two inputs, both of which
        are x: 2 + 2 = 4 (the swap rule, once per use). The gate 3·x sends 3. Gradients arriving
        at the same value from several uses are **added** (multivariable chain rule), so
        df/dx = 2 + 2 + 3 = 7 = 2x + 3 at x = 2. In `affine_backward` every weight w[d, m] is
        used by all N examples, so dw = x.T @ dout sums the contributions over the batch (and
        db sums dout over axis 0); every input x[n, d] feeds all M outputs, so dx = dout @ w.T
        sums over them.
        """,
        points=2,
    ),
]
