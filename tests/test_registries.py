"""One definition each: the activations, the layer classes and the optimizer state keys.

Each of these facts is written down once — ``course_lib.neuron.ACTIVATIONS``,
``course_lib.layers.LAYERS`` (filled by the layer classes themselves) and
``course_lib.validate.OPTIMIZER_STATE`` — and every module that needs it reads it from there.
The tests below import the one definition and check its users two ways:

- by behaviour: each user accepts exactly the registered names and runs the registered code;
- by source: no module of ``course_lib`` or ``course_grader`` holds a second hand-written list
  (a tuple, list, set or dict literal of registered names; ``__all__`` aside).

Also here: importing every ``course_lib`` module loads no grading code (nbgrader, course_grader).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import course_lib
from course_lib import architectures, dropout, gradient_descent, neuron, widgets
from course_lib.architectures import LayerSpec, ModelSpec, Sequential, mlp, summary
from course_lib.layers import LAYERS, Layer, build_layer
from course_lib.neuron import ACTIVATIONS
from course_lib.validate import OPTIMIZER_DEFAULTS, OPTIMIZER_STATE

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("course_lib", "course_grader")


def _all_course_lib_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.")]


for _name in _all_course_lib_modules():  # every layer class is defined (and registered) by now
    importlib.import_module(_name)


# ------------------------------------------------------------------------------------------------
# Source scan: literal collections of strings in both packages
# ------------------------------------------------------------------------------------------------

def _literal_collections() -> Iterator[tuple[str, int, frozenset[str]]]:
    """(file relative to the repo, line, the string constants) of every tuple/list/set/dict
    literal in course_lib/ and course_grader/, except the values of ``__all__``."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            exported = {
                id(node.value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            }
            for node in ast.walk(tree):
                if id(node) in exported:
                    continue
                if isinstance(node, ast.Tuple | ast.List | ast.Set):
                    elts = list(node.elts)
                elif isinstance(node, ast.Dict):
                    elts = [k for k in node.keys if k is not None] + list(node.values)
                else:
                    continue
                strings = frozenset(e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
                if strings:
                    yield str(path.relative_to(ROOT)), node.lineno, strings


def _listings(names: set[str], at_least: int) -> list[tuple[str, int, list[str]]]:
    return [(path, line, sorted(strings & names)) for path, line, strings in _literal_collections()
            if len(strings & names) >= at_least]


def _imports_from(path: Path, module: str) -> set[str]:
    """Names ``path`` imports with ``from <module> import ...``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == module
            for a in node.names}


def test_the_scan_sees_the_definitions_it_guards() -> None:
    # The scanner must find real listings, or the "no second list" tests below prove nothing.
    state_keys = {k for keys in OPTIMIZER_STATE.values() for k in keys}
    assert ("course_lib/validate.py", ["m", "t", "v"]) in [(p, n) for p, _, n in _listings(state_keys, 2)]
    assert any(p == "course_lib/validate.py" for p, _, _ in _listings(set(OPTIMIZER_STATE), 5))


# ------------------------------------------------------------------------------------------------
# Activations: course_lib.neuron.ACTIVATIONS
# ------------------------------------------------------------------------------------------------

#: Hand-written subsets of activation names that are choices, not definitions: chapter 1's
#: assignment grades sigmoid, tanh and relu as separate tasks.
GRADED_SUBSETS = {("course_grader/tasks/ch01_neuron.py", ("relu", "sigmoid", "tanh"))}


def test_activation_names_are_listed_only_in_the_registry() -> None:
    found = {(path, tuple(names)) for path, _, names in _listings(set(ACTIVATIONS), 2)}
    assert found <= GRADED_SUBSETS, f"a second list of activations: {sorted(found - GRADED_SUBSETS)}"


def test_every_activation_entry_is_consistent() -> None:
    for name, act in ACTIVATIONS.items():
        assert act.name == name
        forward, backward = act  # an entry unpacks as its functional pair (chapter 1, the exercises)
        assert (forward, backward) == (act.forward, act.backward)
        assert act.init in ("he", "xavier")
        assert ("alpha" in inspect.signature(act.forward).parameters) == act.alpha, name
        if act.layer is not None:
            assert act.layer.activation == name
            assert LAYERS[act.layer.__name__] is act.layer


def test_the_activation_layers_are_the_registered_ones(rng: np.random.Generator) -> None:
    # Every layer class defined in course_lib.neuron is an activation of the registry and runs
    # the registry's functional pair.
    neuron_layers = {cls for cls in LAYERS.values() if cls.__module__ == "course_lib.neuron"}
    assert neuron_layers == {a.layer for a in ACTIVATIONS.values() if a.layer is not None}
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    for act in ACTIVATIONS.values():
        if act.layer is None:
            continue
        layer = act.layer()
        out, cache = act.forward(x)
        np.testing.assert_array_equal(layer.forward(x), out)
        np.testing.assert_array_equal(layer.backward(dout), act.backward(dout, cache))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_users_accept_every_registered_activation(name: str, rng: np.random.Generator) -> None:
    act = ACTIVATIONS[name]
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    out, _ = neuron.neuron_forward(x, w, b, name)
    np.testing.assert_array_equal(out, act.forward((x @ w + b).astype(x.dtype))[0])
    assert dropout.activation_stats(2, 8, "he", name, 0, batch=4).shape == (2,)
    if act.layer is None:  # a network needs a layer per activation
        with pytest.raises(ValueError, match="activation must be one of"):
            mlp(activation=name, materialize=False)
        assert name not in widgets.ACTIVATION_NAMES
        return
    spec = mlp(activation=name, materialize=False)
    assert isinstance(spec, ModelSpec)
    assert [s.kind for s in spec][2] == act.layer.__name__
    assert spec.specs[1].kwargs["init"] == act.init  # the hidden layer's He/Xavier choice
    assert name in widgets.ACTIVATION_NAMES


def test_unregistered_activations_are_refused_everywhere(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="activation must be one of"):
        neuron.neuron_forward(x, rng.standard_normal((3, 2)), np.zeros(2), "swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        dropout.activation_stats(activation="swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        architectures.seed_cnn(activation="swish", materialize=False)
    with pytest.raises(ValueError, match="activation must be one of"):
        widgets.plot_activations(["swish"])


def test_activation_users_import_the_registry() -> None:
    for module in ("architectures", "dropout", "widgets"):
        assert "ACTIVATIONS" in _imports_from(ROOT / "course_lib" / f"{module}.py", "course_lib.neuron"), module


# ------------------------------------------------------------------------------------------------
# Layer classes: course_lib.layers.LAYERS
# ------------------------------------------------------------------------------------------------

def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_layer_class_is_registered() -> None:
    classes = {c for c in _subclasses(Layer) if c.__module__.startswith("course_lib.") and not c.__name__.startswith("_")}
    assert "ConvTranspose2D" in {c.__name__ for c in classes}
    for cls in classes:
        assert LAYERS.get(cls.__name__) is cls, cls


def test_architectures_alone_registers_every_layer() -> None:
    # summary, LayerSpec and Sequential.load live in architectures: importing it must be enough.
    code = "import course_lib.architectures\nfrom course_lib.layers import LAYERS\nprint(sorted(LAYERS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT).stdout
    expected = sorted(name for name, cls in LAYERS.items() if cls.__module__.startswith("course_lib."))
    assert out.strip() == repr(expected)


def test_layer_classes_are_listed_only_by_the_registry() -> None:
    # Two names may appear together as an option map (e.g. {"max": "MaxPool2D", "avg": ...});
    # three or more is a list of layers kept by hand.
    assert _listings(set(LAYERS), 3) == []


#: One example per layer kind: constructor arguments and one example's input shape.
EXAMPLES: dict[str, tuple[tuple, dict, tuple[int, ...]]] = {
    "Affine": ((6, 4), {}, (6,)),
    "AvgPool2D": ((2,), {}, (3, 6, 6)),
    "BatchNorm": ((5,), {}, (5,)),
    "Conv2D": ((3, 4, 3), {"stride": 2, "pad": 1}, (3, 7, 7)),
    "ConvTranspose2D": ((3, 2, 2), {"stride": 2}, (3, 4, 5)),
    "Dropout": ((0.5,), {}, (7,)),
    "ELU": ((), {"alpha": 0.5}, (2, 3, 3)),
    "Flatten": ((), {}, (2, 3, 3)),
    "GlobalAvgPool2D": ((), {}, (3, 4, 4)),
    "LeakyReLU": ((), {}, (4,)),
    "MaxPool2D": ((3,), {"stride": 2}, (2, 7, 7)),
    "ReLU": ((), {}, (4,)),
    "Sigmoid": ((), {}, (4,)),
    "SpatialBatchNorm": ((3,), {}, (3, 4, 4)),
    "Tanh": ((), {}, (4,)),
}


def test_the_examples_cover_every_layer_kind() -> None:
    kinds = {name for name, cls in LAYERS.items() if cls.__module__.startswith("course_lib.")}
    # Containers (a stack of layers, a skip connection around one) have no one-line spec.
    assert kinds - {"Sequential", "Residual"} == set(EXAMPLES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_spec_numbers_are_the_layer_classes_numbers(kind: str) -> None:
    args, kwargs, shape = EXAMPLES[kind]
    spec = LayerSpec(kind, args, kwargs)
    layer = spec.build(rng=0, dtype=np.float64)
    assert type(layer) is LAYERS[kind]
    assert spec.output_shape(shape) == layer.output_shape(shape)
    assert spec.macs(shape) == layer.macs(shape)
    assert spec.param_shapes() == {k: v.shape for k, v in layer.params.items()}
    x = np.random.default_rng(0).standard_normal((2, *shape))
    assert layer.forward(x).shape == (2, *spec.output_shape(shape))
    built = summary(Sequential(layer), shape).rows[0]
    paper = summary(ModelSpec([spec]), shape).rows[0]
    assert (built.output_shape, built.weights, built.biases, built.macs) == \
           (paper.output_shape, paper.weights, paper.biases, paper.macs)


def test_a_layer_on_paper_has_shapes_but_no_memory() -> None:
    tracemalloc.start()
    try:
        layer = LAYERS["Affine"].on_paper(20_000, 10_000)  # 1.6 GB in float64
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert layer.params["w"].shape == (20_000, 10_000) and layer.num_params() == 200_010_000
    assert layer.macs((20_000,)) == 200_000_000
    with pytest.raises(RuntimeError, match="built on paper"):
        layer.forward(np.zeros((1, 20_000)))


def test_unknown_layer_kinds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown layer kind 'Conv3D'"):
        LayerSpec("Conv3D")
    net = Sequential(LAYERS["Affine"](3, 2, rng=0), LAYERS["ReLU"]())
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["__architecture__"] = np.array(str(arrays["__architecture__"]).replace('"ReLU"', '"Swish"'))
    np.savez(tmp_path / "foreign.npz", **arrays)
    with pytest.raises(ValueError, match="layer 1 is a 'Swish', which is not a layer class"):
        net.load(tmp_path / "foreign.npz")


# ------------------------------------------------------------------------------------------------
# Optimizer state keys: course_lib.validate.OPTIMIZER_STATE
# ------------------------------------------------------------------------------------------------

STATE_KEYS = {k for keys in OPTIMIZER_STATE.values() for k in keys}


def test_optimizer_state_keys_are_listed_only_in_validate() -> None:
    assert {p for p, _, _ in _listings(STATE_KEYS, 2)} == {"course_lib/validate.py"}
    assert {p for p, _, strings in _literal_collections() if strings & {"velocity", "cache"}} == {"course_lib/validate.py"}
    # The rule names key the defaults and the state in validate and the update functions in
    # gradient_descent: all three name the same rules (RULES also knows "momentum" as an alias).
    assert set(OPTIMIZER_DEFAULTS) == set(OPTIMIZER_STATE) == {f.__name__ for f in gradient_descent.RULES.values()}


def test_optimizer_state_users_import_the_definition() -> None:
    for path in (ROOT / "course_lib" / "gradient_descent.py", ROOT / "course_grader" / "tasks" / "ch03_gradient_descent.py"):
        assert "OPTIMIZER_STATE" in _imports_from(path, "course_lib.validate"), path


@pytest.mark.parametrize("rule", sorted(OPTIMIZER_STATE))
def test_every_update_rule_keeps_exactly_its_registered_state(rule: str, rng: np.random.Generator) -> None:
    w, dw = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    _, config = gradient_descent.RULES[rule](w, dw, None)
    assert set(config) == set(OPTIMIZER_DEFAULTS[rule]) | set(OPTIMIZER_STATE[rule])
    opt = gradient_descent.make_optimizer(rule)
    params = {"w": w.copy()}
    opt.step(params, {"w": dw})
    opt.step(params, {"w": dw})  # the second step may take another path (in-place Adam)
    assert set(opt.configs["w"]) == set(config)
    for key in OPTIMIZER_STATE[rule]:
        with pytest.raises(ValueError, match="is optimiser state"):
            gradient_descent.make_optimizer(rule, **{key: 0})


# ------------------------------------------------------------------------------------------------
# One mode switch: Layer.train() / Layer.eval(), translated to mode="train"/"test" in Layer.mode
# ------------------------------------------------------------------------------------------------

def test_train_and_eval_switch_every_layer_and_the_functions_follow(rng: np.random.Generator) -> None:
    bn, drop = LAYERS["BatchNorm"](3), LAYERS["Dropout"](0.5, rng=0)
    net = Sequential(bn, drop)
    assert (net.mode, bn.mode, drop.mode) == ("train", "train", "train")
    x = rng.standard_normal((6, 3))
    assert np.count_nonzero(net.forward(x) == 0) > 0  # dropout drops in training mode
    net.eval()
    assert (net.mode, bn.mode, drop.mode) == ("test", "test", "test")
    # test mode: BatchNorm uses its running averages, dropout is the identity
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12)
    net.train()
    assert (bn.training, drop.training) == (True, True)


def test_only_layer_mode_translates_training_into_a_mode_string() -> None:
    # In the library, ``"train" if ... else "test"`` is written once, in Layer.mode.
    found = []
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.IfExp) and {getattr(node.body, "value", None), getattr(node.orelse, "value", None)} == {"train", "test"}:
                found.append(str(path.relative_to(ROOT)))
    assert found == ["course_lib/layers.py"]


# ------------------------------------------------------------------------------------------------
# One training record: course_lib.history.History
# ------------------------------------------------------------------------------------------------

def test_every_training_loop_returns_the_one_history_type() -> None:
    # No second history class anywhere in the library ...
    classes = [(path, node.name) for path in sorted((ROOT / "course_lib").rglob("*.py"))
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ClassDef) and "History" in node.name]
    assert [name for _, name in classes] == ["History"]
    # ... and the loops return it: fit (chapters 6-9) and chapter 3's regression loop.
    from course_lib.backprop import TwoLayerNet
    from course_lib.data import load_digits
    from course_lib.history import History
    from course_lib.train import fit

    digits = load_digits(flatten=True, validation_size=20, test_size=20, dtype=np.float64)
    assert type(fit(TwoLayerNet(64, 4, 10), digits, "sgd", 1, 200, progress=False)) is History
    X = np.random.default_rng(0).standard_normal((8, 2))
    assert type(gradient_descent.linear_regression_gd(X, X[:, 0], 4, 0.1, 1)[2]) is History


# ------------------------------------------------------------------------------------------------
# course_lib loads no grading code
# ------------------------------------------------------------------------------------------------

def test_importing_every_course_lib_module_loads_no_grading_code() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import course_lib\n"
        "names = [m.name for m in pkgutil.walk_packages(course_lib.__path__, 'course_lib.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('nbgrader', 'course_grader'))\n"
        "print(len(names), bad)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    count, bad = result.stdout.split(" ", 1)
    assert int(count) == len(_all_course_lib_modules()) >= 15
    assert bad.strip() == "[]", f"importing course_lib loaded grading code: {bad}"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_per_example_layers_give_the_same_numbers_split_across_threads(kind: str) -> None:
    """A layer kind marked per_example may be run data-parallel by Sequential: the batch split
    across 2 threads gives the whole batch's output, input gradient and parameter gradients."""
    from course_lib import fast
    from course_lib.architectures import Sequential
    from course_lib.fast.parallel import BatchSplit

    args, kwargs, shape = EXAMPLES[kind]
    model = Sequential(LayerSpec(kind, args, kwargs).build(rng=0, dtype=np.float64))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, *shape))
    dout = rng.standard_normal((40, *model.layers[0].output_shape(shape)))
    before = fast.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            fast.set_num_threads(threads)
            out = model.forward(x)
            assert isinstance(model._cache, BatchSplit) == (threads == 2 and LAYERS[kind].per_example)
            results.append((out, model.backward(dout), {k: v.copy() for k, v in model.gradients().items()}))
    finally:
        fast.set_num_threads(before)
    if not LAYERS[kind].per_example:
        return  # not split (asserted above); its numbers may differ from run to run (Dropout)
    (out1, dx1, g1), (out2, dx2, g2) = results
    np.testing.assert_allclose(out2, out1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx2, dx1, rtol=1e-12, atol=1e-12)
    assert g1.keys() == g2.keys()
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Caches: one style for every chapter (course_lib.validate's module docstring states it)
# ------------------------------------------------------------------------------------------------

def _cache_cases() -> dict[str, tuple[Any, Any, tuple, dict, str | None]]:
    """forward name -> (forward, backward, inputs, options, the cache type's name or None for one
    array). Inputs avoid the kinks (|x| >= 0.1) and ties, so every backward is unique."""
    from course_lib import backprop, batchnorm, conv, pooling

    rng = np.random.default_rng(0)

    def away(shape: tuple[int, ...]) -> np.ndarray:
        x = rng.standard_normal(shape)
        return np.where(np.abs(x) < 0.1, 0.5, x)

    x4, w4, b3 = away((2, 2, 5, 5)), away((3, 2, 3, 3)), away((3,))
    wT = away((2, 3, 3, 3))  # (C_in, F_out, HH, WW)
    x2, w2, b2 = away((4, 3)), away((3, 2)), away((2,))
    bn = {"mode": "train"}
    pool = {"pool_size": 2, "stride": 2}
    return {
        "sigmoid_forward": (neuron.sigmoid_forward, neuron.sigmoid_backward, (x2,), {}, None),
        "tanh_forward": (neuron.tanh_forward, neuron.tanh_backward, (x2,), {}, None),
        "relu_forward": (neuron.relu_forward, neuron.relu_backward, (x2,), {}, None),
        "leaky_relu_forward": (neuron.leaky_relu_forward, neuron.leaky_relu_backward, (x2,), {}, "LeakyReLUCache"),
        "elu_forward": (neuron.elu_forward, neuron.elu_backward, (x2,), {}, "ELUCache"),
        "neuron_forward": (neuron.neuron_forward, neuron.neuron_backward, (x2, w2, b2), {}, "NeuronCache"),
        "conv_forward_naive": (conv.conv_forward_naive, conv.conv_backward_naive, (x4, w4, b3), {"pad": 1}, "ConvNaiveCache"),
        "conv_forward": (conv.conv_forward, conv.conv_backward, (x4, w4, b3), {"stride": 2}, "ConvCache"),
        "conv_forward_dilated": (conv.conv_forward_dilated, conv.conv_backward_dilated, (x4, w4[..., :2, :2], b3),
                                 {"dilation": 2}, "ConvDilatedCache"),
        "conv_transpose_forward": (conv.conv_transpose_forward, conv.conv_transpose_backward, (x4, wT, b3),
                                   {"stride": 2}, "ConvTransposeCache"),
        "conv_transpose_forward_naive": (conv.conv_transpose_forward_naive, conv.conv_transpose_backward, (x4, wT, b3),
                                         {"stride": 2}, "ConvTransposeCache"),
        "max_pool_forward_naive": (pooling.max_pool_forward_naive, pooling.max_pool_backward_naive, (x4,), pool, "MaxPoolNaiveCache"),
        "max_pool_forward": (pooling.max_pool_forward, pooling.max_pool_backward, (x4,), pool, "MaxPoolCache"),
        "avg_pool_forward_naive": (pooling.avg_pool_forward_naive, pooling.avg_pool_backward_naive, (x4,), pool, "AvgPoolCache"),
        "avg_pool_forward": (pooling.avg_pool_forward, pooling.avg_pool_backward, (x4,), pool, "AvgPoolCache"),
        "global_avg_pool_forward": (pooling.global_avg_pool_forward, pooling.global_avg_pool_backward, (x4,), {}, "GlobalAvgPoolCache"),
        "affine_forward": (backprop.affine_forward, backprop.affine_backward, (x2, w2, b2), {}, "AffineCache"),
        "batchnorm_forward": (lambda x, g, b: batchnorm.batchnorm_forward(x, g, b, dict(bn)), batchnorm.batchnorm_backward,
                              (x2, away((3,)), away((3,))), {}, "BatchNormCache"),
        "spatial_batchnorm_forward": (lambda x, g, b: batchnorm.spatial_batchnorm_forward(x, g, b, dict(bn)),
                                      batchnorm.spatial_batchnorm_backward, (x4, away((2,)), away((2,))), {},
                                      "SpatialBatchNormCache"),
        "dropout_forward": (dropout.dropout_forward, dropout.dropout_backward, (x2,), {"keep_prob": 0.5, "rng": 0}, "DropoutCache"),
    }


def test_the_cache_cases_cover_every_forward_pass() -> None:
    from course_lib import backprop, batchnorm, conv, pooling

    modules = (neuron, conv, pooling, backprop, batchnorm, dropout)
    forwards = {n for m in modules for n in m.__all__ if "_forward" in n and callable(getattr(m, n))}
    assert forwards == set(_cache_cases())


@pytest.mark.parametrize("forward_name", sorted(_cache_cases()))
def test_every_cache_follows_the_one_style(forward_name: str) -> None:
    from course_lib import validate

    forward, backward, inputs, options, kind = _cache_cases()[forward_name]
    out, cache = forward(*(a.copy() for a in inputs), **options)
    dout = np.random.default_rng(1).standard_normal(np.shape(out))
    expected = backward(dout.copy(), cache)
    if kind is None:  # one array: what the backward pass reads, of the input's shape
        assert isinstance(cache, np.ndarray) and cache.shape == inputs[0].shape
        return
    # A NamedTuple of course_lib.validate, exported there under its own name.
    assert type(cache).__name__ == kind and getattr(validate, kind) is type(cache) and kind in validate.__all__
    assert isinstance(cache, tuple) and type(cache)._fields
    # The same fields as a plain tuple (what a reader's own forward returns) give the same gradients.
    again = backward(dout.copy(), tuple(cache))
    pairs = zip(expected, again) if isinstance(expected, tuple) else [(expected, again)]
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
    # Anything else is refused, naming the type and the forward pass that returns it.
    for junk in (tuple(cache)[:-1], np.zeros(3), [*cache]):
        with pytest.raises(TypeError, match=rf"cache must be the {kind} that \w*forward\w* returns"):
            backward(dout.copy(), junk)


# ------------------------------------------------------------------------------------------------
# Rebuilding layers: Sequential.save / from_file / load go through the registry
# ------------------------------------------------------------------------------------------------

def _example_layers() -> dict[str, Layer]:
    """One built layer per registered kind (containers included), with non-default state."""
    layers: dict[str, Layer] = {kind: LayerSpec(kind, args, kwargs).build(rng=0, dtype=np.float64)
                                for kind, (args, kwargs, _) in EXAMPLES.items()}
    conv = LayerSpec("Conv2D", (3, 3, 3), {"pad": 1}).build(rng=1, dtype=np.float64)
    layers["Residual"] = architectures.Residual(conv, LAYERS["ReLU"]())
    layers["Sequential"] = Sequential(LAYERS["Affine"](3, 4, rng=2, dtype=np.float32), LAYERS["BatchNorm"](4),
                                      Sequential(LAYERS["ReLU"](), LAYERS["Dropout"](0.8)))
    return layers


def test_the_rebuild_examples_cover_every_layer_kind() -> None:
    assert set(_example_layers()) == {name for name, cls in LAYERS.items() if cls.__module__.startswith("course_lib.")}


@pytest.mark.parametrize("kind", sorted(_example_layers()))
def test_every_layer_kind_round_trips_through_a_file(kind: str, tmp_path: Path) -> None:
    layer = _example_layers()[kind]
    shape = EXAMPLES[kind][2] if kind in EXAMPLES else ((3, 5, 5) if kind == "Residual" else (3,))
    rng = np.random.default_rng(3)
    net = Sequential(layer)
    net.forward(rng.standard_normal((4, *shape)))  # BatchNorm's running statistics move
    for p in net.parameters().values():
        p[...] = rng.standard_normal(p.shape)  # not what the constructor drew
    # The config holds every constructor argument except init and rng (which only choose weights);
    # a container's *layers are its "layers".
    params = inspect.signature(type(layer).__init__).parameters
    wanted = {n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD}
    assert set(layer.config()) == wanted - {"init", "rng"}
    net.save(tmp_path / "net.npz")
    again = Sequential.from_file(tmp_path / "net.npz")
    assert type(again[0]) is LAYERS[kind] and repr(again) == repr(net)
    assert again.architecture() == net.architecture()
    for a, b in zip(again.parameters().values(), net.parameters().values(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for a, b in zip(again.state().values(), net.state().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((2, *shape))
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
    # and into an existing network of the same architecture
    other = Sequential(build_layer(layer.record()))
    assert other.load(tmp_path / "net.npz") is other
    np.testing.assert_array_equal(other.predict(x), net.predict(x))


def _saved_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    net = Sequential(LAYERS["Conv2D"](1, 2, 3, rng=0), LAYERS["ReLU"](), LAYERS["Flatten"](), LAYERS["Affine"](18, 2, rng=0))
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as f:
        return {k: f[k] for k in f.files}


def _with_entry(tmp_path: Path, i: int, change: Any) -> Path:
    arrays = _saved_arrays(tmp_path)
    arch = __import__("json").loads(str(arrays["__architecture__"]))
    change(arch[i])
    arrays["__architecture__"] = np.array(__import__("json").dumps(arch))
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(("i", "change", "message"), [
    (1, lambda e: e.update({"class": "Swish"}), r"layer 1 is a 'Swish', which is not a layer class"),
    (0, lambda e: e["config"].update({"in_channels": -1}), r"layer 0: cannot build Conv2D from config .*in_channels must be >= 1"),
    (0, lambda e: e["config"].update({"groups": 2}), r"layer 0: cannot build Conv2D from config .*unexpected keyword argument 'groups'"),
    (3, lambda e: e.update({"config": "18 -> 2"}), r"layer 3: a layer record is a dict"),
    (3, lambda e: e.pop("config"), r"layer 3 is recorded as .*not a dict with \['class', 'config', 'params', 'state'\]"),
    (3, lambda e: e["params"].update({"w": [18, 3]}), r"layer 3 \(Affine\(18, 2\)\) records params .*\[18, 3\].* its config builds .*\[18, 2\].*corrupt"),
])
def test_a_corrupt_or_unknown_entry_is_refused_with_a_clear_error(tmp_path: Path, i: int, change: Any, message: str) -> None:
    path = _with_entry(tmp_path, i, change)
    with pytest.raises(ValueError, match=message):
        Sequential.from_file(path)
    fresh = Sequential(LAYERS["Conv2D"](1, 2, 3, rng=0), LAYERS["ReLU"](), LAYERS["Flatten"](), LAYERS["Affine"](18, 2, rng=0))
    with pytest.raises(ValueError, match=message):
        fresh.load(path)


def test_load_compares_configs_not_only_shapes(tmp_path: Path) -> None:
    # Same parameter shapes, another stride: the weights would compute something else.
    Sequential(LAYERS["Conv2D"](1, 2, 3, rng=0)).save(tmp_path / "s1.npz")
    with pytest.raises(ValueError, match=r"mismatch at layer 0: the file has Conv2D\(1, 2, .*stride=1.*this network has Conv2D\(1, 2, .*stride=2"):
        Sequential(LAYERS["Conv2D"](1, 2, 3, stride=2, rng=0)).load(tmp_path / "s1.npz")
    # The parameters' dtype and need_dx do not change the function: they may differ.
    net = Sequential(LAYERS["Conv2D"](1, 2, 3, rng=0, dtype=np.float64, need_dx=False))
    assert net.load(tmp_path / "s1.npz") is net and net.parameters()["0.w"].dtype == np.float64


def test_a_version_1_file_loads_into_its_network_but_rebuilds_nothing(tmp_path: Path) -> None:
    import json

    arrays = _saved_arrays(tmp_path)
    arch = json.loads(str(arrays["__architecture__"]))
    arrays["__architecture__"] = np.array(json.dumps([{k: v for k, v in e.items() if k != "config"} for e in arch]))
    arrays["__version__"] = np.array(1)
    np.savez(tmp_path / "v1.npz", **arrays)
    net = Sequential(LAYERS["Conv2D"](1, 2, 3, rng=5), LAYERS["ReLU"](), LAYERS["Flatten"](), LAYERS["Affine"](18, 2, rng=5))
    net.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(net.parameters()["0.w"], arrays["param/0.w"])
    with pytest.raises(ValueError, match=r"format version 1, which does not record the layers' configs: load it into"):
        Sequential.from_file(tmp_path / "v1.npz")
