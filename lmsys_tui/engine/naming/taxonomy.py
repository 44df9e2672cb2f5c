"""Taxonomy names: each cluster named by the closest topic of a taxonomy, when confident.

A taxonomy is broad areas holding topics (a short name and a one-line description): the
packaged default (data/taxonomy.toml) or a user's TOML or CSV file. Topics are embedded
as "name: description" in the run's space and compared with each cluster's centroid; a
cluster takes the topic's name (with its own key phrases, see phrases.topic_title) only
at similarity >= `min_similarity`, otherwise it keeps its key-phrase title. The
description shows the match and its similarity.
"""

from __future__ import annotations

import csv
import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import SummaryError

MIN_SIMILARITY = 0.45


@dataclass(frozen=True)
class Topic:
    area: str
    name: str
    description: str

    @property
    def text(self) -> str:
        return f"{self.name}: {self.description}"


@dataclass(frozen=True)
class Match:
    topic: Topic
    similarity: float


def load_taxonomy(path: str | None = None) -> list[Topic]:
    """The topics of the default taxonomy, or of a user's .toml or .csv file.

    Raises:
        SummaryError: the file is missing, unreadable or holds no topic.
    """
    if path is None:
        text = resources.files(__package__).joinpath("data/taxonomy.toml").read_text("utf-8")
        return _from_toml(text, "the default taxonomy")
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SummaryError(f"cannot read taxonomy {file.resolve()}: {error}") from None
    topics = _from_csv(text, file) if file.suffix.lower() == ".csv" else _from_toml(text, file)
    return topics


def taxonomy_key(path: str | None) -> str:
    """The taxonomy file and a hash of its content, for run parameters: an edited file
    means new names (or new categories).

    Raises:
        SummaryError: the file cannot be read.
    """
    if path is None:
        return "default"
    file = Path(path).expanduser().resolve()
    try:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    except OSError as error:
        raise SummaryError(f"cannot read taxonomy {file}: {error.strerror}") from None
    return f"{file}#{digest}"


def _from_toml(text: str, where) -> list[Topic]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SummaryError(f"taxonomy {where}: invalid TOML: {error}") from None
    topics = []
    for area, entries in data.items():
        if not isinstance(entries, dict):
            raise SummaryError(
                f'taxonomy {where}: {area!r} must be a table of "topic" = "description"'
            )
        topics += [Topic(area, str(name), str(text)) for name, text in entries.items()]
    if not topics:
        raise SummaryError(f"taxonomy {where} holds no topic")
    return topics


def _from_csv(text: str, where) -> list[Topic]:
    rows = list(csv.DictReader(text.splitlines()))
    needed = {"area", "name", "description"}
    if not rows or not needed <= set(rows[0]):
        found = ", ".join(rows[0]) if rows else "none"
        raise SummaryError(
            f"taxonomy {where}: needs the columns area, name, description (found: {found})"
        )
    return [Topic(r["area"], r["name"], r["description"] or "") for r in rows if r["name"]]


def match_topics(centroids: dict[int, np.ndarray], topics: list[Topic], embed) -> dict[int, Match]:
    """The closest topic of every cluster with its cosine similarity."""
    vectors = embed([topic.text for topic in topics])
    ids = sorted(centroids)
    scores = np.stack([centroids[c] for c in ids]) @ vectors.T
    best = scores.argmax(axis=1)
    return {
        c: Match(topics[int(b)], round(float(scores[row, b]), 3))
        for row, (c, b) in enumerate(zip(ids, best, strict=True))
    }
