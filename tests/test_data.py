"""Tests for course_lib.data: IDX parsing, checksums, the MNIST loader and cache, the downloader
(against a local HTTP server only), scikit-learn digits, mini-batches and subsets.

No test touches the network beyond 127.0.0.1: an autouse fixture makes any other connection or
DNS lookup fail loudly.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import http.server
import io
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib import data
from course_lib.data import (
    ChecksumError,
    DataError,
    Dataset,
    DownloadError,
    IDXFormatError,
    iterate_minibatches,
    load_digits,
    load_mnist,
    read_idx,
    subset,
    write_idx,
)

REPO_MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist"

# Published per-digit counts of the MNIST training and test sets (LeCun et al.; the figures
# every MNIST tutorial quotes), cross-checked below against a raw byte count of the label files.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ------------------------------------------------------------------------------------------------
# Safety net and helpers
# ------------------------------------------------------------------------------------------------

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection or name lookup that would leave this machine, and keep proxies out."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOCAL_HOSTS:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in _LOCAL_HOSTS and host is not None:
            raise AssertionError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # Even a bug that falls back to the default mirrors must stay on this machine.
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", ("http://127.0.0.1:9/",))


def idx_bytes(dims: tuple[int, ...], payload: bytes, *, type_code: int = 0x08, ndim: int | None = None) -> bytes:
    """An IDX file built by hand from the format description (independent of write_idx)."""
    ndim = len(dims) if ndim is None else ndim
    return bytes([0, 0, type_code, ndim]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def fake_mnist(directory: Path, n_train: int = 60, n_test: int = 20, *, seed: int = 0) -> dict[str, bytes]:
    """Write four small MNIST-format files (+ SHA256SUMS) into ``directory``.

    Training image i has pixel (0, 0) = i % 256 and pixel (0, 1) = i // 256, so a test can tell
    which original example ended up where; training label i is i % 10.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train_images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    train_images[:, 0, 0] = np.arange(n_train) % 256
    train_images[:, 0, 1] = np.arange(n_train) // 256
    test_images = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    contents = {
        "train-images-idx3-ubyte.gz": idx_bytes((n_train, 28, 28), train_images.tobytes()),
        "train-labels-idx1-ubyte.gz": idx_bytes((n_train,), bytes(i % 10 for i in range(n_train))),
        "t10k-images-idx3-ubyte.gz": idx_bytes((n_test, 28, 28), test_images.tobytes()),
        "t10k-labels-idx1-ubyte.gz": idx_bytes((n_test,), bytes((3 * i) % 10 for i in range(n_test))),
    }
    files = {name: gzip.compress(raw, mtime=0) for name, raw in contents.items()}
    for name, blob in files.items():
        (directory / name).write_bytes(blob)
    (directory / "SHA256SUMS").write_text(
        "".join(f"{hashlib.sha256(blob).hexdigest()}  {name}\n" for name, blob in files.items())
    )
    return files


def leftovers(directory: Path) -> list[str]:
    """Temporary/partial files a failed write might have left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part") or p.name.startswith("."))


# ------------------------------------------------------------------------------------------------
# IDX format
# ------------------------------------------------------------------------------------------------


def test_read_idx_worked_example(tmp_path: Path) -> None:
    # Two 2×3 "images" with bytes 0..11: the header is 00 00 08 03 | 2 | 2 | 3 (big-endian).
    raw = bytes.fromhex("00000803" "00000002" "00000002" "00000003") + bytes(range(12))
    path = tmp_path / "tiny-images-idx3-ubyte"
    path.write_bytes(raw)
    out = read_idx(path)
    assert out.dtype == np.uint8
    assert out.shape == (2, 2, 3)
    assert out[1, 0, 2] == 1 * 6 + 0 * 3 + 2  # row-major: last index fastest
    np.testing.assert_array_equal(out.ravel(), np.arange(12))
    assert out.flags.writeable and out.flags.owndata


def test_read_idx_labels_from_file_object_gzip() -> None:
    blob = gzip.compress(idx_bytes((4,), bytes([7, 0, 9, 1])))
    out = read_idx(io.BytesIO(blob))
    np.testing.assert_array_equal(out, [7, 0, 9, 1])


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    raw = idx_bytes((3,), bytes([1, 2, 3]))
    (tmp_path / "plain.gz").write_bytes(raw)  # misleading extension, raw content
    (tmp_path / "packed.bin").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), [1, 2, 3])
    np.testing.assert_array_equal(read_idx(tmp_path / "packed.bin"), [1, 2, 3])


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_write_idx_matches_hand_built_bytes(tmp_path: Path, suffix: str) -> None:
    arr = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    path = write_idx(tmp_path / f"a-idx3-ubyte{suffix}", arr)
    raw = path.read_bytes()
    if suffix:
        raw = gzip.decompress(raw)
    assert raw == idx_bytes((2, 2, 3), arr.tobytes())
    assert leftovers(tmp_path) == []


@given(
    hnp.arrays(
        np.uint8,
        st.one_of(
            hnp.array_shapes(min_dims=1, max_dims=1, min_side=0, max_side=20),
            hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6),
        ),
    ),
    st.booleans(),
)
def test_idx_round_trip_property(arr: np.ndarray, compress: bool) -> None:
    buf = io.BytesIO()
    payload = idx_bytes(arr.shape, arr.tobytes())
    buf.write(gzip.compress(payload) if compress else payload)
    buf.seek(0)
    out = read_idx(buf)
    assert out.shape == arr.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, arr)


def test_write_read_round_trip_on_disk(tmp_path: Path, rng: np.random.Generator) -> None:
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x-idx3-ubyte.gz", images)), images)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "y-idx1-ubyte", labels)), labels)


def test_write_idx_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "a", np.zeros((2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"1-D .* or 3-D"):
        write_idx(tmp_path / "a", np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(TypeError, match="NumPy array"):
        write_idx(tmp_path / "a", [1, 2, 3])


def _corrupt_gzip_body(raw: bytes) -> bytes:
    blob = bytearray(gzip.compress(raw, mtime=0))
    blob[12] ^= 0xFF  # inside the deflate stream, after the 10-byte gzip header
    return bytes(blob)


def _bad_crc(raw: bytes) -> bytes:
    blob = bytearray(gzip.compress(raw, mtime=0))
    blob[-8] ^= 0x01  # the CRC-32 trailer
    return bytes(blob)


IMAGES = idx_bytes((2, 2, 3), bytes(range(12)))

CORRUPTIONS = {
    "empty": (b"", r"x-idx is empty \(0 bytes\)"),
    "wrong magic": (b"\x12\x34" + IMAGES[2:], r"x-idx is not an IDX file: wrong magic number 0x12340803"),
    "dtype float32": (idx_bytes((2,), b"\0" * 8, type_code=0x0D), r"element type code 0x0D \(float32\).*only 0x08"),
    "dtype unknown": (idx_bytes((2,), b"\0\0", type_code=0x42), r"type code 0x42 \(unknown type\)"),
    "two dims": (idx_bytes((2, 6), bytes(12)), r"declares 2 dimension\(s\).*expected 3 .* or 1"),
    "zero dims": (bytes([0, 0, 8, 0]), r"declares 0 dimension\(s\)"),
    "magic cut": (b"\x00\x00", r"is truncated: 2 byte\(s\), too short for the 4-byte magic"),
    "header cut": (IMAGES[:10], r"truncated inside its header: 3 dimension\(s\) need a 16-byte header, found 10"),
    "payload cut": (IMAGES[:-7], r"x-idx is truncated: header promises 2×2×3 = 12 bytes, found 5"),
    "trailing bytes": (IMAGES + b"junk", r"x-idx has 4 unexpected trailing byte\(s\): header promises 2×2×3 = 12 bytes, found 16"),
    "gzip truncated": (gzip.compress(IMAGES)[:-10], r"x-idx is not a valid gzip stream: it ends before"),
    "gzip corrupt": (_corrupt_gzip_body(IMAGES), r"x-idx is not a valid gzip stream"),
    "gzip crc": (_bad_crc(IMAGES), r"x-idx is not a valid gzip stream: CRC check failed"),
    "gzip garbage after": (gzip.compress(IMAGES) + b"\x1f\x8bXXXXXXXX", r"not a valid gzip stream"),
    "gzip of nothing": (gzip.compress(b""), r"x-idx is empty after gzip decompression"),
    "gzip payload cut": (gzip.compress(IMAGES[:-1]), r"truncated: header promises 2×2×3 = 12 bytes, found 11"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_read_idx_rejects_corruption(tmp_path: Path, case: str) -> None:
    blob, message = CORRUPTIONS[case]
    path = tmp_path / "x-idx"
    path.write_bytes(blob)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, DataError)


def test_read_idx_message_uses_given_name_and_stream_default() -> None:
    with pytest.raises(IDXFormatError, match=r"^<stream> is empty"):
        read_idx(io.BytesIO(b""))
    with pytest.raises(IDXFormatError, match=r"^t10k-images-idx3-ubyte.gz is truncated"):
        read_idx(io.BytesIO(IMAGES[:-1]), name="t10k-images-idx3-ubyte.gz")


def test_read_idx_rejects_text_streams_and_other_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="binary mode"):
        read_idx(io.StringIO("abc"))
    with pytest.raises(TypeError, match="path or a binary file object"):
        read_idx(42)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# ------------------------------------------------------------------------------------------------
# Checksums
# ------------------------------------------------------------------------------------------------


def test_shipped_sha256sums_match_builtin_table_and_files() -> None:
    assert data.read_sha256sums(REPO_MNIST / "SHA256SUMS") == data.MNIST_SHA256
    for name, digest in data.MNIST_SHA256.items():
        assert hashlib.sha256((REPO_MNIST / name).read_bytes()).hexdigest() == digest


def test_verify_sha256_mismatch_message(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"hello")
    actual = hashlib.sha256(b"hello").hexdigest()
    assert data.verify_sha256(path, actual.upper()) == actual
    with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte.gz failed its SHA-256 check") as info:
        data.verify_sha256(path, "0" * 64)
    msg = str(info.value)
    assert f"expected {'0' * 64}" in msg and f"actual   {actual}" in msg
    assert "delete it" in msg and "download=True" in msg and "git restore data/mnist/" in msg


def test_read_sha256sums_parses_and_rejects(tmp_path: Path) -> None:
    good = tmp_path / "SUMS"
    good.write_text(f"# comment\n\n{'a' * 64}  one.gz\n{'B' * 64} *two.gz\n")
    assert data.read_sha256sums(good) == {"one.gz": "a" * 64, "two.gz": "b" * 64}
    bad = tmp_path / "BAD"
    bad.write_text(f"{'a' * 63}  one.gz\n")
    with pytest.raises(DataError, match="line 1 is not '<64 hex digits>  <file name>'"):
        data.read_sha256sums(bad)


# ------------------------------------------------------------------------------------------------
# The real, shipped MNIST files (loaded once for the module)
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_mnist(data_dir=REPO_MNIST, cache=False, progress=False)


def _raw_label_counts(name: str) -> list[int]:
    """Count digits straight from the label file bytes: 8-byte header, then one byte per label."""
    with gzip.open(REPO_MNIST / name, "rb") as f:
        raw = f.read()
    assert raw[:4] == b"\x00\x00\x08\x01"
    counts = collections.Counter(raw[8:])
    return [counts[d] for d in range(10)]


def test_real_mnist_shapes_and_dtypes(mnist: Dataset) -> None:
    assert mnist.X_train.shape == (60000, 1, 28, 28) and mnist.X_train.dtype == np.float32
    assert mnist.X_test.shape == (10000, 1, 28, 28) and mnist.X_test.dtype == np.float32
    assert mnist.X_val.shape == (0, 1, 28, 28) and mnist.y_val.shape == (0,)
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == np.int64
    assert mnist.y_test.shape == (10000,) and mnist.y_test.dtype == np.int64
    assert mnist.image_shape == (1, 28, 28)


def test_real_mnist_label_counts(mnist: Dataset) -> None:
    assert _raw_label_counts("train-labels-idx1-ubyte.gz") == TRAIN_COUNTS
    assert _raw_label_counts("t10k-labels-idx1-ubyte.gz") == TEST_COUNTS
    assert np.bincount(mnist.y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.y_test, minlength=10).tolist() == TEST_COUNTS


def test_real_mnist_pixels(mnist: Dataset) -> None:
    for X in (mnist.X_train, mnist.X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    # Independent reading of the first and last training images: 16-byte header, then 784 bytes each.
    with gzip.open(REPO_MNIST / "train-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    assert struct.unpack(">IIII", raw[:16]) == (0x803, 60000, 28, 28)
    first = np.frombuffer(raw[16 : 16 + 784], np.uint8).reshape(28, 28)
    last = np.frombuffer(raw[-784:], np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(mnist.X_train[0, 0], first.astype(np.float32) / 255)
    np.testing.assert_array_equal(mnist.X_train[-1, 0], last.astype(np.float32) / 255)
    # The widely quoted normalisation constants of MNIST (e.g. PyTorch's examples): mean 0.1307,
    # std 0.3081 of pixels/255, recomputed from a histogram of the raw pixel bytes.
    hist = np.bincount(np.frombuffer(raw, np.uint8, offset=16), minlength=256)
    values = np.arange(256) / 255
    mean = (hist * values).sum() / hist.sum()
    std = np.sqrt((hist * (values - mean) ** 2).sum() / hist.sum())
    assert abs(mean - 0.1307) < 5e-5 and abs(std - 0.3081) < 5e-5
    assert mnist.X_train.mean(dtype=np.float64) == pytest.approx(mean, rel=1e-6)  # float32 pixels


def test_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"MNIST file\(s\) missing from") as info:
        load_mnist(data_dir=tmp_path, progress=False)
    msg = str(info.value)
    assert "load_mnist(download=True)" in msg and str(tmp_path) in msg
    assert "train-images-idx3-ubyte.gz" in msg


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data.default_data_dir() == REPO_MNIST
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    fake_mnist(tmp_path)
    assert load_mnist(cache=False).X_train.shape == (60, 1, 28, 28)  # found via the variable


# ------------------------------------------------------------------------------------------------
# Loader options on small fake MNIST directories
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "mnist"
    fake_mnist(directory)
    return directory


def _original_index(X: np.ndarray) -> np.ndarray:
    """Recover the original training index encoded in pixels (0,0) and (0,1) of unnormalised images."""
    X = X.reshape(X.shape[0], -1)
    return (X[:, 0] + 256 * X[:, 1]).astype(np.int64)


def test_validation_split_deterministic_and_disjoint(fake_dir: Path) -> None:
    kw = {"data_dir": fake_dir, "normalize": False, "validation_size": 15, "cache": False}
    a = load_mnist(seed=3, **kw)
    b = load_mnist(seed=3, **kw)
    c = load_mnist(seed=4, **kw)
    train_idx, val_idx = _original_index(a.X_train), _original_index(a.X_val)
    assert len(val_idx) == 15 and len(train_idx) == 45
    assert set(train_idx).isdisjoint(val_idx)
    assert sorted([*train_idx, *val_idx]) == list(range(60))
    np.testing.assert_array_equal(a.X_val, b.X_val)  # same seed, same split
    assert not np.array_equal(_original_index(c.X_val), val_idx)  # another seed, another split
    # Labels travel with their images (label i is i % 10) and both splits keep the file order.
    np.testing.assert_array_equal(a.y_train, train_idx % 10)
    np.testing.assert_array_equal(a.y_val, val_idx % 10)
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)
    np.testing.assert_array_equal(a.info["val_indices"], val_idx)


def test_validation_fraction_rounds_up(fake_dir: Path) -> None:
    ds = load_mnist(data_dir=fake_dir, validation_size=0.1, cache=False)
    assert ds.X_val.shape[0] == 6  # ceil(0.1 · 60)
    ds = load_mnist(data_dir=fake_dir, validation_size=0.11, cache=False)
    assert ds.X_val.shape[0] == 7  # ceil(6.6)


def test_flatten_dtype_and_raw_pixels(fake_dir: Path) -> None:
    raw = read_idx(fake_dir / "t10k-images-idx3-ubyte.gz")
    flat = load_mnist(data_dir=fake_dir, flatten=True, dtype=np.float64, cache=False)
    assert flat.X_test.shape == (20, 784) and flat.X_test.dtype == np.float64
    np.testing.assert_array_equal(flat.X_test, raw.reshape(20, 784) / 255.0)
    u8 = load_mnist(data_dir=fake_dir, normalize=False, dtype=np.uint8, cache=False)
    np.testing.assert_array_equal(u8.X_test[:, 0], raw)
    np.testing.assert_array_equal(u8.y_test, [(3 * i) % 10 for i in range(20)])


def test_standardize_uses_training_statistics(fake_dir: Path) -> None:
    plain = load_mnist(data_dir=fake_dir, validation_size=10, cache=False, dtype=np.float64)
    std = load_mnist(data_dir=fake_dir, validation_size=10, standardize=True, cache=False, dtype=np.float64)
    mu, sigma = plain.X_train.mean(), plain.X_train.std()
    assert std.mean == pytest.approx(mu) and std.std == pytest.approx(sigma)
    assert abs(std.X_train.mean()) < 1e-12 and std.X_train.std() == pytest.approx(1.0)
    np.testing.assert_allclose(std.X_val, (plain.X_val - mu) / sigma, rtol=1e-12)
    np.testing.assert_allclose(std.X_test, (plain.X_test - mu) / sigma, rtol=1e-12)


def test_pad_adds_a_background_border(fake_dir: Path) -> None:
    plain = load_mnist(data_dir=fake_dir, cache=False, dtype=np.float64, validation_size=5)
    padded = load_mnist(data_dir=fake_dir, cache=False, dtype=np.float64, validation_size=5, pad=2)
    for split in ("train", "val", "test"):
        X, Xp = getattr(plain, f"X_{split}"), getattr(padded, f"X_{split}")
        assert Xp.shape == (X.shape[0], 1, 32, 32)
        np.testing.assert_array_equal(Xp[:, :, 2:30, 2:30], X)  # the digits, unmoved
        border = Xp.copy()
        border[:, :, 2:30, 2:30] = 0
        assert not border.any()  # two rows and columns of background on every side
    flat = load_mnist(data_dir=fake_dir, cache=False, flatten=True, pad=1)
    assert flat.X_test.shape == (20, 30 * 30)
    std = load_mnist(data_dir=fake_dir, cache=False, dtype=np.float64, standardize=True, pad=2)
    # the statistics are those of the padded images: the border counts as background
    assert std.mean == pytest.approx(load_mnist(data_dir=fake_dir, cache=False, dtype=np.float64, pad=2).X_train.mean())
    assert padded.info["pad"] == 2


def test_load_mnist_argument_errors(fake_dir: Path) -> None:
    with pytest.raises(ValueError, match="pad must be >= 0, got -1"):
        load_mnist(data_dir=fake_dir, pad=-1)
    with pytest.raises(TypeError, match="pad must be an integer"):
        load_mnist(data_dir=fake_dir, pad=2.0)
    with pytest.raises(TypeError, match="dtype must be a floating type"):
        load_mnist(data_dir=fake_dir, dtype=np.int32)
    with pytest.raises(TypeError, match="raw uint8 pixels need normalize=False"):
        load_mnist(data_dir=fake_dir, dtype=np.uint8)
    with pytest.raises(ValueError, match="standardize=True needs normalize=True"):
        load_mnist(data_dir=fake_dir, normalize=False, standardize=True)
    with pytest.raises(ValueError, match="must leave at least one training example: got 60 of 60"):
        load_mnist(data_dir=fake_dir, validation_size=60, cache=False)
    with pytest.raises(ValueError, match="validation_size must be >= 0"):
        load_mnist(data_dir=fake_dir, validation_size=-1, cache=False)
    with pytest.raises(ValueError, match="validation_size must be < 1"):
        load_mnist(data_dir=fake_dir, validation_size=1.0, cache=False)


def test_tampered_file_fails_checksum(fake_dir: Path) -> None:
    path = fake_dir / "t10k-labels-idx1-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(gzip.compress(gzip.decompress(good)[:-1] + b"\x09", mtime=0))
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte.gz failed its SHA-256 check"):
        load_mnist(data_dir=fake_dir, cache=False)


def test_malformed_file_with_matching_checksum_is_still_rejected(fake_dir: Path) -> None:
    # A SHA256SUMS that vouches for a broken file: the parser must still refuse it.
    path = fake_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes((60,), bytes(59)), mtime=0))
    sums = (fake_dir / "SHA256SUMS").read_text().splitlines()
    sums = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}" if line.endswith(path.name) else line
        for line in sums
    ]
    (fake_dir / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    with pytest.raises(IDXFormatError, match=r"train-labels-idx1-ubyte.gz is truncated: header promises 60 = 60 bytes, found 59"):
        load_mnist(data_dir=fake_dir, cache=False)


def test_swapped_or_mismatched_files_rejected(tmp_path: Path) -> None:
    fake_mnist(tmp_path, n_train=60)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes((59,), bytes(59)), mtime=0))
    lines = [ln for ln in (tmp_path / "SHA256SUMS").read_text().splitlines() if not ln.endswith(labels.name)]
    lines.append(f"{hashlib.sha256(labels.read_bytes()).hexdigest()}  {labels.name}")
    (tmp_path / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="train set has 60 images but 59 labels"):
        load_mnist(data_dir=tmp_path, cache=False)


def test_sha256sums_missing_an_entry(fake_dir: Path) -> None:
    lines = (fake_dir / "SHA256SUMS").read_text().splitlines()[:3]
    (fake_dir / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"has no SHA-256 for t10k-labels-idx1-ubyte.gz"):
        load_mnist(data_dir=fake_dir, cache=False)


# ------------------------------------------------------------------------------------------------
# Parsed cache
# ------------------------------------------------------------------------------------------------


def test_cache_is_written_then_reused(fake_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_mnist(data_dir=fake_dir, progress=False)
    cache_dir = fake_dir / ".cache"
    caches = list(cache_dir.glob("mnist-*.npz"))
    assert len(caches) == 1 and leftovers(cache_dir) == [".gitignore"]
    assert (cache_dir / ".gitignore").read_text().splitlines()[-1] == "*"

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("IDX files parsed although a valid cache exists")

    monkeypatch.setattr(data, "read_idx", boom)
    second = load_mnist(data_dir=fake_dir, progress=False)
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))


def test_cache_keyed_by_file_hashes(tmp_path: Path) -> None:
    a, b, cache = tmp_path / "a", tmp_path / "b", tmp_path / "cache"
    fake_mnist(a, seed=1)
    fake_mnist(b, seed=2)
    ya = load_mnist(data_dir=a, cache=cache, normalize=False, dtype=np.uint8)
    yb = load_mnist(data_dir=b, cache=cache, normalize=False, dtype=np.uint8)
    assert len(list(cache.glob("mnist-*.npz"))) == 2  # different files, different cache entries
    assert not np.array_equal(ya.X_test, yb.X_test)
    np.testing.assert_array_equal(yb.X_test[:, 0], read_idx(b / "t10k-images-idx3-ubyte.gz"))


def _flip_middle_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_flip_middle_byte, id="bit-flip"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(b"not a zip file at all"), id="garbage"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
    ],
)
def test_corrupt_cache_is_rebuilt(fake_dir: Path, tmp_path: Path, damage: object) -> None:
    cache = tmp_path / "cache"
    expected = load_mnist(data_dir=fake_dir, cache=cache, normalize=False, dtype=np.uint8)
    (path,) = cache.glob("mnist-*.npz")
    damage(path)
    with pytest.warns(UserWarning, match="rebuilding it from the IDX files"):
        again = load_mnist(data_dir=fake_dir, cache=cache, normalize=False, dtype=np.uint8)
    np.testing.assert_array_equal(again.X_train, expected.X_train)
    np.testing.assert_array_equal(again.y_test, expected.y_test)
    # The rebuilt cache is valid: a third load neither warns nor differs.
    data._read_cache(path, data._cache_key(data._expected_hashes(fake_dir)))


def test_cache_with_wrong_content_digest_is_rejected(fake_dir: Path, tmp_path: Path) -> None:
    # A well-formed npz whose arrays were altered after the digest was computed.
    cache = tmp_path / "cache"
    load_mnist(data_dir=fake_dir, cache=cache)
    (path,) = cache.glob("mnist-*.npz")
    with np.load(path) as z:
        content = {k: z[k] for k in z.files}
    content["test_labels"] = content["test_labels"].copy()
    content["test_labels"][0] ^= 1
    np.savez(path, **content)
    key = data._cache_key(data._expected_hashes(fake_dir))
    with pytest.raises(DataError, match="failed its integrity check"):
        data._read_cache(path, key)


# ------------------------------------------------------------------------------------------------
# Downloading, against a local HTTP server only
# ------------------------------------------------------------------------------------------------


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 with deliberately misbehaving routes:

    /good/NAME      the file
    /corrupt/NAME   the file with one byte flipped (right length, wrong hash)
    /short/NAME     the first half, with an honest Content-Length (wrong hash)
    /trunc/NAME     Content-Length of the whole file, then half of it and a closed connection
    /missing/NAME   404
    /slow/NAME      sends nothing until released (for timeouts)
    /flaky/NAME     503 for the first `flaky_failures` requests, then the file
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.flaky_failures = 0
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                _, route, name = self.path.split("/", 2)
                server.hits[route] += 1
                body = server.files.get(name)
                if body is None or route == "missing":
                    self.send_error(404, "Not Found")
                    return
                if route == "slow":
                    server.release.wait(10)
                    return
                if route == "flaky" and server.hits[route] <= server.flaky_failures:
                    self.send_error(503, "Service Unavailable")
                    return
                length = len(body)
                if route == "corrupt":
                    body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
                elif route == "short":
                    body = body[: len(body) // 2]
                    length = len(body)
                elif route == "trunc":
                    body = body[: len(body) // 2]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def mirror(self, route: str) -> str:
        return f"{self.url}/{route}/"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def server() -> _Server:
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def served(server: _Server, tmp_path: Path) -> tuple[_Server, dict[str, bytes], Path]:
    """The server loaded with a fresh fake MNIST; returns (server, files, empty target dir with
    the matching SHA256SUMS)."""
    src = tmp_path / "src"
    files = fake_mnist(src)
    server.files = files
    server.hits.clear()
    server.flaky_failures = 0
    target = tmp_path / "target"
    target.mkdir()
    (target / "SHA256SUMS").write_text((src / "SHA256SUMS").read_text())
    return server, files, target


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens here any more: connection refused


def _download(server: _Server, files: dict[str, bytes], target: Path, mirrors: list[str], **kw: object) -> Path:
    name = "t10k-images-idx3-ubyte.gz"
    opts = {"timeout": 5.0, "retries": 0, "backoff": 0.0, "progress": False, **kw}
    return data.download_file(name, target, hashlib.sha256(files[name]).hexdigest(), mirrors=mirrors, **opts)


def test_download_good_file(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    path = _download(server, files, target, [server.mirror("good")], progress=True)
    assert path == target / "t10k-images-idx3-ubyte.gz"
    assert path.read_bytes() == files[path.name]
    assert leftovers(target) == []
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize("bad", ["corrupt", "short", "trunc", "missing"])
def test_bad_mirror_falls_through_to_next(served: tuple[_Server, dict[str, bytes], Path], bad: str) -> None:
    server, files, target = served
    path = _download(server, files, target, [server.mirror(bad), server.mirror("good")])
    assert path.read_bytes() == files[path.name]
    assert server.hits[bad] == 1 and server.hits["good"] == 1
    assert leftovers(target) == []


def test_all_mirrors_bad_gives_clear_error(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    offline = _closed_port_url()
    mirrors = [server.mirror(r) for r in ("missing", "corrupt", "short", "trunc")] + [offline]
    with pytest.raises(DownloadError, match=r"could not download t10k-images-idx3-ubyte.gz from any of") as info:
        _download(server, files, target, mirrors)
    msg = str(info.value)
    assert f"{server.mirror('missing')}t10k-images-idx3-ubyte.gz (HTTP 404 Not Found)" in msg
    assert f"{server.mirror('corrupt')}t10k-images-idx3-ubyte.gz (corrupt download: SHA-256" in msg
    assert f"{server.mirror('short')}t10k-images-idx3-ubyte.gz (corrupt download" in msg
    assert "connection closed after" in msg  # the truncated stream
    assert "connection refused" in msg
    assert f"copy the MNIST files into {target}" in msg
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    # Nothing half-written is left behind: only the SHA256SUMS the fixture put there.
    assert sorted(p.name for p in target.iterdir()) == ["SHA256SUMS"]


def test_offline_message(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    offline = _closed_port_url()
    with pytest.raises(DownloadError, match=r"connection refused after 2 attempts\)") as info:
        _download(server, files, target, [offline], retries=1)
    assert "check your internet connection" in str(info.value)
    assert sorted(p.name for p in target.iterdir()) == ["SHA256SUMS"]


def test_timeout_on_hanging_server(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    with pytest.raises(DownloadError, match=r"timed out after 0.2 s"):
        _download(server, files, target, [server.mirror("slow")], timeout=0.2)
    assert sorted(p.name for p in target.iterdir()) == ["SHA256SUMS"]


def test_retry_transient_errors_but_not_404(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    server.flaky_failures = 2
    path = _download(server, files, target, [server.mirror("flaky")], retries=2)
    assert path.read_bytes() == files[path.name] and server.hits["flaky"] == 3
    path.unlink()
    server.hits.clear()
    with pytest.raises(DownloadError, match=r"HTTP 503 Service Unavailable after 2 attempts"):
        _download(server, files, target, [server.mirror("flaky")], retries=1)
    assert server.hits["flaky"] == 2
    with pytest.raises(DownloadError, match="HTTP 404"):
        _download(server, files, target, [server.mirror("missing")], retries=3)
    assert server.hits["missing"] == 1  # a 404 is final: no retries


def test_file_url_mirror(tmp_path: Path) -> None:
    src = tmp_path / "usb stick"
    files = fake_mnist(src)
    target = tmp_path / "target"
    target.mkdir()
    (target / "SHA256SUMS").write_text((src / "SHA256SUMS").read_text())
    ds = load_mnist(data_dir=target, download=True, mirrors=[src.as_uri() + "/"], progress=False, cache=False)
    assert ds.X_test.shape == (20, 1, 28, 28)
    assert all((target / name).read_bytes() == blob for name, blob in files.items())


def test_cache_falls_back_to_user_cache_for_read_only_data(
    fake_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data.os, "access", lambda path, mode: False)
    load_mnist(data_dir=fake_dir)
    assert not (fake_dir / ".cache").exists()
    assert len(list((tmp_path / "xdg" / "course_lib" / "mnist-cache").glob("mnist-*.npz"))) == 1


def test_download_argument_errors(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    with pytest.raises(TypeError, match="not a single string"):
        _download(server, files, target, server.mirror("good"))
    with pytest.raises(ValueError, match="mirrors must list at least one"):
        _download(server, files, target, [])
    with pytest.raises(ValueError, match="timeout must be > 0"):
        _download(server, files, target, [server.mirror("good")], timeout=0)
    with pytest.raises(ValueError, match="retries must be >= 0"):
        _download(server, files, target, [server.mirror("good")], retries=-1)


def test_load_mnist_downloads_missing_files(served: tuple[_Server, dict[str, bytes], Path]) -> None:
    server, files, target = served
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(files["t10k-labels-idx1-ubyte.gz"])
    ds = load_mnist(
        data_dir=target, download=True, mirrors=[server.mirror("corrupt"), server.mirror("good")],
        retries=0, backoff=0, progress=False, cache=False,
    )
    assert ds.X_train.shape == (60, 1, 28, 28)
    assert server.hits["good"] == 3  # only the three missing files were fetched
    for name, blob in files.items():
        assert (target / name).read_bytes() == blob
    assert leftovers(target) == []


def test_download_mnist_into_empty_dir_uses_builtin_hashes(server: _Server, tmp_path: Path) -> None:
    # The real files, served locally: no SHA256SUMS in the target, so the built-in table applies
    # and is then written out, identical to the repository's.
    server.files = {name: (REPO_MNIST / name).read_bytes() for name in data.MNIST_SHA256}
    target = tmp_path / "fresh" / "mnist"
    data.download_mnist(target, mirrors=[server.mirror("good")], retries=0, backoff=0, progress=False)
    for name in data.MNIST_SHA256:
        assert (target / name).read_bytes() == server.files[name]
    assert data.read_sha256sums(target / "SHA256SUMS") == data.read_sha256sums(REPO_MNIST / "SHA256SUMS")
    assert leftovers(target) == []


def test_download_refuses_wrong_file_for_builtin_hash(server: _Server, tmp_path: Path) -> None:
    server.files = fake_mnist(tmp_path / "src")  # not the real MNIST: hashes cannot match
    with pytest.raises(DownloadError, match="corrupt download: SHA-256"):
        data.download_mnist(tmp_path / "dst", mirrors=[server.mirror("good")], retries=0, progress=False)
    assert [p.name for p in (tmp_path / "dst").iterdir()] == []


# ------------------------------------------------------------------------------------------------
# scikit-learn digits
# ------------------------------------------------------------------------------------------------


def test_load_digits_defaults() -> None:
    from sklearn.datasets import load_digits as sk_digits

    sk = sk_digits()
    ds = load_digits()
    assert ds.X_train.shape == (1437, 1, 8, 8) and ds.X_test.shape == (360, 1, 8, 8)  # ceil(0.2·1797)=360
    assert ds.X_val.shape == (0, 1, 8, 8)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    test_idx = ds.info["test_indices"]
    np.testing.assert_array_equal(ds.X_test[:, 0] * 16, sk.images[test_idx])
    np.testing.assert_array_equal(ds.y_test, sk.target[test_idx])
    rest = ds.info["rest_indices"]
    assert set(test_idx).isdisjoint(rest) and sorted([*test_idx, *rest]) == list(range(1797))


def test_load_digits_deterministic_with_validation() -> None:
    a = load_digits(validation_size=200, test_size=300, seed=7, flatten=True, dtype=np.float64)
    b = load_digits(validation_size=200, test_size=300, seed=7, flatten=True, dtype=np.float64)
    c = load_digits(validation_size=200, test_size=300, seed=8, flatten=True, dtype=np.float64)
    assert a.X_train.shape == (1297, 64) and a.X_val.shape == (200, 64) and a.X_test.shape == (300, 64)
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.y_test, c.y_test)
    # Train and validation rows are disjoint subsets of the non-test rows.
    rest = a.info["rest_indices"]
    tr, va = rest[a.info["train_indices"]], rest[a.info["val_indices"]]
    assert set(tr).isdisjoint(va) and set(tr) | set(va) == set(rest)


def test_digits_fast_path_matches_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_digits as sk_digits

    sk = sk_digits()
    images, labels = data._digits_arrays()
    np.testing.assert_array_equal(images, sk.images)
    np.testing.assert_array_equal(labels, sk.target)
    # Without the CSV (a future scikit-learn layout), the public loader is used instead.
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    images2, labels2 = data._digits_arrays()
    np.testing.assert_array_equal(images2, sk.images)
    np.testing.assert_array_equal(labels2, sk.target)


def test_load_digits_errors() -> None:
    with pytest.raises(ValueError, match="test_size must leave at least one training example"):
        load_digits(test_size=1797)
    with pytest.raises(ValueError, match="validation_size must leave at least one"):
        load_digits(test_size=0.5, validation_size=898)


# ------------------------------------------------------------------------------------------------
# Mini-batches, subsets, Dataset
# ------------------------------------------------------------------------------------------------


def test_minibatches_cover_each_row_once() -> None:
    X = np.arange(10 * 2, dtype=np.float64).reshape(10, 2)
    y = np.arange(10)
    batches = list(iterate_minibatches(X, y, 3, rng=0))
    assert [len(b[1]) for b in batches] == [3, 3, 3, 1]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen) == list(range(10)) and not np.array_equal(seen, y)
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)  # rows stay paired with their labels


def test_minibatches_order_and_drop_last() -> None:
    X = np.zeros((10, 1, 2, 2), dtype=np.float32)
    y = np.arange(10)
    plain = [yb.tolist() for _, yb in iterate_minibatches(X, y, 4, shuffle=False)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(yb) for _, yb in iterate_minibatches(X, y, 4, shuffle=False, drop_last=True)] == [4, 4]
    assert list(iterate_minibatches(X, y, 11, drop_last=True)) == []
    a = [yb.tolist() for _, yb in iterate_minibatches(X, y, 4, rng=5)]
    b = [yb.tolist() for _, yb in iterate_minibatches(X, y, 4, rng=5)]
    assert a == b
    gen = np.random.default_rng(5)
    e1 = [yb.tolist() for _, yb in iterate_minibatches(X, y, 4, rng=gen)]
    e2 = [yb.tolist() for _, yb in iterate_minibatches(X, y, 4, rng=gen)]
    assert e1 == a and e1 != e2  # one generator over a run: each epoch a new order


def test_minibatches_errors() -> None:
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"same number of rows, got shapes \(4, 3\) and \(5,\)"):
        next(iterate_minibatches(X, np.zeros(5), 2))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        next(iterate_minibatches(X, np.zeros(4), 0))
    with pytest.raises(TypeError, match="X must be a NumPy array"):
        next(iterate_minibatches([[1.0]], np.zeros(1), 1))


def test_subset(fake_dir: Path) -> None:
    ds = load_mnist(data_dir=fake_dir, validation_size=10, cache=False, normalize=False)
    small = subset(ds, 5, 3, seed=None)
    assert small.X_train.shape == (5, 1, 28, 28) and small.X_test.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(small.X_train, ds.X_train[:5])
    np.testing.assert_array_equal(small.y_test, ds.y_test[:3])
    assert small.X_val.shape[0] == 10  # untouched
    rand = subset(ds, 5, n_val=2, seed=1)
    idx = _original_index(rand.X_train)
    assert len(set(idx)) == 5 and set(idx) <= set(_original_index(ds.X_train))
    assert np.all(np.diff(idx) > 0) and not np.array_equal(idx, _original_index(ds.X_train[:5]))
    np.testing.assert_array_equal(rand.y_train, idx % 10)  # labels travel with their images
    assert rand.X_val.shape[0] == 2
    np.testing.assert_array_equal(subset(ds, 5).X_train, subset(ds, 5).X_train)  # default seed 0
    with pytest.raises(ValueError, match="n_test=11 exceeds the 10 examples"):
        subset(load_digits(test_size=10), n_test=11)
    with pytest.raises(TypeError, match="dataset must be a Dataset"):
        subset({"X_train": 1}, 1)


def test_dataset_repr_and_validation() -> None:
    ds = load_digits()
    text = repr(ds)
    assert text.startswith("Dataset('digits'; train: X (1437, 1, 8, 8) float32") and len(text) < 300
    with pytest.raises(ValueError, match=r"X_train and y_train must have the same number of rows"):
        Dataset(np.zeros((3, 2)), np.zeros(2), np.zeros((0, 2)), np.zeros(0), np.zeros((1, 2)), np.zeros(1))

