"""Append-only float16 vector files that `numpy.load(path, mmap_mode="r")` opens directly.

The file is a standard .npy with a fixed 128-byte header, so appending rewrites only the
shape in place. DuckDB's `embeddings` table is the truth: rows past its count (left by an
interrupted embed) are cut off when the file is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HEADER_BYTES = 128
_MAGIC = b"\x93NUMPY\x01\x00"


def _header(rows: int, dim: int) -> bytes:
    text = f"{{'descr': '<f2', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    padding = HEADER_BYTES - len(_MAGIC) - 2 - len(text) - 1
    body = (text + " " * padding + "\n").encode("latin1")
    return _MAGIC + len(body).to_bytes(2, "little") + body


class VectorFile:
    """One embedding space's vectors: row i is the vector whose row_index is i."""

    def __init__(self, path: Path, dim: int, committed_rows: int) -> None:
        self.path = path
        self.dim = dim
        self.rows = committed_rows
        path.parent.mkdir(parents=True, exist_ok=True)
        expected_size = HEADER_BYTES + committed_rows * dim * 2
        if not path.exists():
            if committed_rows:
                raise FileNotFoundError(f"vector file {path} is missing ({committed_rows} rows)")
            path.write_bytes(_header(0, dim))
            return
        actual_size = path.stat().st_size
        if actual_size < expected_size:
            raise ValueError(
                f"vector file {path} holds fewer rows than the workspace records "
                f"({(actual_size - HEADER_BYTES) // (dim * 2)} < {committed_rows})"
            )
        if actual_size != expected_size or self._header_rows() != committed_rows:
            self.truncate(committed_rows)

    def _header_rows(self) -> int:
        with open(self.path, "rb") as handle:
            text = handle.read(HEADER_BYTES).decode("latin1")
        shape = text.split("'shape': (", 1)[1].split(")", 1)[0]
        return int(shape.split(",")[0])

    def truncate(self, rows: int) -> None:
        """Forget every row from `rows` on (used to undo an append DuckDB did not commit)."""
        with open(self.path, "r+b") as handle:
            handle.truncate(HEADER_BYTES + rows * self.dim * 2)
            handle.seek(0)
            handle.write(_header(rows, self.dim))
        self.rows = rows

    def append(self, vectors: np.ndarray) -> int:
        """Write rows at the end, durably; return the row index of the first one."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        first = self.rows
        with open(self.path, "r+b") as handle:
            handle.seek(HEADER_BYTES + first * self.dim * 2)
            handle.write(np.ascontiguousarray(vectors, dtype="<f2").tobytes())
            handle.seek(0)
            handle.write(_header(first + len(vectors), self.dim))
            handle.flush()
            os.fsync(handle.fileno())
        self.rows = first + len(vectors)
        return first

    def array(self) -> np.ndarray:
        """A read-only memory map of every row (empty array when there are none)."""
        if self.rows == 0:
            return np.zeros((0, self.dim), dtype=np.float16)
        return np.load(self.path, mmap_mode="r")
