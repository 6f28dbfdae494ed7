"""Build the demo class: three students' submissions of ch01_neuron and ch03_gradient_descent.

Each submission is the *release* notebook (what students download) with some answer cells filled
in, as a student would. Run after changing an assignment:

    .venv/bin/python exercises/examples/make_demo_class.py

and commit exercises/examples/submitted/. ``course demo`` grades them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from course_grader import cli

HERE = Path(__file__).resolve().parent
COURSE = HERE.parent

SIGMOID_OK = '''
def sigmoid(z):
    """Stable logistic function."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
'''

SIGMOID_NAIVE = '''
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_forward(x):
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
'''

TANH_OK = '''
def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache**2)
'''

TANH_FACTOR2 = TANH_OK.replace("dout * (1 - cache**2)", "2 * dout * (1 - cache**2)")

RELU_OK = '''
def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

RELU_INPLACE = '''
def relu_forward(x):
    x[x < 0] = 0
    return x, x


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

NEURON_OK = '''
ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "identity": (lambda z: (z, None), lambda dout, cache: dout),
}


def neuron_forward(x, w, b, activation="sigmoid"):
    z = np.asarray(x @ w + b, dtype=float)
    out, act_cache = ACTIVATIONS[activation][0](z)
    return out, (x, w, b, activation, act_cache)
'''

NEURON_NO_BIAS = NEURON_OK.replace("x @ w + b", "x @ w")

MOMENTUM_OK = '''
def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
'''

RMSPROP_OK = '''
def rmsprop(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache", np.zeros_like(w))
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * dw**2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config
'''

ADAM_OK = '''
def adam(w, dw, config=None):
    config = {} if config is None else config
    for key, value in {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}.items():
        config.setdefault(key, value)
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    t = config.get("t", 0) + 1
    b1, b2 = config["beta1"], config["beta2"]
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw**2
    config.update(m=m, v=v, t=t)
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config
'''

ADAM_NO_CORRECTION = ADAM_OK.replace("m / (1 - b1**t), v / (1 - b2**t)", "m, v")

CLASS = {
    "ada": {  # careful and complete
        "ch01_neuron": {
            "sigmoid-solution": SIGMOID_OK,
            "tanh-forward-solution": TANH_OK,
            "relu-forward-solution": RELU_OK,
            "neuron-forward-solution": NEURON_OK,
            "saturation": "For |z| > 5, σ'(z) = σ(1 − σ) < 0.007: the gradient through the neuron "
            "nearly vanishes and the weights before it stop learning. Use Xavier initialisation.",
        },
        "ch03_gradient_descent": {
            "sgd-momentum-solution": MOMENTUM_OK,
            "rmsprop-solution": RMSPROP_OK,
            "adam-solution": ADAM_OK,
            "adam-first-step": "At t = 1, m̂ = g and v̂ = g², so the step is η·g/|g| = η·sign(g).",
        },
    },
    "ben": {  # everything attempted, three classic bugs
        "ch01_neuron": {
            "sigmoid-solution": SIGMOID_NAIVE,
            "tanh-forward-solution": TANH_FACTOR2,
            "relu-forward-solution": RELU_OK,
            "neuron-forward-solution": NEURON_NO_BIAS,
        },
        "ch03_gradient_descent": {
            "sgd-momentum-solution": MOMENTUM_OK,
            "rmsprop-solution": RMSPROP_OK,
            "adam-solution": ADAM_NO_CORRECTION,
        },
    },
    "cai": {  # ran out of time
        "ch01_neuron": {
            "sigmoid-solution": SIGMOID_OK,
            "relu-forward-solution": RELU_INPLACE,
        },
        "ch03_gradient_descent": {"sgd-momentum-solution": MOMENTUM_OK},
    },
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
        assignments = sorted({a for s in CLASS.values() for a in s})
        for a in assignments:
            shutil.copytree(COURSE / "source" / a, course / "source" / a)
        assert cli.main(["release", "--course", str(course), *assignments]) == 0
        out_root = HERE / "submitted"
        if out_root.exists():
            shutil.rmtree(out_root)
        for student, work in CLASS.items():
            for a, answers in work.items():
                nb = json.loads((course / "release" / a / f"{a}.ipynb").read_text(encoding="utf-8"))
                seen = set()
                for cell in nb["cells"]:
                    gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
                    if gid in answers:
                        text = answers[gid].strip("\n")
                        cell["source"] = text.splitlines(keepends=True)
                        seen.add(gid)
                missing = set(answers) - seen
                assert not missing, f"{student}/{a}: no cells {missing}"
                dest = out_root / student / a / f"{a}.ipynb"
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
                print(f"wrote {dest.relative_to(COURSE)}")


if __name__ == "__main__":
    main()
