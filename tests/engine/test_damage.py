"""Damaged vector files: found by block checksums, reported by verify, repaired by embed."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.embedding.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.embedding.vector_chunks import find_damage
from lmsys_tui.engine.embedding.vectors import HEADER_BYTES
from lmsys_tui.engine.errors import WorkspaceError
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep
from lmsys_tui.engine.verify import verify_run
from tests.conftest import HashEmbedder

CHUNK = 8  # 30 queries: blocks of 8, 8, 8 and 6 rows


@pytest.fixture
def embedded(workspace, lmsys_file):
    load(workspace, LoadStep(source=str(lmsys_file)))
    embedded = embed_queries(workspace, EmbedStep(), embedder=HashEmbedder(), chunk_size=CHUNK)
    cluster_space(workspace, ClusterStep(n_clusters=3, run_id="k3"), embedded.space_id)
    return workspace, embedded.space_id


def _vectors_match_texts(ws, space_id) -> bool:
    ids, vectors = load_space_vectors(ws, space_id)
    texts = dict(ws.con.execute("SELECT query_id, query_text FROM queries").fetchall())
    expected = HashEmbedder().embed([texts[i] for i in ids])
    return len(ids) == 30 and np.allclose(vectors, expected, atol=2e-3)


def _failed(ws) -> dict[str, str]:
    """Failed checks of vectors and members (this fixture builds no indexes)."""
    return {
        check.name: check.fix
        for check in verify_run(ws, "k3").checks
        if not check.ok and "index" not in check.name
    }


def test_a_garbled_block_is_found_and_only_its_rows_are_embedded_again(embedded):
    ws, space_id = embedded
    with open(ws.vector_path(space_id), "r+b") as handle:
        handle.seek(HEADER_BYTES + 9 * 16 * 2)  # inside the second block
        handle.write(os.urandom(40))
    damage = find_damage(ws, space_id)
    assert damage.bad_blocks == [(8, 8)] and damage.lost_rows == 8
    assert "[embed]" in _failed(ws)["vector file content"]
    with pytest.raises(WorkspaceError, match="damaged"):
        load_space_vectors(ws, space_id)

    embedder = HashEmbedder()
    result = embed_queries(ws, EmbedStep(), embedder=embedder, chunk_size=CHUNK)
    assert (result.embedded, embedder.texts_seen) == (8, 8)
    assert find_damage(ws, space_id) is None and _vectors_match_texts(ws, space_id)
    assert not _failed(ws)


def test_an_overwritten_header_is_reported_then_repaired(embedded):
    ws, space_id = embedded
    with open(ws.vector_path(space_id), "r+b") as handle:
        handle.write(os.urandom(300))  # the header and the first rows
    ws._vector_files.clear()
    assert "vector file content" in _failed(ws)
    embedder = HashEmbedder()
    embed_queries(ws, EmbedStep(), embedder=embedder, chunk_size=CHUNK)
    assert embedder.texts_seen == 8
    assert _vectors_match_texts(ws, space_id) and not _failed(ws)


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_cut_off_or_missing_file_keeps_its_whole_blocks(embedded, damage):
    ws, space_id = embedded
    path = ws.vector_path(space_id)
    ws._vector_files.clear()
    if damage == "truncated":
        os.truncate(path, HEADER_BYTES + 20 * 16 * 2)  # 20 rows left: blocks 0 and 1 whole
    else:
        path.unlink()
    failed = _failed(ws)  # a failed check, not an abort
    assert "[embed]" in failed["vector file rows"]
    embedder = HashEmbedder()
    embed_queries(ws, EmbedStep(), embedder=embedder, chunk_size=CHUNK)
    assert embedder.texts_seen == (14 if damage == "truncated" else 30)
    assert _vectors_match_texts(ws, space_id) and not _failed(ws)
