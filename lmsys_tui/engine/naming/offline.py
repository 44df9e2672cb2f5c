"""The offline labellers: key-phrase titles, or taxonomy names, and a description of the
whole cluster.

No LLM and no network. The description says what the cluster holds (size, share, unique
prompts, languages, key phrases) and quotes its most typical prompt; with a taxonomy it
starts with the matched topic and its similarity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..clustering.representatives import representatives
from ..embedding.embed import space_embedder
from ..enrich.duplicates import repeated_members_sql
from ..errors import LmsysError, SummaryError
from ..progress import Progress, ProgressSink, null_sink
from ..workspace import Workspace
from .counts import COUNTS, cluster_facts, counts_sentence
from .phrases import TITLE_CHARS, key_phrases, phrase_title, topic_title
from .taxonomy import Topic, match_topics

_CODE_FENCE = re.compile(r"```\w*")
_LINK = re.compile(r"\[([^\]]*)\]\([^)\s]*\)?")  # [label](target) -> label
_BARE_URL = re.compile(r"https?://\S+")
_LEADING_MARKUP = re.compile(r"^[\W_]+")
KEYWORD_SAMPLE = 100  # unique queries per cluster the offline labeller reads
CONTRAST_PER_CLUSTER = 20  # of each other cluster, when split parts or a merge are named
CONTRAST_TEXTS = 4_000  # at most, of all the other clusters together
DESCRIPTION_CHARS = 600


@dataclass(frozen=True)
class ClusterSample:
    """Texts of a run's clusters: each text's cluster and language (None: not known)."""

    texts: list[str]
    classes: np.ndarray
    languages: list[str | None]

    def where(self, keep: np.ndarray) -> ClusterSample:
        return ClusterSample(
            [t for t, k in zip(self.texts, keep, strict=True) if k],
            self.classes[keep],
            [lang for lang, k in zip(self.languages, keep, strict=True) if k],
        )


def cluster_samples(
    ws: Workspace,
    run_id: str,
    seed: int,
    only: list[int] | None = None,
    per_cluster: int = KEYWORD_SAMPLE,
) -> ClusterSample:
    """A seeded sample of up to `per_cluster` unique query texts per cluster (of `only`,
    when given)."""
    sample = ws.con.execute(
        f"""
        SELECT c.cluster_id, left(q.query_text, 2000) AS text, q.language
        FROM query_clusters c JOIN queries q USING (query_id)
        WHERE c.run_id = ? AND c.query_id NOT IN (
            SELECT query_id FROM ({repeated_members_sql()}))
          AND (?::INTEGER[] IS NULL OR list_contains(?::INTEGER[], c.cluster_id))
        QUALIFY row_number() OVER (PARTITION BY c.cluster_id ORDER BY hash(c.query_id + ?)) <= ?
        ORDER BY c.cluster_id, c.query_id
        """,
        [run_id, run_id, only, only, seed, per_cluster],
    ).fetchnumpy()
    languages = [None if np.ma.is_masked(lang) else str(lang) for lang in sample["language"]]
    return ClusterSample(
        [str(t) for t in sample["text"]], np.asarray(sample["cluster_id"]), languages
    )


def phrase_embedding(
    ws: Workspace, space_id: str, progress: ProgressSink = null_sink
) -> Callable[[list[str]], np.ndarray] | None:
    """The space's model to rank phrases by, or None (c-TF-IDF order) when it cannot load."""
    try:
        embedder = space_embedder(ws, space_id)
        embedder.dimension()
    except LmsysError as error:
        progress(Progress("summarize", 0, 0, f"phrases ranked without embeddings: {error}"))
        return None
    return embedder.embed


def run_centroids(ws: Workspace, run_id: str) -> dict[int, np.ndarray]:
    rows = ws.con.execute(
        "SELECT cluster_id, centroid FROM clusters WHERE run_id = ?", [run_id]
    ).fetchall()
    return {int(c): np.asarray(v, np.float32) for c, v in rows}


def offline_labels(
    ws: Workspace,
    run_id: str,
    space_id: str,
    max_queries: int,
    seed: int,
    progress: ProgressSink = null_sink,
    taxonomy: list[Topic] | None = None,
    min_similarity: float = 0.0,
):
    """(title, description, key phrases, representative ids) per cluster, with no LLM.

    With a taxonomy, a cluster whose closest topic has similarity >= `min_similarity`
    is named after that topic, followed by a few of its key phrases.

    Raises:
        SummaryError: a taxonomy is given but the space's model cannot embed its topics.
    """
    sample = cluster_samples(ws, run_id, seed)
    embed = phrase_embedding(ws, space_id, progress)
    centroids = run_centroids(ws, run_id)
    phrases = key_phrases(
        sample.texts,
        sample.classes,
        centroids,
        embed,
        originals=True,
        languages=sample.languages,
    )
    matches = {}
    if taxonomy is not None:
        if embed is None:
            raise SummaryError(f"taxonomy names need the model of space {space_id}")
        matches = match_topics(centroids, taxonomy, embed)
    chosen = representatives(ws, run_id, space_id, max_queries, seed)
    facts = cluster_facts(ws, run_id, [ids[0] for ids in chosen.values()])
    labels = {}
    for cluster_id, ids in chosen.items():
        found = phrases.get(cluster_id, [])
        typical = facts["typical"][ids[0]]
        title = phrase_title(found) or prompt_title(typical)
        match = matches.get(cluster_id)
        head = tail = ""
        if match and match.similarity >= min_similarity and cluster_id != -1:
            title = topic_title(match.topic.name, found)
            head = (
                f"{match.topic.area} › {match.topic.name} (similarity {match.similarity:.2f}): "
                f"{match.topic.description}. "
            )
        elif match:
            tail = (
                f" Closest taxonomy topic: {match.topic.name} "
                f"(similarity {match.similarity:.2f}, below {min_similarity:.2f})."
            )
        room = DESCRIPTION_CHARS - len(head) - len(tail)
        description = head + describe(facts[cluster_id], found, typical, room) + tail
        if cluster_id == -1:
            title = ("Noise: " + title)[:60]
        labels[cluster_id] = (title, description, found, ids)
    return labels


def part_labels(
    ws: Workspace,
    run_id: str,
    space_id: str,
    cluster_ids: list[int],
    max_queries: int,
    seed: int,
    whole_description: str | None = None,
) -> dict[int, tuple[str, str, list[str], list[int]]]:
    """Names of the parts a cluster was split into, or of a merged cluster, titled and
    described as `offline_labels` does. Phrases by c-TF-IDF over their texts against a
    sample of the run's other clusters (up to CONTRAST_TEXTS texts, so an edit stays quick
    on a large run), in c-TF-IDF order: no model is loaded. Against a split's parts alone,
    titles named their topic less often (benchmarks/split_titles.py).

    With a taxonomy description (the whole's, or the cluster merged into), each is named
    after the topic it matched (not matched again: that needs the model), with its own
    phrases."""
    others = [
        c
        for (c,) in ws.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = ? "
            "AND cluster_id NOT IN (SELECT unnest(?::INTEGER[]))",
            [run_id, cluster_ids],
        ).fetchall()
    ]
    per_other = max(2, min(CONTRAST_PER_CLUSTER, CONTRAST_TEXTS // max(len(others), 1)))
    samples = [cluster_samples(ws, run_id, seed, cluster_ids)]
    if others:
        samples.append(cluster_samples(ws, run_id, seed, others, per_other))
    phrases = key_phrases(
        [text for sample in samples for text in sample.texts],
        np.concatenate([sample.classes for sample in samples]),
        {},
        None,
        originals=True,
        languages=[language for sample in samples for language in sample.languages],
    )
    chosen = representatives(ws, run_id, space_id, max_queries, seed, cluster_ids)
    facts = cluster_facts(ws, run_id, [ids[0] for ids in chosen.values()])
    topic, head, tail = _taxonomy_parts(whole_description or "")
    labels = {}
    for cluster_id, ids in chosen.items():
        found = phrases.get(cluster_id, [])
        typical = facts["typical"][ids[0]]
        title = topic_title(topic, found) if topic else phrase_title(found)
        room = DESCRIPTION_CHARS - len(head) - len(tail)
        description = head + describe(facts[cluster_id], found, typical, room) + tail
        labels[cluster_id] = (title or prompt_title(typical), description, found, ids)
    return labels


_MATCHED = re.compile(r"^.+? › (?P<topic>.+?) \(similarity \d\.\d\d\): ")
_CLOSEST = re.compile(r" Closest taxonomy topic: .*$", re.DOTALL)


def _taxonomy_parts(description: str) -> tuple[str | None, str, str]:
    """The topic, the head naming it and the note on the closest topic (when none was
    close enough) that `offline_labels` wrote into a taxonomy description."""
    counts = COUNTS.search(description)
    matched = _MATCHED.match(description)
    closest = _CLOSEST.search(description)
    if matched and counts:
        return matched["topic"], description[: counts.start()], ""
    return None, "", closest.group(0) if closest else ""


def describe(facts: dict, phrases: list[str], typical: str, limit: int = DESCRIPTION_CHARS) -> str:
    """One paragraph about the whole cluster, within `limit` characters."""
    text = counts_sentence(facts)
    if phrases:
        text += " Key phrases: " + ", ".join(phrases[:6]) + "."
    room = limit - len(text) - len(' Typical: "…"')
    if room > 40:
        text += f' Typical: "{shorten(typical, room)}"'
    return text


def prompt_title(typical: str, limit: int = TITLE_CHARS) -> str:
    """A title from the typical prompt when a cluster has no key phrase: its words, without
    code fences, link targets, URLs or the markup it starts with ("```markdown # [Ecma")."""
    text = _BARE_URL.sub(" ", _LINK.sub(r"\1", _CODE_FENCE.sub(" ", typical)))
    text = _LEADING_MARKUP.sub("", " ".join(text.split()))
    return shorten(text or typical, limit)


def shorten(text: str, limit: int) -> str:
    """Whitespace collapsed, cut at `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
