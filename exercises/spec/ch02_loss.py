"""Spec of assignment ch02_loss: the loss functions of chapter 2."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch02_loss"

CELLS = [
    Markdown(
        """
        # Assignment 2: loss functions

        A loss turns a batch of predictions into one number, and training needs its gradient with
        respect to the predictions. Each function below returns both: `loss, dpred = f(pred, ...)`,
        with `loss` a Python float (the **mean** over the N examples of the batch) and `dpred` an
        array of the shape of `pred`. Never modify the inputs.

        Each task has a test cell you can run (the number it prints is your score for that cell;
        the report says what was checked) and hidden tests that run when your notebook is graded.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: mean squared error

        L = 1/(2N) · Σₙ ‖predₙ − targetₙ‖² — the squared error summed over the outputs of an
        example and averaged over the examples, with a ½ that cancels when you differentiate.
        """
    ),
    Solution(
        ["course_lib.loss:mse_loss"],
        docs={
            "mse_loss": """
                Quadratic cost L = 1/(2N) · Σ_n ‖pred_n − target_n‖² (sum over an example's outputs, mean
                over the N examples, with the factor ½) and its gradient dL/dpred.

                Args:
                    pred: (N,) or (N, K) float array, N >= 1.
                    target: the shape of pred.

                Returns:
                    (loss, dpred): a float and an array of pred's shape.
                """,
        },
        hints=[
            'Differentiate ½·d² for one entry d = pred − target first, then remember the 1/N.',
        ],
    ),
    Tests("ch02_loss.mse", book="The quadratic cost"),
    Markdown(
        """
        ## Task 2: softmax cross-entropy

        softmax(s)ⱼ = e^(sⱼ) / Σₖ e^(sₖ); the loss of an example is −log softmax(s)_y. The
        gradient with respect to the scores is beautifully simple: (softmax(s) − onehot(y)) / N.

        Scores of ±1000 are legal: `np.exp(1000)` overflows. Softmax does not change when you
        subtract the same number from every score of a row — subtract the row maximum, and
        compute log softmax as s − max − log Σ exp(s − max).
        """
    ),
    Solution(
        ["course_lib.loss:log_softmax", "course_lib.loss:softmax_cross_entropy"],
        docs={
            "log_softmax": """
                log softmax along the last axis, finite for any finite scores (±1000 included).

                Args:
                    scores: float array of rank >= 1, classes on the last axis.

                Returns:
                    an array of scores' shape, every entry ≤ 0.
                """,
            "softmax_cross_entropy": """
                Softmax cross-entropy L = −1/N Σ_n log softmax(s_n)[y_n] and its gradient dL/dscores.

                Args:
                    scores: (N, C) float logits, N >= 1 (finite; entries of ±1000 must work).
                    y: (N,) integer labels in [0, C).

                Returns:
                    (loss, dscores): a float ≥ 0 and an (N, C) array.
                """,
        },
        hints=[
            "Softmax does not change if you subtract the same number from every score of a row: subtract the row's maximum, then every exponent is ≤ 0.",
            'Take the log before the probabilities underflow: log softmax(s)_j = s_j − log Σ_k e^(s_k). Never take log(p) of a p that may be 0 (and log(p + 1e-7) caps the loss at 16.1).',
        ],
    ),
    Tests("ch02_loss.softmax", book="Softmax and cross-entropy"),
    Markdown(
        """
        ## Task 3: multiclass hinge (SVM) loss

        Lₙ = Σ_{j ≠ yₙ} max(0, sₙⱼ − sₙ,yₙ + margin), averaged over the batch. Each violated
        class j contributes +1/N to its score's gradient and −1/N to the correct class's.
        """
    ),
    Solution(
        ["course_lib.loss:hinge_loss"],
        docs={
            "hinge_loss": """
                Multiclass SVM (hinge) loss L = 1/N Σ_n Σ_{j ≠ y_n} max(0, s_nj − s_n,y_n + margin) and dL/dscores.
                At a kink (a term exactly 0) the derivative is taken as 0.

                Args:
                    scores: (N, C) float, N >= 1.
                    y: (N,) integer labels in [0, C).
                    margin: Δ >= 0.

                Returns:
                    (loss, dscores): a float ≥ 0 and an (N, C) array.
                """,
        },
        hints=[
            'Each positive term depends on two scores of its row: s_nj (derivative +1) and s_n,y_n (derivative −1).',
        ],
    ),
    Tests("ch02_loss.hinge", book="The multiclass hinge (SVM) loss"),
    Markdown("## Task 4: written question"),
    Written(
        "initial-loss",
        """
        **Question (2 points).** A freshly initialised classifier with C = 10 classes outputs
        scores that are all close to 0. What softmax cross-entropy loss do you expect at the very
        first step, and what hinge loss (margin 1)? How does this help you debug a network?
        """,
        """
        With equal scores softmax gives 1/C to every class, so the loss is −log(1/C) = log 10 ≈
        2.303. Every one of the C − 1 wrong classes violates the margin by exactly 1, so the hinge
        loss is C − 1 = 9. If the first loss is far from these values, the initialisation, the
        loss or the labels are wrong, before any training happened.
        """,
        points=2,
    ),
]
