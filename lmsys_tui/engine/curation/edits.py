"""The edits of a clustering run: rename, move, merge, split, delete, tag.

An edit changes the run in place, in one transaction with its audit row and the run's
`edited_at`. What depends on it is recomputed: cluster sizes and centroids, members'
distances, hierarchy node sizes. Summary indexes notice renamed titles by their
fingerprint and rebuild on next use. A merge or delete keeps what it removes
(`removed_clusters`) for its undo.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from ..browse import NotFound, resolve_summary_run, unknown_run
from ..progress import null_sink
from ..store import transaction
from ..workspace import Workspace
from .audit import (
    MAX_DESCRIPTION_CHARS,
    MAX_TAG_CHARS,
    MAX_TITLE_CHARS,
    clean_text,
    list_edits,
    record_edit,
    undone_id,
)

NOISE = -1
# What naming by key phrases writes again after a split or merge.
NAME_FIELDS = ("title", "description", "keywords", "representative_ids")


def check_run(ws: Workspace, run_id: str) -> str:
    rows = ws.con.execute(
        "SELECT space_id FROM clustering_runs WHERE run_id = ? AND status = 'complete'",
        [run_id],
    ).fetchall()
    if not rows:
        raise NotFound(unknown_run(ws.con, run_id))
    return rows[0][0]


def _check_clusters(ws: Workspace, run_id: str, cluster_ids: list[int]) -> None:
    known = {
        row[0]
        for row in ws.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = ?", [run_id]
        ).fetchall()
    }
    for cluster_id in cluster_ids:
        if cluster_id not in known:
            raise NotFound(f"run {run_id} has no cluster {cluster_id}")


def rename_cluster(
    ws: Workspace,
    run_id: str,
    cluster_id: int,
    title: str,
    description: str | None = None,
    summary: str | None = None,
    reason: str | None = None,
    of_merge: int | None = None,
) -> int:
    """Give a cluster a new title (and description) in a summary run (default: newest).
    `of_merge`: the merge edit this rename titles (`merge --title`), so that one undo
    takes back both."""
    check_run(ws, run_id)
    _check_clusters(ws, run_id, [cluster_id])
    summary_run_id = resolve_summary_run(ws.con, run_id, summary)
    if summary_run_id is None:
        raise NotFound(f"run {run_id} has no summaries to rename: run a summarize step first")
    title = checked_title(title)
    if description is not None:
        description = clean_text(description, "description", MAX_DESCRIPTION_CHARS)
    rows = ws.con.execute(
        "SELECT title, description FROM cluster_summaries "
        "WHERE summary_run_id = ? AND cluster_id = ?",
        [summary_run_id, cluster_id],
    ).fetchall()
    previous = {"title": rows[0][0], "description": rows[0][1]} if rows else None
    new = {
        "title": title,
        "description": description
        if description is not None
        else (previous["description"] if previous else None),
    }
    with transaction(ws.con):
        ws.con.execute(
            "INSERT OR REPLACE INTO cluster_summaries "
            "(summary_run_id, cluster_id, title, description, keywords, representative_ids, "
            "error, created_at) SELECT ?, ?, ?, ?, "
            "coalesce(keywords, []), coalesce(representative_ids, []), NULL, now()::TIMESTAMP "
            "FROM (SELECT 1) LEFT JOIN cluster_summaries "
            "ON summary_run_id = ? AND cluster_id = ?",
            [
                summary_run_id,
                cluster_id,
                new["title"],
                new["description"],
                summary_run_id,
                cluster_id,
            ],
        )
        target = {"cluster_id": cluster_id, "summary_run_id": summary_run_id}
        if of_merge is not None:
            target["merge_edit_id"] = of_merge
        edit_id = record_edit(
            ws,
            run_id,
            "rename",
            target,
            previous,
            new,
            reason,
        )
    refresh_summary_indexes(ws, [summary_run_id])
    return edit_id


def checked_title(title: str) -> str:
    """A title as stored (one line, no control characters); refused when it is too long
    or nothing is left."""
    title = clean_text(title, "title", MAX_TITLE_CHARS)
    if not title:
        raise ValueError("a title cannot be empty")
    return title


def tag_cluster(
    ws: Workspace,
    run_id: str,
    cluster_id: int,
    tag: str,
    note: str | None = None,
    reason: str | None = None,
) -> int:
    """Tag a cluster (good, bad, pii, or any word); tagging again replaces the note."""
    check_run(ws, run_id)
    _check_clusters(ws, run_id, [cluster_id])
    tag = clean_text(tag, "tag", MAX_TAG_CHARS).lower()
    note = None if note is None else clean_text(note, "note", MAX_DESCRIPTION_CHARS)
    if not tag:
        raise ValueError("a tag cannot be empty")
    rows = ws.con.execute(
        "SELECT note FROM cluster_tags WHERE run_id = ? AND cluster_id = ? AND tag = ?",
        [run_id, cluster_id, tag],
    ).fetchall()
    previous = {"tag": tag, "note": rows[0][0]} if rows else None
    with transaction(ws.con):
        ws.con.execute(
            "INSERT OR REPLACE INTO cluster_tags VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
            [run_id, cluster_id, tag, note],
        )
        return record_edit(
            ws,
            run_id,
            "tag",
            {"cluster_id": cluster_id},
            previous,
            {"tag": tag, "note": note},
            reason,
        )


def move_queries(
    ws: Workspace,
    run_id: str,
    query_ids: list[int],
    to_cluster: int,
    reason: str | None = None,
) -> int:
    """Move queries into another cluster of the run. A moved query's near-copy mark is
    made again against the texts of the cluster it joins (near copies are found within a
    cluster), so a text that cluster already shows is listed once."""
    from ..clustering.runs import mark_duplicates

    space_id = check_run(ws, run_id)
    _check_clusters(ws, run_id, [to_cluster])
    query_ids = sorted(set(query_ids))
    rows = ws.con.execute(
        "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ? "
        "AND query_id IN (SELECT unnest(?::BIGINT[]))",
        [run_id, query_ids],
    ).fetchall()
    found = dict(rows)
    missing = [q for q in query_ids if q not in found]
    if missing:
        raise NotFound(f"run {run_id} has no query {missing[0]}")
    previous = {str(q): found[q] for q in query_ids}
    touched = sorted(set(found.values()) | {to_cluster})
    with transaction(ws.con):
        ws.con.execute(
            "UPDATE query_clusters SET cluster_id = ?, probability = NULL WHERE run_id = ? "
            "AND query_id IN (SELECT unnest(?::BIGINT[]))",
            [to_cluster, run_id, query_ids],
        )
        recompute(ws, run_id, space_id, touched)
        ws.con.execute(
            "DELETE FROM duplicates WHERE run_id = ? AND kind = 'near' "
            "AND query_id IN (SELECT unnest(?::BIGINT[]))",
            [run_id, query_ids],
        )
        mark_duplicates(ws, run_id, space_id, null_sink, new_ids=np.array(query_ids, np.int64))
        edit_id = record_edit(
            ws,
            run_id,
            "move",
            {"query_ids": query_ids},
            {"clusters": previous},
            {"cluster_id": to_cluster},
            reason,
        )
    # Up to date already (the index leaves counts out), unless an earlier version built it.
    refresh_summary_indexes(ws, summary_runs_of(ws, run_id))
    return edit_id


def merge_clusters(
    ws: Workspace,
    run_id: str,
    cluster_ids: list[int],
    title: str | None = None,
    reason: str | None = None,
    into: int | None = None,
    name_again: bool = True,
) -> int:
    """Merge clusters into `into` (default: the first one named); the others disappear
    from the run, and near copies across them are joined. Noise (-1) is never a side of a
    merge: `delete_cluster` makes noise. Without a `title`, key-phrase and taxonomy names
    of the merged cluster are made again from all its queries, as a split names its parts
    (a title given by hand stays; LLM names stay); `name_again=False` leaves them (the
    undo of a split puts the whole's names back itself)."""
    from ..clustering.runs import mark_duplicates

    space_id = check_run(ws, run_id)
    cluster_ids = list(dict.fromkeys(cluster_ids))
    if into is not None and into not in cluster_ids:
        cluster_ids.insert(0, into)
    if len(cluster_ids) < 2:
        raise ValueError("merge needs at least two cluster ids")
    if NOISE in cluster_ids:
        raise ValueError(
            "cluster -1 is noise, not a cluster: it cannot be merged "
            "(to make a cluster's queries noise, use edit delete)"
        )
    _check_clusters(ws, run_id, cluster_ids)
    if title is not None:  # refused before anything is merged, not after
        title = checked_title(title)
        if resolve_summary_run(ws.con, run_id) is None:
            raise NotFound(f"run {run_id} has no summaries to name the merged cluster in")
    into = cluster_ids[0] if into is None else into
    others = [cluster_id for cluster_id in cluster_ids if cluster_id != into]
    sizes = dict(
        ws.con.execute(
            "SELECT cluster_id, size FROM clusters WHERE run_id = ? "
            "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [run_id, cluster_ids],
        ).fetchall()
    )
    joining = ws.con.execute(
        "SELECT query_id FROM query_clusters WHERE run_id = ? "
        "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
        [run_id, others],
    ).fetchnumpy()["query_id"]
    removed = [_removal(ws, run_id, cluster_id) for cluster_id in others]
    name_again = name_again and not title
    names = _offline_names(ws, run_id, into) if name_again else {}  # as they were: the undo
    with transaction(ws.con):
        ws.con.execute(
            "UPDATE query_clusters SET cluster_id = ?, probability = NULL WHERE run_id = ? "
            "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [into, run_id, others],
        )
        ws.con.execute(
            "DELETE FROM clusters WHERE run_id = ? AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [run_id, others],
        )
        ws.con.execute(
            "DELETE FROM cluster_tags WHERE run_id = ? "
            "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [run_id, others],
        )
        _drop_from_summaries_and_hierarchies(ws, run_id, others)
        recompute(ws, run_id, space_id, [into])
        # One template split over the merged clusters is one group of copies now.
        mark_duplicates(ws, run_id, space_id, null_sink, new_ids=joining)
        count_clusters(ws, run_id)
        renamed = _name_by_key_phrases(ws, run_id, space_id, [into], names) if names else []
        edit_id = record_edit(
            ws,
            run_id,
            "merge",
            {"cluster_ids": cluster_ids},
            {
                "sizes": {str(k): v for k, v in sizes.items()},
                "names": {s: names[s] for s in renamed},
            },
            {"cluster_id": into},
            reason,
        )
        _keep_removals(ws, edit_id, removed)
        if title:  # in the same transaction: a merge stopped before its title is undone
            rename_cluster(ws, run_id, into, title, reason=reason or "merge", of_merge=edit_id)
    if not title:
        refresh_summary_indexes(ws, summary_runs_of(ws, run_id))
    return edit_id


def delete_cluster(ws: Workspace, run_id: str, cluster_id: int, reason: str | None = None) -> int:
    """Dissolve a cluster: its queries become noise (-1), its names and leaf go."""
    from ..naming.counts import refresh_counts

    check_run(ws, run_id)
    if cluster_id == NOISE:
        raise ValueError("cluster -1 is already noise")
    _check_clusters(ws, run_id, [cluster_id])
    size = cluster_size(ws, run_id, cluster_id)
    removed = _removal(ws, run_id, cluster_id)
    with transaction(ws.con):
        ws.con.execute("INSERT OR IGNORE INTO clusters VALUES (?, ?, 0, NULL)", [run_id, NOISE])
        ws.con.execute(
            "UPDATE query_clusters SET cluster_id = ?, probability = NULL, distance = NULL "
            "WHERE run_id = ? AND cluster_id = ?",
            [NOISE, run_id, cluster_id],
        )
        ws.con.execute(
            "DELETE FROM clusters WHERE run_id = ? AND cluster_id = ?", [run_id, cluster_id]
        )
        ws.con.execute(
            "DELETE FROM cluster_tags WHERE run_id = ? AND cluster_id = ?", [run_id, cluster_id]
        )
        _drop_from_summaries_and_hierarchies(ws, run_id, [cluster_id])
        resize_noise(ws, run_id)
        refresh_counts(ws, run_id, [NOISE])
        count_clusters(ws, run_id)
        edit_id = record_edit(
            ws, run_id, "delete", {"cluster_id": cluster_id}, {"size": size}, None, reason
        )
        _keep_removals(ws, edit_id, [removed])
    refresh_summary_indexes(ws, summary_runs_of(ws, run_id))
    return edit_id


def split_cluster(
    ws: Workspace,
    run_id: str,
    cluster_id: int,
    k: int = 2,
    seed: int = 42,
    reason: str | None = None,
) -> int:
    """Re-cluster one cluster into `k` with k-means on its vectors. The largest part keeps
    the id and place in each hierarchy; the others get new ids and a leaf beside it in
    each hierarchy. In key-phrase and taxonomy names every part is named by its own key
    phrases (a title given by hand stays); in LLM names the new parts get the title with
    "(part n)" added (rename them)."""
    from ..clustering.algorithms import kmeans
    from ..embedding.vector_chunks import require_intact
    from ..naming.counts import refresh_counts

    space_id = check_run(ws, run_id)
    if cluster_id == NOISE:
        raise ValueError("cluster -1 is noise: re-cluster the run instead of splitting it")
    _check_clusters(ws, run_id, [cluster_id])
    members = _members_with_rows(ws, run_id, space_id, [cluster_id])
    if not 2 <= k <= len(members["query_id"]):
        raise ValueError(
            f"cluster {cluster_id} has {len(members['query_id'])} queries: k must be from 2 to that"
        )
    require_intact(ws, space_id)
    vectors = np.asarray(ws.vector_file(space_id).array()[members["row_index"]], np.float32)
    labels, _, _ = kmeans(vectors, k, seed, 20, device="cpu")
    parts = [
        int(label)
        for label, _ in sorted(
            zip(*np.unique(labels, return_counts=True), strict=True), key=lambda item: -item[1]
        )
    ]
    first_new = ws.con.execute(
        "SELECT max(cluster_id) + 1 FROM clusters WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]
    new_ids = {part: first_new + i for i, part in enumerate(parts[1:])}
    names = _offline_names(ws, run_id, cluster_id)  # as they were: for the parts, the undo
    with transaction(ws.con):
        for part, new_id in new_ids.items():
            ws.con.execute("INSERT INTO clusters VALUES (?, ?, 0, NULL)", [run_id, new_id])
            moved = members["query_id"][labels == part]
            ws.con.execute(
                "UPDATE query_clusters SET cluster_id = ?, probability = NULL WHERE run_id = ? "
                "AND query_id IN (SELECT unnest(?::BIGINT[]))",
                [new_id, run_id, moved.tolist()],
            )
            _copy_names_and_leaf(ws, run_id, cluster_id, new_id, f"(part {new_id - first_new + 2})")
        recompute(ws, run_id, space_id, [cluster_id, *new_ids.values()])
        refresh_counts(ws, run_id, [cluster_id, *new_ids.values()])
        count_clusters(ws, run_id)
        renamed = _name_by_key_phrases(ws, run_id, space_id, [cluster_id, *new_ids.values()], names)
        edit_id = record_edit(
            ws,
            run_id,
            "split",
            {"cluster_id": cluster_id},
            {
                "size": len(members["query_id"]),
                "names": {s: names[s] for s in renamed},
            },
            {"cluster_ids": [cluster_id, *new_ids.values()], "k": k, "seed": seed},
            reason,
        )
    refresh_summary_indexes(ws, summary_runs_of(ws, run_id))
    return edit_id


def _offline_names(ws: Workspace, run_id: str, cluster_id: int) -> dict[str, dict]:
    """The cluster's names in each key-phrase or taxonomy summary run of the run."""
    rows = ws.con.execute(
        f"SELECT summary_run_id, {', '.join(NAME_FIELDS)} FROM cluster_summaries "
        "WHERE cluster_id = ? AND summary_run_id IN (SELECT summary_run_id FROM summary_runs "
        "WHERE run_id = ? AND model IN ('offline', 'taxonomy'))",
        [cluster_id, run_id],
    ).fetchall()
    return {row[0]: dict(zip(NAME_FIELDS, row[1:], strict=True)) for row in rows}


def _name_by_key_phrases(
    ws: Workspace, run_id: str, space_id: str, parts: list[int], names
) -> list[str]:
    """Name a split's parts, or a merge's whole (`parts[0]`, the cluster that kept its id),
    by their own key phrases in each key-phrase or taxonomy summary run of the run
    (`names`: that cluster's names before, by summary run; in taxonomy names it keeps its
    topic). LLM names are left alone (a split's new parts keep "(part n)"). A title given
    by hand stays. Returns the summary runs where `parts[0]` was named again."""
    from ..naming.offline import part_labels

    kept, renamed = parts[0], []
    for summary_run_id, model, parameters in ws.con.execute(
        "SELECT summary_run_id, model, parameters FROM summary_runs WHERE run_id = ? "
        "AND model IN ('offline', 'taxonomy') ORDER BY summary_run_id",
        [run_id],
    ).fetchall():
        if summary_run_id not in names:  # the whole had no name there to start from
            continue
        parameters = json.loads(parameters)
        whole = names[summary_run_id]["description"] if model == "taxonomy" else None
        labels = part_labels(
            ws, run_id, space_id, parts, parameters["max_queries"], parameters["seed"], whole
        )
        for part, (title, description, phrases, ids) in labels.items():
            if part == kept:
                if _renamed_by_hand(ws, run_id, kept, summary_run_id):
                    continue
                renamed.append(summary_run_id)
            name = dict(zip(NAME_FIELDS, (title, description, phrases, ids), strict=True))
            write_names(ws, summary_run_id, part, name)
    return renamed


def write_names(ws: Workspace, summary_run_id: str, cluster_id: int, name: dict) -> None:
    """Replace a cluster's title, description, key phrases and representatives (NAME_FIELDS)
    in a summary run."""
    ws.con.execute(
        f"UPDATE cluster_summaries SET {', '.join(f'{k} = ?' for k in NAME_FIELDS)} "
        "WHERE summary_run_id = ? AND cluster_id = ?",
        [*(name[k] for k in NAME_FIELDS), summary_run_id, cluster_id],
    )


def _renamed_by_hand(ws: Workspace, run_id: str, cluster_id: int, summary_run_id: str) -> bool:
    """Whether a rename that is not undone gave the cluster its title in the summary run
    (a merge's --title included; an undo's rename only puts back an earlier title)."""
    edits = list_edits(ws.con, run_id, cluster_id)
    undone = {undone_id(e) for e in edits} - {None}
    return any(
        e.action == "rename"
        and e.target.get("summary_run_id") == summary_run_id
        and undone_id(e) is None
        and e.edit_id not in undone
        for e in edits
    )


def _copy_names_and_leaf(ws: Workspace, run_id: str, source: int, new_id: int, suffix: str):
    """A new cluster split off `source`: its title with `suffix` in every summary run of
    the run, and a leaf under the same parent in every hierarchy."""
    ws.con.execute(
        "INSERT INTO cluster_summaries (summary_run_id, cluster_id, title, description, "
        "keywords, representative_ids, error, created_at) "
        "SELECT summary_run_id, ?, left(title, 180) || ' ' || ?, description, keywords, [], "
        "NULL, now()::TIMESTAMP FROM cluster_summaries WHERE cluster_id = ? AND summary_run_id "
        "IN (SELECT summary_run_id FROM summary_runs WHERE run_id = ?)",
        [new_id, suffix, source, run_id],
    )
    ws.con.execute(
        "INSERT INTO hierarchy_nodes SELECT hierarchy_run_id, 'L0-' || ?, 0, parent_id, ?, "
        "title, description, 0 FROM hierarchy_nodes WHERE level = 0 AND cluster_id = ? "
        "AND hierarchy_run_id IN (SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ?)",
        [new_id, new_id, source, run_id],
    )


def resize_noise(ws: Workspace, run_id: str) -> None:
    """Noise's size after queries joined or left it (its row goes when it is empty) and
    the hierarchy sizes."""
    ws.con.execute(
        "UPDATE clusters SET size = (SELECT count(*) FROM query_clusters "
        "WHERE run_id = ? AND cluster_id = ?) WHERE run_id = ? AND cluster_id = ?",
        [run_id, NOISE, run_id, NOISE],
    )
    ws.con.execute(
        "DELETE FROM clusters WHERE run_id = ? AND cluster_id = ? AND size = 0", [run_id, NOISE]
    )
    resize_hierarchies(ws, run_id)


def _removal(ws: Workspace, run_id: str, cluster_id: int) -> dict:
    """What removing the cluster takes out of the run (see removed_clusters), read before
    the edit so that its undo can put it back."""

    def rows(sql: str, parameters: list) -> list[dict]:
        cursor = ws.con.execute(sql, parameters)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    members = ws.con.execute(
        "SELECT query_id FROM query_clusters WHERE run_id = ? AND cluster_id = ? ORDER BY query_id",
        [run_id, cluster_id],
    ).fetchnumpy()["query_id"]
    near = ws.con.execute(
        "SELECT d.query_id, d.canonical_id FROM duplicates d JOIN query_clusters c "
        "ON c.run_id = d.run_id AND c.query_id = d.query_id "
        "WHERE d.run_id = ? AND d.kind = 'near' AND c.cluster_id = ?",
        [run_id, cluster_id],
    ).fetchall()
    return {
        "cluster_id": cluster_id,
        "query_ids": members.tolist(),
        "near_copies": {str(query_id): canonical for query_id, canonical in near},
        "names": rows(
            "SELECT summary_run_id, title, description, keywords, representative_ids, error "
            "FROM cluster_summaries WHERE cluster_id = ? AND summary_run_id IN "
            "(SELECT summary_run_id FROM summary_runs WHERE run_id = ?)",
            [cluster_id, run_id],
        ),
        "leaves": rows(
            "SELECT hierarchy_run_id, node_id, parent_id, title, description FROM "
            "hierarchy_nodes WHERE level = 0 AND cluster_id = ? AND hierarchy_run_id IN "
            "(SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ?)",
            [cluster_id, run_id],
        ),
        "tags": rows(
            "SELECT tag, note FROM cluster_tags WHERE run_id = ? AND cluster_id = ?",
            [run_id, cluster_id],
        ),
    }


def _keep_removals(ws: Workspace, edit_id: int, removals: list[dict]) -> None:
    for removal in removals:
        ws.con.execute(
            "INSERT INTO removed_clusters VALUES (?, ?, ?, ?::JSON, ?::JSON, ?::JSON, ?::JSON)",
            [
                edit_id,
                removal["cluster_id"],
                removal["query_ids"],
                *(json.dumps(removal[key]) for key in ("near_copies", "names", "leaves", "tags")),
            ],
        )


def cluster_size(ws: Workspace, run_id: str, cluster_id: int) -> int:
    return ws.con.execute(
        "SELECT size FROM clusters WHERE run_id = ? AND cluster_id = ?", [run_id, cluster_id]
    ).fetchall()[0][0]


def count_clusters(ws: Workspace, run_id: str) -> None:
    ws.con.execute(
        "UPDATE clustering_runs SET n_clusters = (SELECT count(*) FROM clusters "
        "WHERE run_id = ? AND cluster_id != ?) WHERE run_id = ?",
        [run_id, NOISE, run_id],
    )


def summary_runs_of(ws: Workspace, run_id: str) -> list[str]:
    return [
        row[0]
        for row in ws.con.execute(
            "SELECT summary_run_id FROM summary_runs WHERE run_id = ?", [run_id]
        ).fetchall()
    ]


def refresh_summary_indexes(ws: Workspace, summary_run_ids: list[str]) -> None:
    """Re-embed changed summaries now, so searches and verify agree with the edit."""
    from ..retrieval.index import update_summary_index

    for summary_run_id in summary_run_ids:
        update_summary_index(ws, summary_run_id)


def _drop_from_summaries_and_hierarchies(ws: Workspace, run_id: str, cluster_ids: list[int]):
    ws.con.execute(
        "DELETE FROM cluster_summaries WHERE cluster_id IN (SELECT unnest(?::INTEGER[])) "
        "AND summary_run_id IN (SELECT summary_run_id FROM summary_runs WHERE run_id = ?)",
        [cluster_ids, run_id],
    )
    ws.con.execute(
        "DELETE FROM hierarchy_nodes WHERE level = 0 AND cluster_id IN "
        "(SELECT unnest(?::INTEGER[])) AND hierarchy_run_id IN "
        "(SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ?)",
        [cluster_ids, run_id],
    )


def _members_with_rows(
    ws: Workspace, run_id: str, space_id: str, cluster_ids: list[int]
) -> dict[str, np.ndarray]:
    """query_id, cluster_id and vector-file row_index of the clusters' members, by query id."""
    return ws.con.execute(
        "SELECT c.query_id, c.cluster_id, e.row_index FROM query_clusters c "
        "JOIN embeddings e ON e.query_id = c.query_id AND e.space_id = ? "
        "WHERE c.run_id = ? AND c.cluster_id IN (SELECT unnest(?::INTEGER[])) "
        "ORDER BY c.query_id",
        [space_id, run_id, cluster_ids],
    ).fetchnumpy()


def recompute(ws: Workspace, run_id: str, space_id: str, cluster_ids: list[int]) -> None:
    """Sizes, centroids and member distances of the clusters; hierarchy node sizes. The
    counts their offline descriptions give are the caller's: a move or merge marks copies
    again first (and that writes them), a split writes them itself."""
    from ..clustering.algorithms import centroids_of

    members = _members_with_rows(ws, run_id, space_id, cluster_ids)
    vectors = ws.vector_file(space_id).array()
    for cluster_id in cluster_ids:
        chosen = members["cluster_id"] == cluster_id
        rows = np.sort(members["row_index"][chosen])
        if len(rows) == 0:
            ws.con.execute(
                "UPDATE clusters SET size = 0 WHERE run_id = ? AND cluster_id = ?",
                [run_id, cluster_id],
            )
            continue
        matrix = np.asarray(vectors[rows], dtype=np.float32)
        _, centroids, _ = centroids_of(matrix, np.zeros(len(rows), dtype=np.int64))
        centroid = centroids[0]
        order = np.argsort(members["row_index"][chosen])
        query_ids = members["query_id"][chosen][order]
        distances = 1.0 - matrix @ centroid
        ws.con.execute(
            "UPDATE clusters SET size = ?, centroid = ?::FLOAT[] WHERE run_id = ? "
            "AND cluster_id = ?",
            [len(rows), centroid.tolist(), run_id, cluster_id],
        )
        ws.con.register(
            "edited_distances",
            pa.table({"query_id": query_ids, "distance": distances.astype(np.float32)}),
        )
        try:
            ws.con.execute(
                "UPDATE query_clusters SET distance = d.distance FROM edited_distances d "
                "WHERE query_clusters.run_id = ? AND query_clusters.query_id = d.query_id",
                [run_id],
            )
        finally:
            ws.con.unregister("edited_distances")
    resize_hierarchies(ws, run_id)


def resize_hierarchies(ws: Workspace, run_id: str) -> None:
    """Leaf sizes from the clusters, then each level's sizes from the level below."""
    hierarchies = ws.con.execute(
        "SELECT hierarchy_run_id, max_level FROM (SELECT h.hierarchy_run_id, max(n.level) "
        "AS max_level FROM hierarchy_runs h JOIN hierarchy_nodes n USING (hierarchy_run_id) "
        "WHERE h.run_id = ? GROUP BY ALL)",
        [run_id],
    ).fetchall()
    for hierarchy_run_id, max_level in hierarchies:
        ws.con.execute(
            "UPDATE hierarchy_nodes SET size = c.size FROM clusters c WHERE c.run_id = ? "
            "AND c.cluster_id = hierarchy_nodes.cluster_id "
            "AND hierarchy_nodes.hierarchy_run_id = ? AND hierarchy_nodes.level = 0",
            [run_id, hierarchy_run_id],
        )
        for level in range(1, max_level + 1):
            ws.con.execute(
                """
                UPDATE hierarchy_nodes SET size = coalesce((
                    SELECT sum(child.size) FROM hierarchy_nodes child
                    WHERE child.hierarchy_run_id = hierarchy_nodes.hierarchy_run_id
                        AND child.parent_id = hierarchy_nodes.node_id), 0)
                WHERE hierarchy_run_id = ? AND level = ?
                """,
                [hierarchy_run_id, level],
            )
