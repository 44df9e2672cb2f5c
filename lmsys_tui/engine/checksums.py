"""Content checksums for the files a workspace keeps outside DuckDB.

DuckDB checks its own blocks; vector, index and model files are ours to check. SHA-256
runs at about 2 GB/s here (SHA-NI), so checking a 90 MB file on open costs ~50 ms.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
