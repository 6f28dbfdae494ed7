"""Spec of assignment ch03_gradient_descent: the update rules of chapter 3."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch03_gradient_descent"


def _update_doc(rule: str, defaults: str, state: str) -> str:
    """The student docstring of one update rule ``update(w, dw, config) -> (next_w, config)``."""
    return f"""
        One step of {rule}.

        Args:
            w: parameters, a float array of any shape.
            dw: dL/dw, the shape of w.
            config: hyperparameters and state, or None. Missing hyperparameters take the
                defaults {defaults}; missing state starts at zero.

        Returns:
            (next_w, config): a new array of w's shape (w and dw unchanged) and the config
            with the updated state {state}.
        """


CELLS = [
    Markdown(
        """
        # Assignment 3: gradient descent and its variants

        You will implement three update rules in the form every optimizer of this course uses:

        ```python
        next_w, config = update(w, dw, config)
        ```

        `w` is a parameter array, `dw` the gradient of the loss with respect to it, and `config` a
        dictionary holding the hyperparameters (`learning_rate`, ...) **and the state** the rule
        carries from one step to the next (a velocity, running averages, a step counter). The first
        call may pass `config=None` or a config without state: fill in the documented defaults and
        start the state at zero. Return a new `w`; never modify `w` or `dw` in place.

        Each task has a test cell you can run (the number it prints is your score for that cell)
        and hidden tests that run when your notebook is graded: more steps, other shapes and
        hyperparameters. Run the notebook from the top (*Kernel → Restart & Run All*) before you
        submit.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: SGD with momentum

        Plain SGD steps `w ← w − η·dw`. Momentum keeps a *velocity* `v`, an exponentially weighted
        sum of past steps: `v ← μ·v − η·dw`, then `w ← w + v`. Store `v` in `config["velocity"]`.
        """
    ),
    Solution(
        ["course_lib.gradient_descent:sgd_momentum"],
        docs={
            "sgd_momentum": _update_doc("SGD with momentum", defaults="learning_rate=1e-2, momentum=0.9", state='"velocity"'),
        },
    ),
    Tests("ch03_gradient_descent.sgd_momentum", book="Momentum"),
    Markdown(
        """
        ## Task 2: RMSProp

        RMSProp divides each coordinate's step by a running root-mean-square of its gradient:
        `cache ← ρ·cache + (1 − ρ)·dw²` and `w ← w − η·dw / (√cache + ε)`. Store the running
        average in `config["cache"]`.
        """
    ),
    Solution(
        ["course_lib.gradient_descent:rmsprop"],
        docs={
            "rmsprop": _update_doc("RMSProp", defaults="learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8", state='"cache"'),
        },
        hints=[
            'ε is added after the square root: √cache + ε. The difference shows for gradients near 1e-4.',
        ],
    ),
    Tests("ch03_gradient_descent.rmsprop", book="Per-weight step sizes: RMSProp and Adam"),
    Markdown(
        """
        ## Task 3: Adam

        Adam combines a running mean of the gradient (`m`, like momentum) with a running mean of
        its square (`v`, like RMSProp), and corrects both for their start at zero:

        - `t ← t + 1`
        - `m ← β₁·m + (1 − β₁)·dw`, `v ← β₂·v + (1 − β₂)·dw²`
        - `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`
        - `w ← w − η·m̂ / (√v̂ + ε)`

        Keep `m`, `v` and `t` in the config.
        """
    ),
    Solution(
        ["course_lib.gradient_descent:adam"],
        docs={
            "adam": _update_doc(
                "Adam", defaults="learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8",
                state='"m", "v" (arrays) and "t" (the number of steps taken, an int)',
            ),
        },
        hints=[
            'Increment t before the bias correction: the first step uses t = 1.',
            'ε is added after the square root of the bias-corrected v̂: √v̂ + ε.',
        ],
    ),
    Tests("ch03_gradient_descent.adam", book="Per-weight step sizes: RMSProp and Adam"),
    Markdown("## Task 4: written question"),
    Written(
        "adam-first-step",
        """
        **Question (2 points).** Show that Adam's *first* step moves every coordinate by about the
        learning rate η, whatever the size of its gradient. Why is that useful, and when could it
        hurt?
        """,
        """
        At t = 1, m = (1 − β₁)·g and v = (1 − β₂)·g², so the bias-corrected values are m̂ = g and
        v̂ = g². The step is η·g / (|g| + ε) ≈ η·sign(g): its size is η in every coordinate, whether
        the gradient there is 1e-6 or 1e3. Useful: the learning rate has the units of the
        parameters, so one value suits badly scaled parameters and the first step cannot explode.
        It can hurt when a coordinate's gradient is pure noise (tiny, random sign): it still moves
        by the full η, and with a learning rate chosen too large the first steps throw well
        initialised weights far away (one reason for learning-rate warm-up).
        """,
        points=2,
    ),
]
