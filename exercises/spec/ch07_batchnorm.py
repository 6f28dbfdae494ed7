"""Spec of assignment ch07_batchnorm: batch normalisation (chapter 7)."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch07_batchnorm"
_S = "course_lib.batchnorm"

CELLS = [
    Markdown(
        """
        # Assignment 7: batch normalisation

        For a batch x of shape (N, D), batch normalisation standardises every feature (column)
        with the statistics of the batch, then lets the network rescale it:

        μ = (1/N) Σᵢ xᵢ,   σ² = (1/N) Σᵢ (xᵢ − μ)²,   x̂ = (x − μ) / √(σ² + eps),   out = γ·x̂ + β.

        At test time one example must not depend on the rest of its batch, so the layer uses
        *running* averages of μ and σ² collected during training instead. Conventions of this
        course (read them twice, the tests check them):

        - `momentum` is the weight of the **old** average:
          `running = momentum·running + (1 − momentum)·batch`, default 0.9
          (PyTorch's `momentum=0.1` means the same thing: its momentum weights the *new* batch);
        - the running **variance** is updated with the *unbiased* batch variance N/(N−1)·σ², while
          the batch itself is normalised with the biased σ²;
        - `bn_param` is a dict holding `mode`, `eps`, `momentum` and the running statistics:
          store the updated `running_mean` and `running_var` in it (it is the only argument you
          may change). Never modify `x`, `dout` or the cache.

        Each task has a test cell you can run (the number it prints is your score for that cell)
        and hidden tests that run when your notebook is graded. Restart the kernel and run
        everything before you submit.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: forward pass, train and test mode

        In train mode: normalise with the batch statistics and update the running averages (create
        them as zeros and ones when `bn_param` has none yet). In test mode: normalise with the
        running averages and leave them alone. Return `out` and a cache of whatever your backward
        pass needs (a dict is fine).
        """
    ),
    Solution(
        [f"{_S}:batchnorm_forward"],
        retype={"BatchNormCache": "Any"},
        docs={
            "batchnorm_forward": """
                Batch normalisation of a batch of feature vectors: out = γ·(x − μ)/sqrt(σ² + eps) + β.

                Args:
                    x: (N, D) input.
                    gamma: (D,) scale.
                    beta: (D,) shift.
                    bn_param: a dict with keys
                        "mode": "train" (default: normalise with the batch's mean and biased variance and
                            update the running averages) or "test" (normalise with the running averages);
                        "eps" (default 1e-5): added to the variance before the square root;
                        "momentum" (default 0.9): weight of the old running average,
                            running = momentum·running + (1 − momentum)·batch statistic;
                        "running_mean", "running_var" (D,): created as zeros and ones when missing. The
                            running variance is updated with the unbiased batch variance N/(N−1)·σ².
                        In train mode store the updated running arrays in bn_param; change nothing else.

                Returns:
                    (out, cache): out of shape (N, D); cache is whatever batchnorm_backward needs (a dict,
                    a tuple or an object: it is not graded).
                """,
        },
    ),
    Tests("ch07_batchnorm.forward", book="The forward pass"),
    Markdown(
        """
        ## Task 2: backward pass

        `out = γ·x̂ + β` gives dβ = Σᵢ doutᵢ and dγ = Σᵢ doutᵢ·x̂ᵢ (sums over the batch, no 1/N).
        For dx remember that μ and σ² are functions of *every* xᵢ: besides the direct path through
        x̂ there is a path through the mean and one through the variance. Either walk the graph
        node by node (μ → x − μ → (x − μ)² → σ² → √ → 1/√ → x̂), or simplify on paper to

        dx = (1/N) · ivar · (N·dx̂ − Σᵢ dx̂ᵢ − x̂ · Σᵢ dx̂ᵢ·x̂ᵢ),  with dx̂ = γ·dout and ivar = 1/√(σ² + eps).

        Both score the same. In test mode μ and σ² are constants and dx = γ·dout·ivar.

        Check your gradient with a **random** upstream gradient: with dout = ones the correct dx
        is exactly zero, and so is the variance term — a backward that forgets it passes.
        """
    ),
    Solution(
        [f"{_S}:batchnorm_backward"],
        retype={"BatchNormCache": "Any"},
        docs={
            "batchnorm_backward": """
                Backward pass of batchnorm_forward, in train mode and in test mode.

                Args:
                    dout: (N, D), dL/dout (not modified).
                    cache: from your batchnorm_forward (not modified).

                Returns:
                    (dx, dgamma, dbeta) of shapes (N, D), (D,), (D,).
                """,
        },
        hints=[
            'In train mode μ and σ² depend on every x in the batch; in test mode the running statistics are constants.',
        ],
    ),
    Tests("ch07_batchnorm.backward", book="The closed form"),
    Markdown(
        """
        ## Task 3: spatial batch normalisation

        After a convolution, a channel is one feature seen at H·W positions, so it gets one mean
        and one variance over N, H and W (and one γ, β). Reuse your functions: move the channel
        axis last, view x as an (N·H·W, C) matrix, normalise, and undo both steps. Careful:
        `x.reshape(-1, C)` without the transpose mixes channels and positions.
        """
    ),
    Solution(
        [f"{_S}:spatial_batchnorm_forward", f"{_S}:spatial_batchnorm_backward"],
        retype={"SpatialBatchNormCache": "Any"},
        docs={
            "spatial_batchnorm_forward": """
                Batch normalisation of convolutional feature maps: one mean and variance per channel,
                over the N·H·W values the channel holds in the batch.

                Args:
                    x: (N, C, H, W).
                    gamma, beta: (C,).
                    bn_param: as for batchnorm_forward, with running arrays of shape (C,).

                Returns:
                    (out, cache): out of shape (N, C, H, W); the cache is not graded.
                """,
            "spatial_batchnorm_backward": """
                Backward pass of spatial_batchnorm_forward.

                Args:
                    dout: (N, C, H, W) (not modified).
                    cache: from your spatial_batchnorm_forward.

                Returns:
                    (dx, dgamma, dbeta) of shapes (N, C, H, W), (C,), (C,).
                """,
        },
        hints=[
            'Your batchnorm_forward and batchnorm_backward already do the work on an (N·H·W, C) matrix: move the channel axis last before reshaping, and back afterwards.',
        ],
    ),
    Tests("ch07_batchnorm.spatial", book="Spatial Batch Normalization for convolutional layers"),
    Markdown("## Task 4: written question"),
    Written(
        "batch-dependence",
        """
        **Question (2 points).** (a) Why does batch normalisation use running averages at test
        time instead of the statistics of the test batch? (b) A network with batch normalisation
        is trained with batches of N = 2. What goes wrong with the batch statistics, and what
        happens with N = 1?
        """,
        """
        (a) With batch statistics, the prediction for one example would depend on which other
        examples share its batch (and a batch of one could not be normalised at all); at test
        time the output must be a deterministic function of the input. The running averages
        estimate the population mean and variance the network saw during training.
        (b) With N = 2 the statistics of each batch are very noisy (the mean of two values, a
        variance from one degree of freedom): x̂ is ±1 for every feature whatever the values, the
        training signal is noisy and the running averages are poor. With N = 1, x − μ = 0: every
        output equals β, the gradient with respect to x is zero, and the unbiased variance divides
        by N − 1 = 0.
        """,
        points=2,
    ),
]
