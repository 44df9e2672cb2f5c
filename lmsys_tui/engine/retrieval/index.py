"""USearch ANN indexes kept on disk in the workspace's `index/` folder.

- `index/<space>.queries.usearch`: every query vector of one embedding space. Its keys are
  row numbers of the space's vector file, which only ever grows, so new queries are added
  to the index without a rebuild.
- `index/summaries/<summary_run_id>.usearch`: one vector per cluster summary ("title.
  description" embedded in the run's space); its keys are positions in the manifest's
  cluster list.

Each index has a JSON manifest beside it saying what it holds, with the file's size,
modification time and SHA-256. usearch trusts its file (a garbled body crashed the process
or returned wrong neighbours), so the content is checked before usearch reads it: in full
when the size or time differ from the manifest's, or always with `full=True` (verify).
An index is also checked against DuckDB: missing, stale (fewer rows than the space),
corrupt (fails its checksum, unreadable or not what the manifest says) or mismatched
(another space's vectors) indexes are rebuilt, with a line saying why. Files are written
under a temporary name and renamed, so a reader that has memory-mapped the old file keeps
a consistent view.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..checksums import file_sha256
from ..embedding.embed import space_embedder
from ..errors import IndexWriteError, WorkspaceError, describe_failure
from ..progress import Progress, ProgressSink, null_sink
from ..workspace import Workspace
from .keyword_index import update_keyword_index

METRIC = "cos"
DTYPE = "f16"
CONNECTIVITY = 16
EXPANSION_ADD = 64  # half the build time of 128; recall@10 stays ~0.99 with search at 256
# Measured in benchmarks/search.py: 256 keeps recall@10 at 0.99 on 1M real-like vectors.
EXPANSION_SEARCH = 256
ADD_CHUNK = 100_000
SPOT_CHECK_ROWS = 8


@dataclass
class IndexCheck:
    """How an index file compares with DuckDB."""

    path: str
    state: str  # ok, missing, stale, corrupt, mismatch
    expected: int
    indexed: int | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class IndexUpdate:
    path: str
    added: int
    total: int
    rebuilt: bool
    reason: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class IndexResult:
    keywords: dict = field(default_factory=dict)
    queries: list[dict] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _new_index(dim: int):
    from usearch.index import Index

    return Index(
        ndim=dim,
        metric=METRIC,
        dtype=DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def _restore(path: Path, view: bool):
    """The index at `path`, or None when it is missing or unreadable.

    A memory-mapped view skips the key lookup table (a third of the opening time at 1M
    vectors): searches return keys without it.
    """
    from usearch.index import Index

    if not path.exists():
        return None
    try:
        options = {"enable_key_lookups": False} if view else {}
        index = Index.restore(str(path), view=view, **options)
    except (ValueError, RuntimeError, OSError):
        return None
    if index is not None:
        index.expansion_search = EXPANSION_SEARCH
    return index


def _manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(_manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _content_problem(path: Path, manifest: dict, full: bool) -> str | None:
    """Why the file's bytes are not the ones the manifest describes, or None.

    The SHA-256 is recomputed when asked, or when the size or modification time differ
    from the manifest's (a copy of the workspace pays this once per open; an in-place
    write is always caught).
    """
    stat = path.stat()
    if manifest.get("bytes") != stat.st_size:
        return f"its size ({stat.st_size:,} bytes) differs from its manifest's"
    if "sha256" not in manifest:
        return "written by an older version, without a checksum"
    if not full and manifest.get("mtime_ns") == stat.st_mtime_ns:
        return None
    if file_sha256(path) != manifest["sha256"]:
        return "damaged: its checksum does not match"
    return None


def _save(index, path: Path, manifest: dict) -> None:
    """Write the index and then its manifest, each under a temporary name first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".usearch.partial")
    try:
        index.save(str(partial))
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:  # usearch says "Failed to serialize into stream"
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        why = describe_failure(error)
        if isinstance(error, RuntimeError):  # usearch hides the OS error: name the usual ones
            why += " (disk full or not writable?)"
        raise IndexWriteError(f"cannot save index {path}: {why}", index) from None
    stat = path.stat()
    manifest = {
        **manifest,
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": file_sha256(path),
    }
    partial_manifest = path.with_suffix(".json.partial")
    partial_manifest.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(partial_manifest, _manifest_path(path))


# -- query vectors -------------------------------------------------------------------------


def query_index_path(ws: Workspace, space_id: str) -> Path:
    return ws.root / "index" / f"{space_id}.queries.usearch"


def _space(ws: Workspace, space_id: str) -> tuple[int, int]:
    rows = ws.con.execute(
        "SELECT dim, n_vectors FROM embedding_spaces WHERE space_id = ?", [space_id]
    ).fetchall()
    if not rows:
        raise WorkspaceError(f"no embedding space {space_id!r} in {ws.root}")
    return rows[0][0], rows[0][1]


def check_query_index(ws: Workspace, space_id: str, full: bool = False) -> IndexCheck:
    """Compare the space's index file with DuckDB and its vector file (`full`: always
    recompute the file's checksum)."""
    dim, expected = _space(ws, space_id)
    path = query_index_path(ws, space_id)

    def result(state: str, indexed: int | None = None, detail: str = "") -> IndexCheck:
        return IndexCheck(str(path), state, expected, indexed, detail)

    manifest, problem = _file_problem(path, space_id, full)
    if problem:
        return result(problem[0], detail=problem[1])
    if manifest.get("dim") != dim:
        return result("mismatch", detail=f"it holds {manifest.get('dim')}-d vectors, not {dim}-d")
    index = _restore(path, view=True)
    if index is None:
        return result("corrupt", detail="usearch cannot read it")
    if index.ndim != dim or index.size != manifest.get("rows"):
        return result(
            "corrupt",
            detail=f"it holds {index.size:,} rows of {index.ndim}-d vectors, its manifest says "
            f"{manifest.get('rows')} of {manifest.get('dim')}-d",
        )
    if index.size > expected:
        return result(
            "mismatch", index.size, f"it holds {index.size:,} rows, the space {expected:,}"
        )
    if not _spot_check(ws, space_id, index):
        return result("mismatch", index.size, "its vectors differ from the space's vectors")
    if index.size < expected:
        return result("stale", index.size, f"{expected - index.size} new vectors to add")
    return result("ok", index.size)


def _file_problem(path: Path, space_id: str, full: bool) -> tuple[dict, tuple[str, str] | None]:
    """An index file's manifest, and what is wrong with the file before its vectors are
    read (state, detail), or None: missing, unreadable, another space's, changed on disk."""
    if not path.exists():
        return {}, ("missing", "no index file")
    manifest = _read_manifest(path)
    if manifest is None:
        return {}, ("corrupt", "its manifest is missing or unreadable")
    if manifest.get("space_id") != space_id:
        built_for = manifest.get("space_id")
        return manifest, ("mismatch", f"it was built for space {built_for!r}, not {space_id!r}")
    problem = _content_problem(path, manifest, full)
    if problem:
        return manifest, ("stale" if "older version" in problem else "corrupt", problem)
    return manifest, None


def _spot_check(ws: Workspace, space_id: str, index) -> bool:
    """Does the index find a few rows of the vector file where they should be?

    Each sampled row, searched for, must come back as its own key or at distance ~0 (an
    identical vector under another key).
    """
    if index.size == 0:
        return True
    rows = np.unique(np.linspace(0, index.size - 1, SPOT_CHECK_ROWS).astype(np.int64))
    vectors = np.asarray(ws.vector_file(space_id).array()[rows], dtype=np.float32)
    matches = index.search(vectors, 3)
    keys = np.asarray(matches.keys).reshape(len(rows), -1)
    distances = np.asarray(matches.distances).reshape(len(rows), -1)
    found = (keys == rows[:, None]).any(axis=1) | (distances[:, 0] < 1e-3)
    return bool(found.all())


def update_query_index(
    ws: Workspace, space_id: str, progress: ProgressSink = null_sink, rebuild: bool = False
) -> IndexUpdate:
    """Bring the space's index up to date: add new rows, or rebuild a broken index."""
    started = time.perf_counter()
    check = check_query_index(ws, space_id)
    path = query_index_path(ws, space_id)
    dim, expected = _space(ws, space_id)
    if check.ok and not rebuild:
        return IndexUpdate(str(path), 0, expected, False, "up to date", 0.0)
    incremental = check.state == "stale" and check.indexed is not None and not rebuild
    index = _restore(path, view=False) if incremental else None
    if index is None:
        index = _new_index(dim)
    first = index.size
    reason = "asked to rebuild" if rebuild else check.detail
    vectors = ws.vector_file(space_id).array()
    label = f"indexing {space_id}"
    progress(Progress("index", 0, expected - first, label))
    for start in range(first, expected, ADD_CHUNK):
        stop = min(start + ADD_CHUNK, expected)
        index.add(np.arange(start, stop, dtype=np.uint64), np.asarray(vectors[start:stop]))
        progress(Progress("index", stop - first, expected - first, label))
    _save(index, path, {"space_id": space_id, "dim": dim, "rows": index.size, "kind": "queries"})
    update = IndexUpdate(
        str(path), expected - first, expected, first == 0, reason, time.perf_counter() - started
    )
    progress(Progress("index", 1, 1, _update_line(f"index {path.name}", check, update, rebuild)))
    return update


def open_query_index(ws: Workspace, space_id: str, progress: ProgressSink = null_sink):
    """The space's index, memory-mapped; updated or rebuilt first when it needs to be,
    with one line saying why and how long it took."""
    path = query_index_path(ws, space_id)
    check = check_query_index(ws, space_id)
    if check.ok:
        return _restore(path, view=True)
    try:
        update_query_index(ws, space_id, progress)
    except IndexWriteError as error:  # a read-only or full disk: use it unsaved this time
        progress(Progress("index", 1, 1, f"{error}; searching with it unsaved"))
        return error.index
    return _restore(path, view=True)


def _update_line(name: str, check: IndexCheck, update: IndexUpdate, rebuild: bool) -> str:
    """One line saying why an index was (re)built and how long it took; plain for a first
    build ("missing, no index file" read like an error after every first embed step)."""
    if check.state == "missing" and not rebuild:
        return f"{name}: no index file; built ({update.added:,} rows) in {update.seconds:.1f} s"
    done = "rebuilt" if update.rebuilt else f"{update.added:,} rows added"
    why = "asked to rebuild" if rebuild else f"{check.state}, {check.detail}"
    return f"{name}: {why}; {done} in {update.seconds:.1f} s"


# -- cluster summaries ---------------------------------------------------------------------


def summary_index_path(ws: Workspace, summary_run_id: str) -> Path:
    return ws.root / "index" / "summaries" / f"{summary_run_id}.usearch"


def summary_texts(
    ws: Workspace, summary_run_id: str, with_counts: bool = False
) -> tuple[str, list[int], list[str]]:
    """(space_id, cluster_ids, "title. description") of a summary run's named clusters; an
    offline description without its counts (an edit changes them, not what they mean).
    `with_counts`: the whole description, as earlier versions embedded it."""
    from ..naming.counts import without_counts

    found = ws.con.execute(
        "SELECT r.space_id FROM summary_runs s JOIN clustering_runs r USING (run_id) "
        "WHERE s.summary_run_id = ?",
        [summary_run_id],
    ).fetchall()
    if not found:
        raise WorkspaceError(f"no summary run {summary_run_id!r}")
    rows = ws.con.execute(
        "SELECT cluster_id, title, description FROM cluster_summaries "
        "WHERE summary_run_id = ? AND title IS NOT NULL ORDER BY cluster_id",
        [summary_run_id],
    ).fetchall()
    shown = (lambda text: text) if with_counts else without_counts
    texts = [f"{title}. {shown(description or '')}".strip() for _, title, description in rows]
    return found[0][0], [row[0] for row in rows], texts


def _fingerprint(cluster_ids: list[int], texts: list[str]) -> str:
    digest = hashlib.sha256()
    for cluster_id, text in zip(cluster_ids, texts, strict=True):
        digest.update(f"{cluster_id}\t{text}\n".encode())
    return digest.hexdigest()


def check_summary_index(ws: Workspace, summary_run_id: str, full: bool = False) -> IndexCheck:
    space_id, cluster_ids, texts = summary_texts(ws, summary_run_id)
    path = summary_index_path(ws, summary_run_id)

    def result(state: str, indexed: int | None = None, detail: str = "") -> IndexCheck:
        return IndexCheck(str(path), state, len(cluster_ids), indexed, detail)

    manifest, problem = _file_problem(path, space_id, full)
    if problem:
        return result(problem[0], detail=problem[1])
    index = _restore(path, view=True)
    if index is None or index.size != len(manifest.get("cluster_ids", [])):
        return result("corrupt", detail="unreadable or not what its manifest says")
    fingerprint = manifest.get("fingerprint")
    if fingerprint != _fingerprint(cluster_ids, texts) and fingerprint != _fingerprint(
        cluster_ids, summary_texts(ws, summary_run_id, with_counts=True)[2]
    ):  # an index an earlier version built stays good until the counts change
        return result("stale", index.size, "cluster titles or descriptions changed")
    return result("ok", index.size)


def update_summary_index(
    ws: Workspace,
    summary_run_id: str,
    progress: ProgressSink = null_sink,
    embedder=None,
    rebuild: bool = False,
) -> IndexUpdate:
    """Embed the run's cluster summaries in its space and index them (small: a full build)."""
    started = time.perf_counter()
    path = summary_index_path(ws, summary_run_id)
    check = check_summary_index(ws, summary_run_id)
    if check.ok and not rebuild:
        return IndexUpdate(str(path), 0, check.expected, False, "up to date", 0.0)
    space_id, cluster_ids, texts = summary_texts(ws, summary_run_id)
    progress(Progress("index", 0, len(texts), f"embedding summaries of {summary_run_id}"))
    embedder = embedder or space_embedder(ws, space_id)
    dim, _ = _space(ws, space_id)
    index = _new_index(dim)
    if texts:
        vectors = embedder.embed(texts)
        index.add(np.arange(len(texts), dtype=np.uint64), vectors.astype(np.float16))
    manifest = {
        "kind": "summaries",
        "summary_run_id": summary_run_id,
        "space_id": space_id,
        "cluster_ids": cluster_ids,
        "fingerprint": _fingerprint(cluster_ids, texts),
    }
    _save(index, path, manifest)
    reason = "asked to" if rebuild else check.detail
    update = IndexUpdate(
        str(path), len(texts), len(texts), True, reason, time.perf_counter() - started
    )
    line = _update_line(f"summary index {path.name}", check, update, rebuild)
    progress(Progress("index", len(texts), len(texts), line))
    return update


def open_summary_index(
    ws: Workspace, summary_run_id: str, progress: ProgressSink = null_sink, embedder=None
) -> tuple[object, list[int]]:
    """(memory-mapped index, cluster id of each key) for a summary run, rebuilt if needed."""
    path = summary_index_path(ws, summary_run_id)
    check = check_summary_index(ws, summary_run_id)
    if not check.ok:
        try:
            update_summary_index(ws, summary_run_id, progress, embedder)
        except IndexWriteError as error:  # a read-only or full disk: use it unsaved this time
            progress(Progress("index", 1, 1, f"{error}; searching with it unsaved"))
            return error.index, summary_texts(ws, summary_run_id)[1]
    return _restore(path, view=True), _read_manifest(path)["cluster_ids"]


# -- everything ----------------------------------------------------------------------------


def update_indexes(
    ws: Workspace,
    progress: ProgressSink = null_sink,
    space_ids: list[str] | None = None,
    summaries: bool = True,
    rebuild: bool = False,
) -> IndexResult:
    """Keyword index, query indexes of `space_ids` (default all) and their summary indexes."""
    result = IndexResult()
    result.keywords = update_keyword_index(ws, progress, rebuild).as_dict()
    if space_ids is None:
        space_ids = [
            row[0]
            for row in ws.con.execute(
                "SELECT space_id FROM embedding_spaces ORDER BY space_id"
            ).fetchall()
        ]
    for space_id in space_ids:
        result.queries.append(update_query_index(ws, space_id, progress, rebuild).as_dict())
    if summaries and space_ids:
        summary_run_ids = ws.con.execute(
            "SELECT s.summary_run_id FROM summary_runs s JOIN clustering_runs r USING (run_id) "
            "WHERE r.space_id IN (SELECT unnest(?)) ORDER BY s.summary_run_id",
            [space_ids],
        ).fetchall()
        embedders: dict[str, object] = {}
        for (summary_run_id,) in summary_run_ids:
            space_id = summary_texts(ws, summary_run_id)[0]
            if space_id not in embedders:
                embedders[space_id] = space_embedder(ws, space_id)
            update = update_summary_index(
                ws, summary_run_id, progress, embedders[space_id], rebuild
            )
            result.summaries.append(update.as_dict())
    return result
