"""Spec of assignment ch01_neuron: activations and the neuron of chapter 1."""

from course_grader.generate import Markdown, Setup, Solution, Tests, Written

ASSIGNMENT = "ch01_neuron"

CELLS = [
    Markdown(
        """
        # Assignment 1: the neuron and its activations

        Every layer in this course is a pair of functions:

        ```python
        out, cache = layer_forward(x, ...)   # cache: whatever backward will need
        dx = layer_backward(dout, cache)     # dout = dL/dout, dx = dL/dx, same shape as x
        ```

        `dout` is the gradient of the loss with respect to the layer's output; backward multiplies
        it by the layer's local derivative (the chain rule). Never modify `x`, `dout` or the cache
        in place. Each task has a test cell you can run (the number it prints is your score for
        that cell; the report says what was checked) and hidden tests that run when your notebook
        is graded. Restart the kernel and run everything before you submit.
        """
    ),
    Setup(),
    Markdown(
        """
        ## Task 1: sigmoid

        σ(x) = 1 / (1 + e^(−x)), and σ'(x) = σ(x)(1 − σ(x)): cache the output, not the input.
        Careful: `np.exp(-x)` overflows for x = −1000. Compute σ so that no exponent is ever
        positive (hint: for x < 0, σ(x) = eˣ / (1 + eˣ)).
        """
    ),
    Solution(
        ["course_lib.neuron:sigmoid", "course_lib.neuron:sigmoid_forward", "course_lib.neuron:sigmoid_backward"],
        docs={
            "sigmoid": """
                The logistic function σ(z) = 1 / (1 + e^(−z)), elementwise.

                Must not overflow: σ(1000) is 1.0 and σ(−1000) is 0.0, with no NumPy warning
                (the tests treat a warning as an error).

                Args:
                    z: float array of any shape.

                Returns:
                    an array of z's shape with values in [0, 1].
                """,
            "sigmoid_forward": """
                Sigmoid layer. x: any shape. Returns (out, cache): out = σ(x), same shape as x;
                cache is what sigmoid_backward needs.
                """,
            "sigmoid_backward": """
                dout: dL/dout, the shape of out; cache: from sigmoid_forward.
                Returns dx = dL/dx, the shape of x. Do not modify dout or the cache.
                """,
        },
        hints=[
            "σ'(x) = σ(x)(1 − σ(x)) needs only the output: cache `out`.",
            "Only exponentiate numbers ≤ 0: e = e^(−|x|) is safe for every x. For x ≥ 0, σ(x) = 1 / (1 + e); "
            "for x < 0, multiply the numerator and the denominator of 1 / (1 + e^(−x)) by eˣ.",
        ],
    ),
    Tests("ch01_neuron.sigmoid", book="The sigmoid and its derivative"),
    Markdown(
        """
        ## Task 2: tanh

        tanh'(x) = 1 − tanh²(x): again the output is all backward needs.
        """
    ),
    Solution(
        ["course_lib.neuron:tanh_forward", "course_lib.neuron:tanh_backward"],
        docs={
            "tanh_forward": "tanh layer. x: any shape. Returns (out, cache): out = tanh(x), the shape of x.",
            "tanh_backward": "dout: the shape of out; cache: from tanh_forward. Returns dx, the shape of x.",
        },
        hints=["tanh'(x) = 1 − tanh²(x): the output is all backward needs."],
    ),
    Tests("ch01_neuron.tanh", book="tanh"),
    Markdown(
        """
        ## Task 3: ReLU

        relu(x) = max(0, x). Its derivative is 1 where x > 0 and 0 elsewhere (we take 0 at x = 0).
        """
    ),
    Solution(
        ["course_lib.neuron:relu_forward", "course_lib.neuron:relu_backward"],
        docs={
            "relu_forward": "ReLU layer. x: any shape. Returns (out, cache): out = max(0, x), the shape of x.",
            "relu_backward": """
                dout: the shape of out; cache: from relu_forward. Returns dx, the shape of x.
                The derivative is taken as 0 at x = 0.
                """,
        },
        hints=["The output does not tell x = 0 from x < 0 apart; the input does. Which one should the cache hold?"],
    ),
    Tests("ch01_neuron.relu", book="ReLU and its relatives"),
    Markdown(
        """
        ## Task 4: a neuron, and a layer of them

        A neuron computes a = f(x · w + b). Write `neuron_forward` for all four cases in the
        docstring's table (one neuron or a layer of M neurons; one example or a batch of N), with
        `activation` one of `"sigmoid"`, `"tanh"`, `"relu"`, `"identity"`. Use your activation
        functions from above (the dictionary `ACTIVATIONS` below maps names to them); the
        `neuron_backward` of the reference library is not part of this assignment.
        """
    ),
    Solution(
        ["course_lib.neuron:neuron_forward"],
        retype={"NeuronCache": "Any"},
        docs={
            "neuron_forward": """
                A neuron a = f(x · w + b), or a dense layer of M of them, for one example or a batch.

                Shapes (D inputs, N examples, M neurons):

                    x        w        b        out
                    (D,)     (D,)     scalar   ()      one neuron, one example
                    (N, D)   (D,)     scalar   (N,)    one neuron, a batch
                    (D,)     (D, M)   (M,)     (M,)    a layer, one example
                    (N, D)   (D, M)   (M,)     (N, M)  a layer, a batch

                A scalar b may be a Python number or a 0-d array.

                Args:
                    activation: a key of ACTIVATIONS: "sigmoid", "tanh", "relu" or "identity".

                Returns:
                    (out, cache): out of the shape above; the cache is not graded.
                """,
        },
        hints=["One expression covers all four rows of the table: `x @ w` already has the right shape in each."],
        preamble='''
        ACTIVATIONS = {
            "sigmoid": (sigmoid_forward, sigmoid_backward),
            "tanh": (tanh_forward, tanh_backward),
            "relu": (relu_forward, relu_backward),
            "identity": (lambda z: (z, None), lambda dout, cache: dout),
        }
        ''',
    ),
    Tests("ch01_neuron.neuron", book="The neuron and a dense layer, vectorised"),
    Markdown("## Task 5: written question"),
    Written(
        "saturation",
        """
        **Question (2 points).** A network uses sigmoid activations and its weights were
        initialised large, so that most pre-activations z have |z| > 5. What happens to the
        gradients that flow back through these neurons, and why? Name one remedy.
        """,
        """
        σ'(z) = σ(z)(1 − σ(z)) ≤ 1/4, and for |z| > 5 it is below 0.0067: the neuron is saturated.
        Backward multiplies the upstream gradient by σ'(z), so almost nothing flows back and,
        across several such layers, the gradient shrinks geometrically (vanishing gradients);
        the weights feeding saturated neurons barely learn. Remedies: smaller (Xavier)
        initialisation so z stays in the linear range, ReLU-type activations (derivative 1 for
        z > 0), or batch normalisation to keep z centred.
        """,
        points=2,
    ),
]
