"""The counts an offline description starts with ("647 prompts (6.9% of the run), 613
unique; mostly English 99%.").

Written by the labeller; written again when an edit, an assign or a new marking of
copies changes them (a split part said the whole cluster's 647 under its own size of 233;
after an assign every share was a little off); and left out of the text
the summary index embeds: counts carry no meaning to search by, and a moved query would
otherwise make that index stale.
"""

from __future__ import annotations

import re

from ..enrich.duplicates import copies_per_cluster
from ..specs import OFFLINE_MODELS
from ..workspace import Workspace

COUNTS = re.compile(r"\d[\d,]* prompts \(\d+\.\d% of the run\)[^.]*\.")


def cluster_facts(ws: Workspace, run_id: str, typical_ids: list[int]) -> dict:
    """Size, share, unique count and language mix per cluster; texts of `typical_ids`."""
    total = ws.con.execute(
        "SELECT count(*) FROM query_clusters WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]
    copies = copies_per_cluster(ws.con, run_id)
    facts: dict = {}
    for cluster_id, size in ws.con.execute(
        "SELECT cluster_id, count(*) FROM query_clusters WHERE run_id = ? GROUP BY cluster_id",
        [run_id],
    ).fetchall():
        facts[cluster_id] = {
            "size": size,
            "share": size / max(total, 1),
            "unique": size - copies.get(cluster_id, 0),
            "languages": [],
        }
    for cluster_id, language, count in ws.con.execute(
        """
        SELECT c.cluster_id, q.language, count(*) AS n
        FROM query_clusters c JOIN queries q USING (query_id)
        WHERE c.run_id = ? AND q.language IS NOT NULL
        GROUP BY ALL ORDER BY c.cluster_id, n DESC, q.language
        """,
        [run_id],
    ).fetchall():
        facts[cluster_id]["languages"].append((language, count))
    facts["typical"] = dict(
        ws.con.execute(
            "SELECT query_id, query_text FROM queries "
            "WHERE query_id IN (SELECT unnest(?::BIGINT[]))",
            [typical_ids],
        ).fetchall()
    )
    return facts


def counts_sentence(facts: dict) -> str:
    """A cluster's size, share, unique prompts and languages, as one sentence."""
    size, unique = facts["size"], facts["unique"]
    parts = [f"{size:,} prompts ({facts['share']:.1%} of the run)"]
    if unique < size:
        parts[0] += f", {unique:,} unique"
    languages = facts["languages"]
    if languages:
        # The runner-up only when it rounds to a percent or more ("English 94%, Dutch 0%").
        named = languages[:1] + [lang for lang in languages[1:2] if lang[1] / size >= 0.005]
        shown = ", ".join(f"{name} {_percent(count, size)}" for name, count in named)
        if languages[0][1] == size:
            parts.append(languages[0][0])
        else:
            parts.append(("mostly " if languages[0][1] >= size / 2 else "languages: ") + shown)
    return "; ".join(parts) + "."


def _percent(count: int, size: int) -> str:
    """A share in whole percent that says 100 % only of all ("mostly English 100%" read
    as a contradiction when 340 of 341 were English)."""
    return ">99%" if count < size and count / size >= 0.995 else f"{count / size:.0%}"


def refresh_counts(ws: Workspace, run_id: str, cluster_ids: list[int] | None = None) -> None:
    """Write the counts of the offline descriptions again (of `cluster_ids`, default all
    the run's), after an edit, an assign or a new marking of copies changed them."""
    rows = ws.con.execute(
        "SELECT s.summary_run_id, s.cluster_id, s.description FROM cluster_summaries s "
        "JOIN summary_runs r USING (summary_run_id) WHERE r.run_id = ? "
        "AND r.model IN (SELECT unnest(?::VARCHAR[])) AND s.description IS NOT NULL "
        "AND (?::INTEGER[] IS NULL OR s.cluster_id IN (SELECT unnest(?::INTEGER[])))",
        [run_id, list(OFFLINE_MODELS), cluster_ids, cluster_ids],
    ).fetchall()
    if not rows:
        return
    facts = cluster_facts(ws, run_id, [])
    changed = []
    for summary_run_id, cluster_id, description in rows:
        if cluster_id not in facts:  # emptied by the edit
            continue
        found = COUNTS.search(description)
        if found is None:  # renamed by hand: no counts to keep true
            continue
        sentence = counts_sentence(facts[cluster_id])
        rewritten = description[: found.start()] + sentence + description[found.end() :]
        if rewritten != description:
            changed.append((summary_run_id, cluster_id, rewritten))
    if changed:  # one statement: an assign changes every cluster's share
        ws.con.execute(
            "UPDATE cluster_summaries SET description = c.description FROM (SELECT "
            "unnest(?::VARCHAR[]) AS summary_run_id, unnest(?::INTEGER[]) AS cluster_id, "
            "unnest(?::VARCHAR[]) AS description) c WHERE cluster_summaries.summary_run_id "
            "= c.summary_run_id AND cluster_summaries.cluster_id = c.cluster_id",
            [list(column) for column in zip(*changed, strict=True)],
        )


def without_counts(description: str) -> str:
    """The description without its counts sentence, if it has one."""
    return " ".join(COUNTS.sub("", description, count=1).split())
