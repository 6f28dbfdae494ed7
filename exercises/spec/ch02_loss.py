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
    Solution(["course_lib.loss:mse_loss"]),
    Tests("ch02_loss.mse"),
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
    Solution(["course_lib.loss:log_softmax", "course_lib.loss:softmax_cross_entropy"]),
    Tests("ch02_loss.softmax"),
    Markdown(
        """
        ## Task 3: multiclass hinge (SVM) loss

        Lₙ = Σ_{j ≠ yₙ} max(0, sₙⱼ − sₙ,yₙ + margin), averaged over the batch. Each violated
        class j contributes +1/N to its score's gradient and −1/N to the correct class's.
        """
    ),
    Solution(["course_lib.loss:hinge_loss"]),
    Tests("ch02_loss.hinge"),
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
