"""Checksums of a vector file's blocks, and the repair of a damaged file.

Each embed chunk appends a block of rows and commits, in the same transaction as its
`embeddings` rows, the block's SHA-256 in `vector_chunks`. A damaged file is then found
block by block: a missing or cut-off file loses the rows past its end, a garbled block
loses its own rows. `repair_vectors` forgets exactly those rows (their queries become
pending, so the embed step embeds them again) and keeps every intact block.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..store import transaction
from ..workspace import Workspace
from .vectors import HEADER_BYTES, VectorFile

__all__ = [
    "Damage",
    "block_sha256",
    "find_damage",
    "record_block",
    "repair_vectors",
    "require_intact",
]


def block_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_block(con, space_id: str, first_row: int, data: bytes, n_rows: int) -> None:
    """Record a block's checksum; call inside the transaction that commits its rows."""
    con.execute(
        "INSERT OR REPLACE INTO vector_chunks VALUES (?, ?, ?, ?)",
        [space_id, first_row, n_rows, block_sha256(data)],
    )


@dataclass
class Damage:
    """What is wrong with a space's vector file: rows past `usable_rows` are gone, and
    the blocks in `bad_blocks` (first_row, n_rows) fail their checksums."""

    path: str
    committed_rows: int
    usable_rows: int
    bad_blocks: list[tuple[int, int]]
    reason: str

    @property
    def lost_rows(self) -> int:
        return self.committed_rows - self.usable_rows + sum(n for _, n in self.bad_blocks)


def find_damage(ws: Workspace, space_id: str) -> Damage | None:
    """Check the space's vector file against DuckDB and the block checksums (reads the
    whole file: ~0.4 s per 1M 384-d rows). None when it is intact."""
    dim, committed = ws.con.execute(
        "SELECT dim, n_vectors FROM embedding_spaces WHERE space_id = ?", [space_id]
    ).fetchall()[0]
    path = ws.vector_path(space_id)
    if not path.exists():
        if committed == 0:
            return None
        return Damage(str(path), committed, 0, [], "the file is missing")
    in_file = max(0, (path.stat().st_size - HEADER_BYTES) // (dim * 2))
    blocks = ws.con.execute(
        "SELECT first_row, n_rows, sha256 FROM vector_chunks WHERE space_id = ? "
        "AND first_row < ? ORDER BY first_row",
        [space_id, committed],
    ).fetchall()
    usable = min(in_file, committed)
    reasons = []
    if usable < committed:
        # A cut-off file keeps its whole blocks only: cut back to where the last one starts.
        usable = next((first for first, n, _ in blocks if first < usable < first + n), usable)
        reasons.append(f"it is cut off ({in_file:,} of {committed:,} rows)")
    bad = []
    with open(path, "rb") as handle:
        for first, n_rows, expected in blocks:
            if first + n_rows > usable:
                continue
            handle.seek(HEADER_BYTES + first * dim * 2)
            if block_sha256(handle.read(n_rows * dim * 2)) != expected:
                bad.append((first, n_rows))
    if bad:
        reasons.append(f"{len(bad)} block(s) fail their checksum")
    if not reasons:
        return None
    return Damage(str(path), committed, usable, bad, "; ".join(reasons))


def require_intact(ws: Workspace, space_id: str) -> None:
    """Refuse to compute on damaged vectors (clustering, assigning, splitting).

    Raises:
        WorkspaceError: the file is damaged; an [embed] step repairs it.
    """
    from ..errors import WorkspaceError

    damage = find_damage(ws, space_id)
    if damage is not None:
        raise WorkspaceError(
            f"vectors of space {space_id!r} are damaged ({damage.reason}): "
            "run a job with an [embed] step to embed the lost rows again"
        )


def repair_vectors(ws: Workspace, space_id: str) -> Damage | None:
    """Forget the rows a damaged file lost, so that embedding makes them again.

    The file is cut to its usable rows and its header rewritten; `embeddings` rows of lost
    rows are deleted; the query index is removed (it is rebuilt from the file). Returns
    the damage repaired, or None when the file was intact.
    """
    damage = find_damage(ws, space_id)
    if damage is None:
        _checksum_unrecorded_rows(ws, space_id)
        return None
    dim = ws.con.execute(
        "SELECT dim FROM embedding_spaces WHERE space_id = ?", [space_id]
    ).fetchall()[0][0]
    path = ws.vector_path(space_id)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    with transaction(ws.con):
        ws.con.execute(
            "DELETE FROM embeddings WHERE space_id = ? AND row_index >= ?",
            [space_id, damage.usable_rows],
        )
        for first, n_rows in damage.bad_blocks:
            ws.con.execute(
                "DELETE FROM embeddings WHERE space_id = ? AND row_index >= ? AND row_index < ?",
                [space_id, first, first + n_rows],
            )
            ws.con.execute(
                "DELETE FROM vector_chunks WHERE space_id = ? AND first_row = ?", [space_id, first]
            )
        ws.con.execute(
            "DELETE FROM vector_chunks WHERE space_id = ? AND first_row >= ?",
            [space_id, damage.usable_rows],
        )
        ws.con.execute(
            "UPDATE embedding_spaces SET n_vectors = ? WHERE space_id = ?",
            [damage.usable_rows, space_id],
        )
    ws._vector_files.pop(space_id, None)
    vectors = VectorFile.__new__(VectorFile)
    vectors.path, vectors.dim, vectors.rows = path, dim, damage.usable_rows
    vectors.truncate(damage.usable_rows)  # also rewrites the header
    index = ws.root / "index" / f"{space_id}.queries.usearch"
    index.with_suffix(".json").unlink(missing_ok=True)
    index.unlink(missing_ok=True)
    return damage


def _checksum_unrecorded_rows(ws: Workspace, space_id: str) -> None:
    """Rows written before blocks had checksums get one block now (trusted as they are)."""
    committed, covered = ws.con.execute(
        "SELECT s.n_vectors, coalesce(max(c.first_row + c.n_rows), 0) FROM embedding_spaces s "
        "LEFT JOIN vector_chunks c USING (space_id) WHERE s.space_id = ? GROUP BY s.n_vectors",
        [space_id],
    ).fetchall()[0]
    if covered >= committed:
        return
    data = ws.vector_file(space_id).block_bytes(covered, committed - covered)
    with transaction(ws.con):
        record_block(ws.con, space_id, covered, data, committed - covered)
