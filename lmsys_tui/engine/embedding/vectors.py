"""Append-only float16 vector files that `numpy.load(path, mmap_mode="r")` opens directly.

The file is a standard .npy with a fixed 128-byte header, so appending rewrites only the
shape in place. DuckDB's `embeddings` table is the truth: rows past its count (left by an
interrupted embed) are cut off when the file is opened.
"""

from __future__ import annotations

import errno
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
            try:
                self.truncate(committed_rows)
            except OSError as error:  # a read-only workspace: read the committed rows as is
                read_only = error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
                if not read_only or self._header_rows() < committed_rows:
                    raise

    def _header_rows(self) -> int:
        """Rows the header claims; -1 when it is not our header (then it is rewritten:
        DuckDB knows the rows and the dimension, and block checksums check the body)."""
        with open(self.path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
        try:
            text = head.decode("latin1")
            if not head.startswith(_MAGIC) or "'shape': (" not in text:
                return -1
            shape = text.split("'shape': (", 1)[1].split(")", 1)[0]
            rows, dim = (int(part) for part in shape.split(",")[:2])
        except ValueError:
            return -1
        return rows if dim == self.dim else -1

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

    def block_bytes(self, first_row: int, n_rows: int) -> bytes:
        """The raw bytes of rows [first_row, first_row + n_rows), short if the file is."""
        with open(self.path, "rb") as handle:
            handle.seek(HEADER_BYTES + first_row * self.dim * 2)
            return handle.read(n_rows * self.dim * 2)

    def array(self) -> np.ndarray:
        """A read-only memory map of every row (empty array when there are none)."""
        if self.rows == 0:
            return np.zeros((0, self.dim), dtype=np.float16)
        return np.load(self.path, mmap_mode="r")[: self.rows]
