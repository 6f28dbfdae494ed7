"""Spec of assignment ch08_dropout: inverted dropout and weight initialisation (chapter 8)."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch08_dropout"

CELLS = [
    Markdown(
        """
        # Assignment 8: dropout and initialisation

        **Dropout** switches off a random subset of units in every training step, so that no unit
        can rely on a particular other one. This course always speaks of `keep_prob`, the
        probability of *keeping* a unit (PyTorch's `nn.Dropout(p)` takes the probability of
        *dropping* one: mixing the two up silently scales by the wrong factor).

        We use **inverted** dropout: in training every unit is kept with probability `keep_prob`
        and the kept ones are divided by `keep_prob`, so E[out] = x; at test time the layer is the
        identity, nothing to remember in `predict`.

        Randomness is explicit: `rng` is an integer seed, a `np.random.Generator` or None, and
        `np.random.default_rng(rng)` turns any of them into a generator. The same seed must give
        the same mask (that is how the tests, and you, can check a gradient).

        **Initialisation** sets the scale of the weights so that activations neither vanish nor
        explode through depth. Never modify the inputs. Each task has a test cell you can run and
        hidden tests that run when your notebook is graded.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: inverted dropout, forward

        In train mode draw u uniform in [0, 1) for every entry (`gen.random(x.shape)`), keep the
        units with u < keep_prob, and return x·mask with mask = (u < keep_prob) / keep_prob. In
        test mode return a copy of x. The tests check the structure of your output (each entry is
        0 or x/keep_prob), the fraction of units kept (within five standard deviations) and that
        one seed gives one mask — not one particular mask.
        """
    ),
    Solution(
        ["course_lib.dropout:dropout_forward"],
        retype={"DropoutCache": "Any"},
        docs={
            "dropout_forward": """
                Inverted dropout: in train mode keep each unit with probability keep_prob and scale the
                kept ones so that the expected output equals x; in test mode return x unchanged.

                Args:
                    x: float array of any shape with at least one axis.
                    keep_prob: probability of keeping a unit, in (0, 1].
                    mode: "train" or "test".
                    rng: a np.random.Generator, an int seed or None. Draw u = np.random.default_rng(rng)
                        .random(x.shape) once (a Generator is used as it is) and keep the units where
                        u < keep_prob, so that the same seed gives the same mask as the tests'.

                Returns:
                    (out, cache): out of x's shape; cache is what dropout_backward needs (not graded).
                """,
        },
    ),
    Tests("ch08_dropout.forward", book="Inverted dropout"),
    Markdown(
        """
        ## Task 2: dropout, backward

        out = x·mask is linear in x, so dx = dout·mask — with the mask the forward pass used.
        A backward that draws a fresh mask computes the gradient of a different network.
        """
    ),
    Solution(
        ["course_lib.dropout:dropout_backward"],
        retype={"DropoutCache": "Any"},
        docs={
            "dropout_backward": """
                Backward pass of dropout_forward.

                Args:
                    dout: dL/dout, the shape of the forward's output (not modified).
                    cache: from your dropout_forward.

                Returns:
                    dx, the shape of dout.
                """,
        },
    ),
    Tests("ch08_dropout.backward", book="Backward: the same mask"),
    Markdown(
        """
        ## Task 3: fan-in, fan-out, He and Xavier initialisation

        A unit computes z = Σᵢ wᵢxᵢ over fan_in inputs, so Var(z) = fan_in·Var(w)·E[x²].

        - For an affine weight (D, M) (`x @ w`): fan_in = D, fan_out = M. For a conv weight
          (F, C, HH, WW): each output sees C·HH·WW inputs, so fan_in = C·HH·WW, and
          fan_out = F·HH·WW.
        - **He** (for ReLU): Var(w) = 2/fan_in — ReLU zeroes half of its inputs, E[relu(z)²] =
          Var(z)/2, and the 2 compensates.
        - **Xavier/Glorot** (for tanh, sigmoid): Var(w) = 2/(fan_in + fan_out), a compromise
          between keeping the forward and the backward variance.

        Draw normal entries (`gen.standard_normal(shape) * std`); careful: `std` is the square
        root of the variance.
        """
    ),
    Solution(
        ["course_lib.init:fans", "course_lib.init:he_init", "course_lib.init:xavier_init"],
        docs={
            "fans": """
                (fan_in, fan_out) of an affine weight or a convolution weight.

                Args:
                    shape: (D, M) for an affine layer x @ w, or (F, C, HH, WW) for a convolution.

                Returns:
                    (fan_in, fan_out): how many inputs each output sees, and how many outputs each input
                    reaches.
                """,
            "he_init": """
                He (Kaiming) normal initialisation: independent N(0, 2 / fan_in) entries.

                Args:
                    shape: (D, M) or (F, C, HH, WW).
                    rng: an int seed, a np.random.Generator or None (np.random.default_rng(rng)).
                    dtype: the floating dtype of the result.

                Returns:
                    an array of the given shape and dtype.
                """,
            "xavier_init": """
                Xavier (Glorot) normal initialisation: independent N(0, 2 / (fan_in + fan_out)) entries.
                Arguments and result as in he_init.
                """,
        },
    ),
    Tests("ch08_dropout.init", book="Initialisation: keeping the variance constant"),
    Markdown("## Task 4: written question"),
    Written(
        "inverted-dropout",
        """
        **Question (2 points).** A colleague trains a network with dropout (`keep_prob = 0.8`)
        but *without* dividing by keep_prob, and at test time also runs the network without
        dropout and without any rescaling. What goes wrong, by how much, and what are the two
        ways to fix it?
        """,
        """
        During training each unit of the next layer receives on average 0.8 of its inputs, so
        the weights adapt to pre-activations about 0.8 times as large as what the full network
        produces. At test time every unit is present, so the next layer's input is 1/0.8 = 1.25
        times larger than in training: the activations are systematically too large (worse
        through several layers and after a nonlinearity). Fix 1 ("direct" dropout): multiply the
        activations by keep_prob at test time. Fix 2 (inverted dropout, used here): divide the
        kept units by keep_prob during training, so E[out] = x and test time is the identity.
        """,
        points=2,
    ),
]
