"""Datasets for the course: MNIST from the shipped IDX files, and scikit-learn's 8×8 digits.

MNIST (LeCun, Cortes & Burges) comes as four gzip-compressed IDX files that live in the
repository under ``data/mnist/`` next to a ``SHA256SUMS`` file. :func:`load_mnist`

1. finds the directory (``data_dir`` argument, else ``$COURSE_DATA_DIR``, else the repository's
   ``data/mnist``, else ``~/.cache/course_lib/mnist`` for an installed package),
2. verifies every file's SHA-256 against ``SHA256SUMS`` (a silently damaged file would otherwise
   train a network on garbage),
3. parses the IDX files with a strict reader (:func:`read_idx`) or, on later calls, reads a parsed
   ``.npz`` cache whose name is derived from the files' hashes,
4. normalises, reshapes and splits the training set into train/validation.

If the files are missing, ``load_mnist(download=True)`` fetches them from a list of public mirrors
with a timeout, retries with exponential backoff, an atomic write and a SHA-256 check, so a
half-finished or corrupted download never ends up where a later call would trust it.

The IDX format (http://yann.lecun.com/exdb/mnist/), all integers big-endian::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 = unsigned byte (the only type MNIST uses)
    byte  3     number of dimensions d (3 for images, 1 for labels)
    4·d bytes   the size of each dimension as an unsigned 32-bit integer
    rest        the elements, row-major (last index fastest)

so the images files start with the magic number 0x00000803 and the label files with 0x00000801.

:func:`load_digits` gives the 1797 scikit-learn 8×8 digits in the same :class:`Dataset` structure;
it needs no files and no network, so it is the default for quick demos and tests.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import math
import os
import struct
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO

import numpy as np

from course_lib import __version__
from course_lib.init import as_rng
from course_lib.validate import check_array, check_int, check_number, describe

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_FILES",
    "MNIST_SHA256",
    "ChecksumError",
    "DataError",
    "Dataset",
    "DownloadError",
    "IDXFormatError",
    "default_data_dir",
    "download_file",
    "download_mnist",
    "iterate_minibatches",
    "load_digits",
    "load_mnist",
    "read_idx",
    "read_sha256sums",
    "sha256_file",
    "subset",
    "verify_sha256",
    "write_idx",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: The four original files, by role.
MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: SHA-256 of the original LeCun files (identical to ``data/mnist/SHA256SUMS``; a test checks it).
#: Used when a data directory has no ``SHA256SUMS`` of its own, e.g. before a first download.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Public mirrors serving the byte-identical original files (base URLs; the file name is
#: appended). Tried in order. LeCun's own site is last because it often refuses scripted access.
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_IDX_KIND = {1: "labels", 3: "images"}
_CACHE_FORMAT = 1  # bump when the cache layout changes, so old caches are ignored
_CHUNK = 1 << 16
_USER_AGENT = f"course_lib/{__version__} (MNIST loader; urllib)"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DataError(ValueError):
    """A data file exists but cannot be trusted (bad format, wrong checksum, failed download)."""


class IDXFormatError(DataError):
    """An IDX file is malformed: wrong magic number, truncated, trailing bytes, bad gzip, …"""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the expected one."""


class DownloadError(DataError, OSError):
    """No mirror delivered a file with the right checksum (also an ``OSError``: often offline)."""


# --------------------------------------------------------------------------------------------
# IDX reading and writing
# --------------------------------------------------------------------------------------------


def _source_name(source: object) -> str:
    if isinstance(source, str | os.PathLike):
        return Path(source).name
    name = getattr(source, "name", None)
    if isinstance(name, str | os.PathLike):
        return Path(name).name
    return "<stream>"


def _decompress_gzip(raw: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except EOFError as err:
        raise IDXFormatError(
            f"{name} is not a valid gzip stream: it ends before the end-of-stream marker "
            f"(truncated download or copy?)"
        ) from err
    except (OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError (bad header, CRC, size)
        raise IDXFormatError(f"{name} is not a valid gzip stream: {err}") from err


def _fmt_dims(dims: Sequence[int]) -> str:
    return "×".join(str(d) for d in dims)


def read_idx(source: str | os.PathLike[str] | BinaryIO, *, name: str | None = None) -> np.ndarray:
    """Parse an IDX file (gzip-compressed or raw) into a ``uint8`` array.

    Args:
        source: a path, or a binary file object positioned at the start of the data.
            Gzip compression is recognised by its magic bytes ``1f 8b``, not by the file name.
        name: the name used in error messages (default: the file's name).

    Returns:
        ``np.ndarray`` of dtype ``uint8`` and the shape the header declares: ``(N, rows, cols)``
        for an images file (magic 0x00000803), ``(N,)`` for a labels file (magic 0x00000801).
        The array owns its memory and is writeable.

    Raises:
        IDXFormatError: (a ``DataError``, hence ``ValueError``) empty file, corrupt or truncated
            gzip stream, wrong magic number, element type other than 0x08 (unsigned byte),
            dimension count other than 1 or 3, truncated header, or a payload shorter or longer
            than the header promises. The message names the file and the problem.
        FileNotFoundError: ``source`` is a path that does not exist.
    """
    if isinstance(source, str | os.PathLike):
        raw = Path(source).read_bytes()
    elif hasattr(source, "read"):
        raw = source.read()
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise TypeError(f"source must be opened in binary mode, read() returned {describe(raw)}")
        raw = bytes(raw)
    else:
        raise TypeError(f"source must be a path or a binary file object, got {describe(source)}")
    name = name or _source_name(source)

    if not raw:
        raise IDXFormatError(f"{name} is empty (0 bytes)")
    if raw[:2] == b"\x1f\x8b":
        raw = _decompress_gzip(raw, name)
        if not raw:
            raise IDXFormatError(f"{name} is empty after gzip decompression (0 bytes)")

    if len(raw) < 4:
        raise IDXFormatError(f"{name} is truncated: {len(raw)} byte(s), too short for the 4-byte magic number")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    magic = int.from_bytes(raw[:4], "big")
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{name} is not an IDX file: wrong magic number 0x{magic:08X} (expected 0x00000803 for "
            f"images or 0x00000801 for labels; IDX files start with two zero bytes)"
        )
    if type_code != 0x08:
        what = _IDX_TYPES.get(type_code, "unknown type")
        raise IDXFormatError(
            f"{name} has element type code 0x{type_code:02X} ({what}) in its magic number 0x{magic:08X}; "
            f"only 0x08 (unsigned byte, as in MNIST) is supported"
        )
    if ndim not in _IDX_KIND:
        raise IDXFormatError(
            f"{name} declares {ndim} dimension(s) (magic number 0x{magic:08X}); expected 3 for an "
            f"images file (0x00000803) or 1 for a labels file (0x00000801)"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IDXFormatError(
            f"{name} is truncated inside its header: {ndim} dimension(s) need a {header_len}-byte "
            f"header, found {len(raw)} byte(s)"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header_len])
    expected = math.prod(dims)
    found = len(raw) - header_len
    if found < expected:
        raise IDXFormatError(
            f"{name} is truncated: header promises {_fmt_dims(dims)} = {expected} bytes, found {found}"
        )
    if found > expected:
        raise IDXFormatError(
            f"{name} has {found - expected} unexpected trailing byte(s): header promises "
            f"{_fmt_dims(dims)} = {expected} bytes, found {found}"
        )
    # .copy(): own the memory (frombuffer views are read-only and pin the whole bytes object).
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write a ``uint8`` array of rank 1 (labels) or 3 (images) as an IDX file; the inverse of
    :func:`read_idx`.

    Args:
        path: destination; written atomically (temporary file + ``os.replace``).
        array: ``uint8`` array of shape ``(N,)`` or ``(N, rows, cols)``.
        compress: gzip the file; default: True when ``path`` ends in ``.gz``.

    Returns:
        The destination path.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a NumPy array, got {describe(array)}")
    if array.dtype != np.uint8:
        raise TypeError(f"array must have dtype uint8 (IDX type 0x08), got {array.dtype}")
    if array.ndim not in _IDX_KIND:
        raise ValueError(f"array must be 1-D (labels) or 3-D (images), got shape {array.shape}")
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    payload = struct.pack(f">BBBB{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape)
    payload += np.ascontiguousarray(array).tobytes()
    if compress:
        # mtime=0: the same array always gives the same bytes (and the same SHA-256).
        payload = gzip.compress(payload, mtime=0)
    _atomic_write_bytes(path, payload)
    return path


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    _atomic_write(path, lambda f: f.write(payload))


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Let ``write`` fill a temporary file next to ``path``, then publish it in one rename:
    readers see the old file or the whole new one, never a partial write."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _publish(tmp: str | os.PathLike[str], path: Path) -> None:
    """Atomically move a finished temporary file into place, readable like a normal file
    (``mkstemp`` creates files readable by the owner only)."""
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (read in chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sha256sums(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``sha256sum``-style file (``<64 hex>  <name>`` per line) into ``{name: hash}``.

    Blank lines and ``#`` comments are ignored; any other malformed line raises ``DataError``.
    """
    path = Path(path)
    sums: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DataError(f"{path} line {lineno} is not '<64 hex digits>  <file name>': {line!r}")
        sums[parts[1].lstrip("*").strip()] = digest
    return sums


def verify_sha256(path: str | os.PathLike[str], expected: str, *, hint: str | None = None) -> str:
    """Raise ``ChecksumError`` unless the SHA-256 of ``path`` equals ``expected``; return the hash.

    The message names the file, both hashes and what to do (``hint``, or a default telling the
    user to delete the file and download it again, or restore it from the repository).
    """
    path = Path(path)
    actual = sha256_file(path)
    if actual != expected.lower():
        if hint is None:
            hint = (
                f"the file is damaged or is not the original; delete it and call "
                f"load_mnist(download=True) to fetch it again, or restore it from the repository "
                f"(git restore data/mnist/{path.name})"
            )
        raise ChecksumError(
            f"{path.name} failed its SHA-256 check ({path}):\n  expected {expected.lower()}\n"
            f"  actual   {actual}\n{hint}"
        )
    return actual


# --------------------------------------------------------------------------------------------
# Locating and downloading the files
# --------------------------------------------------------------------------------------------


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "course_lib"


def default_data_dir() -> Path:
    """Where :func:`load_mnist` looks for the files when ``data_dir`` is not given.

    In order: ``$COURSE_DATA_DIR`` if set; the repository's ``data/mnist`` (found relative to this
    package, i.e. ``course_lib/../data/mnist``) if it exists; else ``~/.cache/course_lib/mnist``
    (honouring ``$XDG_CACHE_HOME``), which is where an installed package downloads to.
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parent.parent / "data" / "mnist"
    if repo.is_dir():
        return repo
    return _user_cache_root() / "mnist"


def _expected_hashes(data_dir: Path) -> dict[str, str]:
    sums_path = data_dir / "SHA256SUMS"
    if not sums_path.exists():
        return dict(MNIST_SHA256)
    sums = read_sha256sums(sums_path)
    missing = [f for f in MNIST_FILES.values() if f not in sums]
    if missing:
        raise DataError(f"{sums_path} has no SHA-256 for {', '.join(missing)}")
    return {f: sums[f] for f in MNIST_FILES.values()}


def _describe_failure(err: BaseException, timeout: float) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return f"{type(reason).__name__}: {reason}"


def _fetch_once(url: str, dest_dir: Path, filename: str, timeout: float, progress: bool) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``dest_dir``; return (temp path, sha256).

    The caller owns the temporary file and must rename or delete it.
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            h = hashlib.sha256()
            received = 0
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=filename, leave=False)
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            if total is not None and received != total:
                raise HTTPException(f"connection closed after {received} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        return tmp, h.hexdigest()
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def download_file(
    filename: str,
    dest_dir: str | os.PathLike[str],
    sha256: str,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download ``filename`` from the first mirror that serves it with the right SHA-256.

    Each mirror URL is ``mirror.rstrip('/') + '/' + filename``; ``file:///some/dir/`` mirrors
    work too (copying from a USB stick or a shared drive gets the same checks). Transient
    failures (timeouts, refused or dropped connections, HTTP 5xx/429, a body shorter than its
    Content-Length) are retried up to ``retries`` times with exponential backoff (``backoff·2**k`` seconds); HTTP 4xx
    and a checksum mismatch move straight on to the next mirror. The download is streamed into a
    temporary file in ``dest_dir`` and renamed into place (``os.replace``) only after its hash
    matches, so ``dest_dir`` never holds a partial or corrupt ``filename``.

    Args:
        filename: the file's name on the mirrors and in ``dest_dir``.
        dest_dir: directory to write into (created if needed).
        sha256: expected hex digest.
        mirrors: base URLs, tried in order (default :data:`DEFAULT_MIRRORS`).
        timeout: seconds to wait for a connection or for the next chunk of data.
        retries, backoff: extra attempts per mirror for transient failures, and the first delay.
        progress: show a tqdm progress bar.

    Returns:
        The path of the verified file.

    Raises:
        DownloadError: no mirror delivered the file; the message lists every URL with its reason.
    """
    if mirrors is None:
        mirrors = DEFAULT_MIRRORS
    if isinstance(mirrors, str | bytes):
        raise TypeError(f"mirrors must be a list of base URLs, not a single string: [{mirrors!r}]")
    mirrors = list(mirrors)
    if not mirrors:
        raise ValueError("mirrors must list at least one base URL")
    retries = check_int(retries, "retries", low=0)
    timeout = check_number(timeout, "timeout", low=0, low_inclusive=False)
    backoff = check_number(backoff, "backoff", low=0)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        for attempt in range(retries + 1):
            try:
                tmp, actual = _fetch_once(url, dest_dir, filename, timeout, progress)
            except urllib.error.HTTPError as err:
                err.close()
                if err.code < 500 and err.code != 429:
                    failures.append(f"{url} ({_describe_failure(err, timeout)})")
                    break
                reason = _describe_failure(err, timeout)
            except (OSError, HTTPException, ValueError) as err:  # URLError is an OSError
                reason = _describe_failure(err, timeout)
            else:
                if actual != sha256.lower():
                    tmp.unlink()
                    failures.append(f"{url} (corrupt download: SHA-256 {actual}, expected {sha256.lower()})")
                    break
                _publish(tmp, dest)
                return dest
            if attempt == retries:
                tries = f" after {retries + 1} attempts" if retries else ""
                failures.append(f"{url} ({reason}{tries})")
            elif backoff:
                time.sleep(backoff * 2**attempt)
    listing = "\n  ".join(failures)
    raise DownloadError(
        f"could not download {filename} from any of:\n  {listing}\n"
        f"check your internet connection, or copy the MNIST files into {dest_dir}"
    )


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download whichever of the four MNIST files are missing from ``data_dir`` (see
    :func:`download_file`); files already present are left alone. Writes ``SHA256SUMS`` if the
    directory has none. Returns the data directory."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    hashes = _expected_hashes(data_dir)
    for filename in MNIST_FILES.values():
        if not (data_dir / filename).exists():
            download_file(
                filename,
                data_dir,
                hashes[filename],
                mirrors=mirrors,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                progress=progress,
            )
    sums_path = data_dir / "SHA256SUMS"
    if not sums_path.exists():
        text = "".join(f"{hashes[f]}  {f}\n" for f in MNIST_FILES.values())
        _atomic_write_bytes(sums_path, text.encode())
    return data_dir


# --------------------------------------------------------------------------------------------
# Parsed cache
# --------------------------------------------------------------------------------------------


def _cache_key(hashes: dict[str, str]) -> str:
    h = hashlib.sha256(f"course_lib-mnist-cache-v{_CACHE_FORMAT}".encode())
    for filename in MNIST_FILES.values():
        h.update(hashes[filename].encode())
    return h.hexdigest()


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for role in MNIST_FILES:
        a = arrays[role]
        h.update(f"{role}:{a.dtype.str}:{a.shape}".encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, np.ndarray]:
    """Return the cached arrays; raise ``DataError`` if anything about the file is off."""
    try:
        # Our own handle: np.load(path) leaks its file when the zip directory is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            stored_key = str(z["key"])
            stored_digest = str(z["digest"])
            arrays = {role: z[role] for role in MNIST_FILES}
    except Exception as err:  # BadZipFile, KeyError, ValueError, EOFError, OSError, ...
        raise DataError(f"cache {path.name} is unreadable ({type(err).__name__}: {err})") from err
    if stored_key != key:
        raise DataError(f"cache {path.name} belongs to different source files")
    for role, a in arrays.items():
        if a.dtype != np.uint8:
            raise DataError(f"cache {path.name}: {role} has dtype {a.dtype}, expected uint8")
    # The digest catches bit rot and partial overwrites that the zip container may not notice.
    if _arrays_digest(arrays) != stored_digest:
        raise DataError(f"cache {path.name} failed its integrity check")
    return arrays


def _write_cache(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    gitignore = path.parent / ".gitignore"
    if not gitignore.exists():
        # Keeps the cache out of git without touching the repository's .gitignore.
        gitignore.write_text("# parsed-array cache written by course_lib.data\n*\n")
    digest = _arrays_digest(arrays)
    _atomic_write(path, lambda f: np.savez(f, key=np.array(key), digest=np.array(digest), **arrays))


# --------------------------------------------------------------------------------------------
# Dataset container, splitting, normalisation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Dataset:
    """Train / validation / test arrays of one dataset.

    Images are ``(N, C, H, W)`` (or ``(N, C·H·W)`` when flattened) floats; labels are ``(N,)``
    ``int64``. ``X_val``/``y_val`` have ``N = 0`` rows when no validation set was requested.
    ``mean``/``std`` are the training-set statistics used to standardise, or None.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str = ""
    num_classes: int = 10
    mean: float | None = None
    std: float | None = None
    info: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
                raise TypeError(f"X_{split} and y_{split} must be NumPy arrays")
            if y.ndim != 1 or X.shape[:1] != y.shape:
                raise ValueError(
                    f"X_{split} and y_{split} must have the same number of rows, got shapes "
                    f"{X.shape} and {y.shape}"
                )

    def __repr__(self) -> str:  # never print millions of pixels
        parts = [
            f"{split}: X {getattr(self, f'X_{split}').shape} {getattr(self, f'X_{split}').dtype}, "
            f"y {getattr(self, f'y_{split}').shape}"
            for split in ("train", "val", "test")
        ]
        return f"Dataset({self.name!r}; " + "; ".join(parts) + ")"

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 28, 28)`` or ``(784,)``."""
        return tuple(self.X_train.shape[1:])


def _split_size(value: object, n: int, name: str) -> int:
    """A split size given as a count (int ≥ 0) or a fraction in (0, 1) (rounded up)."""
    if isinstance(value, float):
        frac = check_number(value, name, low=0, high=1, high_inclusive=False)
        return math.ceil(frac * n)
    return check_int(value, name, low=0)


def _split_indices(n: int, n_val: int, seed: int | np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, val) index arrays covering range(n), each sorted so the original order
    (and hence the class mix of any prefix) is preserved."""
    if n_val == 0:
        return np.arange(n), np.arange(0)
    perm = as_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _prepare(
    images: np.ndarray, *, scale: float, normalize: bool, flatten: bool, dtype: np.dtype, pad: int = 0
) -> np.ndarray:
    n = images.shape[0]
    if pad:
        # Zero is the background of both digit sets, so the border adds empty margin only.
        images = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    # Explicit size, not -1: an empty validation split (n = 0) cannot infer it.
    shape = (n, math.prod(images.shape[1:])) if flatten else (n, 1, *images.shape[1:])
    out = images.astype(dtype)
    if normalize:
        # Division (not multiplication by 1/255) so each pixel is the correctly rounded p/255;
        # in place, to avoid a second 60000×784 temporary.
        out /= dtype.type(scale)
    return out.reshape(shape)


def _check_dtype(dtype: object, normalize: bool) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be a NumPy dtype such as np.float32, got {dtype!r}") from err
    if np.issubdtype(dt, np.floating):
        return dt
    if dt == np.uint8 and not normalize:
        return dt
    raise TypeError(
        f"dtype must be a floating type (float32 or float64){'' if normalize else ' or uint8'}, got {dt}"
        + ("; raw uint8 pixels need normalize=False" if dt == np.uint8 else "")
    )


def _assemble(
    name: str,
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    *,
    scale: float,
    normalize: bool,
    standardize: bool,
    flatten: bool,
    dtype: np.dtype,
    n_val: int,
    seed: int | np.random.Generator,
    info: dict[str, object],
    pad: int = 0,
) -> Dataset:
    n = train_X.shape[0]
    if n_val >= n:
        raise ValueError(f"validation_size must leave at least one training example: got {n_val} of {n}")
    tr, va = _split_indices(n, n_val, seed)
    prep = {"scale": scale, "normalize": normalize, "flatten": flatten, "dtype": dtype, "pad": pad}
    # Without a validation split, skip the fancy-indexing copy of the whole training set.
    X_train = _prepare(train_X if n_val == 0 else train_X[tr], **prep)
    X_val = _prepare(train_X[va], **prep)
    X_test = _prepare(test_X, **prep)
    mean = std = None
    if standardize:
        # Statistics of the training split only: using validation or test pixels would leak them.
        mean = float(X_train.mean(dtype=np.float64))
        std = float(X_train.std(dtype=np.float64))
        for X in (X_train, X_val, X_test):
            X -= dtype.type(mean)
            X /= dtype.type(std)
    return Dataset(
        X_train,
        train_y[tr].astype(np.int64),
        X_val,
        train_y[va].astype(np.int64),
        X_test,
        test_y.astype(np.int64),
        name=name,
        mean=mean,
        std=std,
        info={**info, "train_indices": tr, "val_indices": va},
    )


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------


def _missing_files_message(data_dir: Path, missing: list[str]) -> str:
    return (
        f"MNIST file(s) missing from {data_dir}: {', '.join(missing)}.\n"
        f"Either call load_mnist(download=True) to fetch them from public mirrors, or copy the "
        f"four original .gz files (and SHA256SUMS) from the course repository's data/mnist/ "
        f"into {data_dir} (or point $COURSE_DATA_DIR at a directory that has them)."
    )


def _load_mnist_arrays(data_dir: Path, cache_dir: Path | None) -> dict[str, np.ndarray]:
    hashes = _expected_hashes(data_dir)
    for filename in MNIST_FILES.values():
        verify_sha256(data_dir / filename, hashes[filename])
    key = _cache_key(hashes)
    cache_path = cache_dir / f"mnist-{key[:16]}.npz" if cache_dir is not None else None
    if cache_path is not None and cache_path.exists():
        try:
            return _read_cache(cache_path, key)
        except DataError as err:
            warnings.warn(f"{err}; rebuilding it from the IDX files", UserWarning, stacklevel=3)
            with contextlib.suppress(OSError):
                cache_path.unlink()
    arrays = {role: read_idx(data_dir / filename) for role, filename in MNIST_FILES.items()}
    for split in ("train", "test"):
        X, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if X.ndim != 3 or y.ndim != 1:
            raise DataError(
                f"{MNIST_FILES[f'{split}_images']} / {MNIST_FILES[f'{split}_labels']} are swapped or "
                f"wrong: images must be 3-D and labels 1-D, got {X.shape} and {y.shape}"
            )
        if X.shape[0] != y.shape[0]:
            raise DataError(f"{split} set has {X.shape[0]} images but {y.shape[0]} labels")
        if y.size and y.max() > 9:
            raise DataError(f"{MNIST_FILES[f'{split}_labels']} holds label {y.max()}; digits are 0-9")
    if cache_path is not None:
        try:
            _write_cache(cache_path, key, arrays)
        except OSError as err:  # read-only checkout, full disk: caching is an optimisation only
            warnings.warn(f"could not write the MNIST cache to {cache_path}: {err}", UserWarning, stacklevel=3)
    return arrays


def load_mnist(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    normalize: bool = True,
    standardize: bool = False,
    flatten: bool = False,
    dtype: type | np.dtype = np.float32,
    validation_size: int | float = 0,
    seed: int | np.random.Generator = 0,
    cache: bool | str | os.PathLike[str] = True,
    download: bool = False,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    retries: int = 2,
    backoff: float = 1.0,
    progress: bool = True,
    pad: int = 0,
) -> Dataset:
    """Load MNIST: 60 000 training and 10 000 test images of handwritten digits, 28×28 pixels.

    Args:
        data_dir: directory holding the four ``.gz`` files (default: :func:`default_data_dir`).
        normalize: divide pixels by 255 so they lie in [0, 1]; if False keep 0…255 (as ``dtype``).
        standardize: additionally subtract the training split's mean pixel and divide by its
            standard deviation (one scalar each, over all training pixels; for the full training
            set that is ≈ 0.1307 and ≈ 0.3081). Validation and test use the *training* statistics.
        flatten: images as ``(N, 784)`` rows instead of ``(N, 1, 28, 28)``.
        dtype: floating dtype of the images (``np.uint8`` allowed with ``normalize=False``).
        validation_size: number of training images to hold out (int), or a fraction in (0, 1).
        seed: seed (or Generator) of the random validation split; same seed, same split.
        cache: True: keep parsed arrays in ``<data_dir>/.cache`` (or, if ``data_dir`` is not
            writable, in ``~/.cache/course_lib/mnist-cache``); a path: use that directory;
            False: always parse the IDX files. The cache file is named after the files'
            SHA-256s and carries a digest of its own arrays; a damaged cache is rebuilt.
        download: fetch missing files (see :func:`download_file`) instead of raising.
        mirrors, timeout, retries, backoff, progress: passed to the downloader.
        pad: add ``pad`` rows and columns of background (0) on every side of each image, before
            scaling and standardising: ``pad=2`` gives the 32×32 inputs of LeNet-5 (the 1998 paper
            centred the 28×28 digits in a 32×32 field), ``(N, 1, 28 + 2·pad, 28 + 2·pad)``. The
            training statistics of ``standardize`` then include the border.

    Returns:
        :class:`Dataset` with ``X_train (N_train, 1, 28, 28)``, ``y_train (N_train,) int64``,
        ``X_val``/``y_val`` (``validation_size`` rows), ``X_test (10000, 1, 28, 28)``, ``y_test``.
        Training and validation keep the files' order (shuffle with :func:`iterate_minibatches`).

    Raises:
        FileNotFoundError: a file is missing and ``download`` is False (the message says how to
            get it).
        ChecksumError: a file's SHA-256 does not match ``SHA256SUMS``.
        IDXFormatError: a file is malformed.
        DownloadError: ``download=True`` and no mirror delivered a good copy.
    """
    dt = _check_dtype(dtype, normalize)
    pad = check_int(pad, "pad", low=0)
    if standardize and not normalize:
        raise ValueError("standardize=True needs normalize=True (statistics are of pixels/255)")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    missing = [f for f in MNIST_FILES.values() if not (data_dir / f).exists()]
    if missing:
        if not download:
            raise FileNotFoundError(_missing_files_message(data_dir, missing))
        download_mnist(
            data_dir, mirrors=mirrors, timeout=timeout, retries=retries, backoff=backoff, progress=progress
        )
    if cache is True:
        # Beside the data if we may write there (the repository checkout), else in the user's
        # cache directory (e.g. a read-only system-wide copy of the files).
        writable = os.access(data_dir, os.W_OK)
        cache_dir: Path | None = data_dir / ".cache" if writable else _user_cache_root() / "mnist-cache"
    elif cache is False or cache is None:
        cache_dir = None
    else:
        cache_dir = Path(cache)
    arrays = _load_mnist_arrays(data_dir, cache_dir)
    n_val = _split_size(validation_size, arrays["train_images"].shape[0], "validation_size")
    return _assemble(
        "mnist",
        arrays["train_images"],
        arrays["train_labels"],
        arrays["test_images"],
        arrays["test_labels"],
        scale=255.0,
        normalize=normalize,
        standardize=standardize,
        flatten=flatten,
        dtype=dt,
        n_val=n_val,
        seed=seed,
        info={"data_dir": str(data_dir), "pad": pad},
        pad=pad,
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as ``(1797, 8, 8)`` uint8 images (0…16) and ``(1797,)`` labels.

    Reads the CSV that scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``: 64 pixels
    then the label per row) without importing scikit-learn, which takes seconds; falls back to
    ``sklearn.datasets.load_digits`` if that file is not where it used to be.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin is not None:
        csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            table = np.loadtxt(csv, delimiter=",", dtype=np.int64)
            if table.shape == (1797, 65):
                return table[:, :64].reshape(-1, 8, 8).astype(np.uint8), table[:, 64]
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return np.asarray(bunch.images).astype(np.uint8), np.asarray(bunch.target, dtype=np.int64)


def load_digits(
    *,
    normalize: bool = True,
    standardize: bool = False,
    validation_size: int | float = 0,
    test_size: int | float = 0.2,
    seed: int | np.random.Generator = 0,
    flatten: bool = False,
    dtype: type | np.dtype = np.float32,
) -> Dataset:
    """scikit-learn's 1797 handwritten digits (8×8 pixels, values 0…16), split deterministically.

    Ships inside scikit-learn: no files, no network, loads in milliseconds, so it is the default
    dataset for quick demos and tests.

    Args:
        normalize: divide pixels by 16 so they lie in [0, 1].
        standardize: subtract the training split's mean pixel and divide by its std (see
            :func:`load_mnist`).
        validation_size, test_size: counts (int) or fractions (float in (0, 1), rounded up) of the
            1797 examples; the test set is drawn first, then validation from the rest.
        seed: seed (or Generator) of the random split.
        flatten: images as ``(N, 64)`` rows instead of ``(N, 1, 8, 8)`` (as in :func:`load_mnist`).
        dtype: floating dtype of the images.

    Returns:
        :class:`Dataset`; with the defaults ``X_train (1437, 1, 8, 8)``, ``X_test (360, 1, 8, 8)``,
        labels ``int64``.
    """
    dt = _check_dtype(dtype, normalize)
    if standardize and not normalize:
        raise ValueError("standardize=True needs normalize=True")
    images, labels = _digits_arrays()
    n = images.shape[0]
    n_test = _split_size(test_size, n, "test_size")
    if n_test >= n:
        raise ValueError(f"test_size must leave at least one training example: got {n_test} of {n}")
    # One generator for both splits: an int seed reproduces both, a Generator is advanced.
    rng = as_rng(seed)
    rest, test = _split_indices(n, n_test, rng)
    n_val = _split_size(validation_size, rest.size, "validation_size")
    return _assemble(
        "digits",
        images[rest],
        labels[rest],
        images[test],
        labels[test],
        scale=16.0,
        normalize=normalize,
        standardize=standardize,
        flatten=flatten,
        dtype=dt,
        n_val=n_val,
        seed=rng,
        info={"test_indices": test, "rest_indices": rest},
    )


# --------------------------------------------------------------------------------------------
# Mini-batches and subsets
# --------------------------------------------------------------------------------------------


def iterate_minibatches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs covering one epoch.

    Args:
        X: examples, shape ``(N, ...)``.
        y: labels (or targets), shape ``(N, ...)`` with the same ``N``.
        batch_size: rows per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: visit the rows in a random order (a fresh permutation per call).
        rng: Generator or seed for the permutation. Pass one Generator for a whole training run:
            each epoch then gets a different, yet reproducible, order.
        drop_last: skip a final batch smaller than ``batch_size``.

    Yields:
        ``X[idx]`` of shape ``(B, ...)`` and ``y[idx]`` of shape ``(B, ...)``, ``B <= batch_size``.
    """
    X = check_array(X, "X", float_only=False, finite=False)
    y = check_array(y, "y", float_only=False, finite=False)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"X and y need a leading batch dimension, got shapes {X.shape} and {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got shapes {X.shape} and {y.shape}")
    batch_size = check_int(batch_size, "batch_size", low=1)
    n = X.shape[0]
    order = as_rng(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]


def subset(
    dataset: Dataset,
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    n_val: int | None = None,
    seed: int | np.random.Generator | None = 0,
) -> Dataset:
    """A smaller copy of ``dataset`` with ``n_train``/``n_val``/``n_test`` examples per split
    (None keeps a split whole).

    The examples are a random sample drawn with ``seed`` (deterministic for an int seed) and
    kept in their original order; ``seed=None`` takes the first ``n`` instead. Random is the
    default because prefixes can be unrepresentative: MNIST's first 5 000 test images are the
    easier half. Useful for fast tests and book examples: ``subset(load_mnist(), 1000, 200)``.

    Returns:
        A new :class:`Dataset`; arrays of shape ``(n, ...)`` indexed from the originals.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset, got {describe(dataset)}")
    rng = as_rng(seed) if seed is not None else None
    picked: dict[str, np.ndarray] = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        X, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
        if n is None:
            picked[f"X_{split}"], picked[f"y_{split}"] = X, y
            continue
        n = check_int(n, f"n_{split}", low=0)
        if n > X.shape[0]:
            raise ValueError(f"n_{split}={n} exceeds the {X.shape[0]} examples of the {split} split")
        idx = np.sort(rng.choice(X.shape[0], size=n, replace=False)) if rng is not None else np.arange(n)
        picked[f"X_{split}"], picked[f"y_{split}"] = X[idx], y[idx]
    return Dataset(
        **picked,
        name=dataset.name,
        num_classes=dataset.num_classes,
        mean=dataset.mean,
        std=dataset.std,
        info=dict(dataset.info),
    )

