"""Handed-out layers are generated from the library (one source) and run without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from course_grader.library_source import library_source

REFS = [
    "course_lib.conv:conv_forward", "course_lib.conv:conv_backward",
    "course_lib.pooling:max_pool_forward", "course_lib.pooling:max_pool_backward",
    "course_lib.dropout:dropout_forward", "course_lib.dropout:dropout_backward",
    "course_lib.loss:softmax_cross_entropy",
]


def test_generated_layers_run_with_course_lib_validate_only_and_match_the_library(tmp_path):
    src = library_source(REFS)
    (tmp_path / "given.py").write_text(src)
    script = textwrap.dedent("""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "course_lib" and name not in ("course_lib", "course_lib.validate"):
                    raise ImportError(f"blocked {name}")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import given
        blocked = [m for m in sys.modules if m.startswith("course_lib.") and m != "course_lib.validate"]
        assert not blocked, blocked
        rng = np.random.default_rng(0)
        x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        out, cache = given.conv_forward(x, w, b, stride=2, pad=1)
        dout = rng.standard_normal(out.shape)
        grads = given.conv_backward(dout, cache)
        p, pc = given.max_pool_forward(x, pool_size=2, stride=2)
        dp = given.max_pool_backward(rng.standard_normal(p.shape), pc)
        d, dc = given.dropout_forward(x, 0.7, mode="train", rng=3)
        loss, ds = given.softmax_cross_entropy(rng.standard_normal((4, 5)), np.array([0, 1, 4, 2]))
        np.savez(sys.argv[1], out=out, dx=grads[0], dw=grads[1], db=grads[2], p=p, dp=dp, d=d, loss=loss, ds=ds)
    """)
    (tmp_path / "run.py").write_text(script)
    res = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path / "r.npz")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    import numpy as np

    from course_lib import conv, dropout, loss, pooling

    r = np.load(tmp_path / "r.npz")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv.conv_forward(x, w, b, stride=2, pad=1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv.conv_backward(dout, cache)
    p, pc = pooling.max_pool_forward(x, pool_size=2, stride=2)
    dp = pooling.max_pool_backward(rng.standard_normal(p.shape), pc)
    d, _ = dropout.dropout_forward(x, 0.7, mode="train", rng=3)
    lo, ds = loss.softmax_cross_entropy(rng.standard_normal((4, 5)), np.array([0, 1, 4, 2]))
    for name, ref in dict(out=out, dx=dx, dw=dw, db=db, p=p, dp=dp, d=d, loss=lo, ds=ds).items():
        np.testing.assert_array_equal(r[name], ref, err_msg=name)


def test_a_dependency_that_cannot_be_copied_is_named():
    # load_mnist reads files through the os module: a cell cannot carry a module object
    with pytest.raises(ValueError, match=r"course_lib\.data\.\w+ uses the module os"):
        library_source(["course_lib.data:load_mnist"])
