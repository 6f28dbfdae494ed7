"""Spec of assignment ch06_backprop: gates, the affine layer and a two-layer network (chapter 6)."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch06_backprop"
_S = "solutions/ch06_backprop.py"

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
    Solution([f"{_S}:add_gate_backward", f"{_S}:multiply_gate_backward", f"{_S}:max_gate_backward"]),
    Tests("ch06_backprop.gates"),
    Markdown(
        """
        ## Task 2: the affine layer

        `out = x @ w + b` with x (N, D), w (D, M), b (M,). Backward, with dout (N, M):
        `dx = dout @ w.T`, `dw = x.T @ dout`, `db = dout.sum(axis=0)`. Each formula follows from
        the shapes alone — check that yours have the shapes of x, w and b. The sums over the
        batch come from the weights and the bias being shared by all N examples.
        """
    ),
    Solution(["course_lib.backprop:affine_forward", "course_lib.backprop:affine_backward"]),
    Tests("ch06_backprop.affine"),
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
    Tests("ch06_backprop.two_layer_net"),
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
