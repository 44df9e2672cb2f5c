"""Embed queries into an embedding space's vector file, each query once per space.

Pending queries are taken longest first, so batches hold texts of similar length (less
padding), and committed chunk by chunk: vectors are appended to the file, then their
`embeddings` rows are committed. An interrupted embed resumes with what is missing.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import EmbedError
from ..progress import Progress, ProgressSink, null_sink
from ..store import slug, transaction, unique_id
from ..workspace import Workspace
from .embedders import Embedder, SentenceTransformerEmbedder, make_embedder
from .vector_chunks import find_damage, record_block, repair_vectors, require_intact

if TYPE_CHECKING:  # specs imports pydantic: searches embed their text without it
    from ..specs import EmbedStep

_ST = "sentence-transformers"
_PROVIDER_PREFIX = {_ST: "st", "litellm": "litellm", "model2vec": "m2v"}


@dataclass
class EmbedResult:
    space_id: str
    dim: int
    embedded: int
    already_embedded: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def space_embedder(ws: Workspace, space_id: str) -> Embedder:
    """The model of an embedding space, to embed more text (searches, summaries) into it:
    its ONNX export when the workspace has one (no torch import), else the model itself.

    Models are loaded once per process and shared.
    """
    rows = ws.con.execute(
        "SELECT provider, model FROM embedding_spaces WHERE space_id = ?", [space_id]
    ).fetchall()
    if not rows:
        raise EmbedError(f"no embedding space {space_id!r}")
    key = rows[0]
    if key not in _SHARED_EMBEDDERS:
        from ..specs import EmbedStep
        from .query_encoder import load_query_encoder

        exported = load_query_encoder(ws, space_id, key[1]) if key[0] == _ST else None
        _SHARED_EMBEDDERS[key] = exported or make_embedder(EmbedStep(provider=key[0], model=key[1]))
    return _SHARED_EMBEDDERS[key]


_SHARED_EMBEDDERS: dict[tuple[str, str], Embedder] = {}


def find_space(ws: Workspace, provider: str, model: str) -> tuple[str, int] | None:
    rows = ws.con.execute(
        "SELECT space_id, dim FROM embedding_spaces WHERE provider = ? AND model = ?",
        [provider, model],
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def _create_space(ws: Workspace, provider: str, model: str, dim: int) -> str:
    base = f"{_PROVIDER_PREFIX[provider]}-{slug(model)}"
    space_id = unique_id(ws.con, "embedding_spaces", "space_id", base)
    ws.con.execute(
        "INSERT INTO embedding_spaces VALUES (?, ?, ?, ?, true, 0, now()::TIMESTAMP)",
        [space_id, provider, model, dim],
    )
    return space_id


def pending_query_ids(ws: Workspace, space_id: str | None) -> np.ndarray:
    """Ids of queries with no vector in the space, longest text first."""
    return ws.con.execute(
        """
        SELECT query_id FROM queries q
        WHERE NOT EXISTS (
            SELECT 1 FROM embeddings e WHERE e.space_id = ? AND e.query_id = q.query_id)
        ORDER BY length(query_text) DESC, query_id
        """,
        [space_id or ""],
    ).fetchnumpy()["query_id"]


def embed_queries(
    ws: Workspace,
    step: EmbedStep,
    progress: ProgressSink = null_sink,
    embedder: Embedder | None = None,
    chunk_size: int | None = None,
) -> EmbedResult:
    """Embed every query that has no vector in the step's space yet.

    Raises:
        EmbedError: the model cannot be loaded or called, or the workspace has no queries.
    """
    started = time.perf_counter()
    embedder = embedder or make_embedder(step, progress)
    existing = find_space(ws, embedder.provider, embedder.model)
    pending = pending_query_ids(ws, existing[0] if existing else None)
    total_queries = ws.count("queries")
    if total_queries == 0:
        raise EmbedError("no queries to embed: add a [load] step or load a source first")
    if existing and len(pending) == 0 and find_damage(ws, existing[0]) is None:
        _export_for_searches(ws, existing[0], embedder, progress)  # once, for older workspaces
        return EmbedResult(existing[0], existing[1], 0, total_queries, 0.0)
    progress(Progress("embed", 0, len(pending), f"loading {embedder.model}"))
    dim = embedder.dimension()
    if existing:
        space_id = existing[0]
        damage = repair_vectors(ws, space_id)
        if damage is not None:
            pending = pending_query_ids(ws, space_id)
            progress(
                Progress(
                    "embed",
                    0,
                    len(pending),
                    f"vectors of {space_id} were damaged ({damage.reason}): "
                    f"{damage.lost_rows:,} rows to embed again, the rest kept",
                )
            )
        if existing[1] != dim:
            raise EmbedError(
                f"{embedder.model} now gives {dim}-d vectors; space {space_id} has {existing[1]}"
            )
    else:
        space_id = _create_space(ws, embedder.provider, embedder.model, dim)
    vectors = ws.vector_file(space_id)
    done = 0
    progress(Progress("embed", 0, len(pending), f"embedding into {space_id}"))
    if step.executor == "ray" and len(pending):
        from ..executors.ray_embed import embedded_on_ray

        batches = embedded_on_ray(
            step,
            ws.tmp_dir / "ray-shards" / space_id,
            pending,
            lambda ids: _texts(ws, ids),
            progress,
        )
    else:
        chunk_size = chunk_size or (4096 if getattr(embedder, "device", "cpu") == "cuda" else 512)
        batches = _embedded_here(ws, embedder, pending, chunk_size)
    with contextlib.closing(batches):  # a Ray run is shut down however the loop ends
        for ids, matrix in batches:
            if matrix.shape != (len(ids), dim):
                raise EmbedError(
                    f"{embedder.model} returned {matrix.shape} vectors for {len(ids)} texts"
                )
            _commit_chunk(ws, space_id, vectors, ids, matrix)
            done += len(ids)
            progress(Progress("embed", done, len(pending)))
    _export_for_searches(ws, space_id, embedder, progress)
    return EmbedResult(space_id, dim, done, total_queries - done, time.perf_counter() - started)


def _export_for_searches(ws: Workspace, space_id: str, embedder, progress) -> None:
    """Export the model to ONNX once per space, while it is loaded, so that searches need
    no torch (see query_encoder)."""
    from .query_encoder import checked_manifest, export_query_encoder

    if not isinstance(embedder, SentenceTransformerEmbedder):
        return
    if checked_manifest(ws, space_id, embedder.model) is not None:
        return
    progress(Progress("embed", 1, 1, "exporting the query encoder (once)"))
    sample = ws.con.execute(
        "SELECT query_text FROM queries USING SAMPLE 32 ROWS (reservoir, 7)"
    ).fetchall()
    message = export_query_encoder(ws, space_id, embedder, [row[0] for row in sample])
    progress(Progress("embed", 1, 1, message))


def _embedded_here(ws: Workspace, embedder, pending: np.ndarray, chunk_size: int):
    """(query ids, vectors) chunk by chunk, embedded in this process."""
    for start in range(0, len(pending), chunk_size):
        ids = pending[start : start + chunk_size]
        yield ids, embedder.embed(_texts(ws, ids))


def _texts(ws: Workspace, ids: np.ndarray) -> list[str]:
    ws.con.register("wanted_ids", pa.table({"query_id": ids, "position": np.arange(len(ids))}))
    try:
        rows = ws.con.execute(
            """
            SELECT q.query_text FROM wanted_ids w JOIN queries q USING (query_id)
            ORDER BY w.position
            """
        ).fetchall()
    finally:
        ws.con.unregister("wanted_ids")
    return [row[0] for row in rows]


def _commit_chunk(
    ws: Workspace, space_id: str, vectors, ids: np.ndarray, matrix: np.ndarray
) -> None:
    """Append vectors durably, then commit their rows; undo the append if the commit fails."""
    rows_before = vectors.rows
    block = np.ascontiguousarray(matrix, dtype="<f2")
    first_row = vectors.append(block)
    chunk = pa.table({"query_id": ids, "row_index": np.arange(first_row, first_row + len(ids))})
    con = ws.con
    con.register("new_embeddings", chunk)
    try:
        with transaction(con):
            con.execute(
                "INSERT INTO embeddings SELECT ?, query_id, row_index FROM new_embeddings",
                [space_id],
            )
            con.execute(
                "UPDATE embedding_spaces SET n_vectors = ? WHERE space_id = ?",
                [vectors.rows, space_id],
            )
            record_block(con, space_id, first_row, block.tobytes(), len(ids))
    except BaseException:
        vectors.truncate(rows_before)
        raise
    finally:
        con.unregister("new_embeddings")


def load_space_vectors(ws: Workspace, space_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Every embedded query of a space: (query_ids ascending, float32 vectors).

    Raises:
        WorkspaceError: the vector file is damaged (an [embed] step repairs it).
    """
    require_intact(ws, space_id)
    mapping = ws.con.execute(
        "SELECT query_id, row_index FROM embeddings WHERE space_id = ? ORDER BY query_id",
        [space_id],
    ).fetchnumpy()
    matrix = ws.vector_file(space_id).array()
    return mapping["query_id"], np.asarray(matrix[mapping["row_index"]], dtype=np.float32)
