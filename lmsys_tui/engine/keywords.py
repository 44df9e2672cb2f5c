"""Distinctive keywords per cluster by class-based TF-IDF, in any language.

Words are runs of letters, lowercased; Chinese and Japanese text (no spaces) becomes
character bigrams. Each word counts once per query, so one long paste cannot dominate.
"""

from __future__ import annotations

import functools
import re

import numpy as np

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK_CHARS}]+|[^\W\d_{_CJK_CHARS}]{{2,}}")
_CJK = re.compile(rf"[{_CJK_CHARS}]")
_EXTRA_STOP_WORDS = {
    # Russian, German, French, Spanish function words common in prompts.
    "и",
    "в",
    "во",
    "не",
    "что",
    "он",
    "на",
    "я",
    "с",
    "со",
    "как",
    "а",
    "то",
    "все",
    "это",
    "для",
    "по",
    "из",
    "у",
    "мне",
    "или",
    "же",
    "бы",
    "от",
    "так",
    "вы",
    "но",
    "да",
    "ты",
    "der",
    "die",
    "das",
    "und",
    "ist",
    "ein",
    "eine",
    "zu",
    "den",
    "mit",
    "von",
    "ich",
    "sie",
    "le",
    "la",
    "les",
    "et",
    "est",
    "un",
    "une",
    "des",
    "du",
    "que",
    "pour",
    "pas",
    "el",
    "los",
    "las",
    "en",
    "es",
    "por",
    "con",
    "para",
    "una",
    "lo",
    "se",
    "del",
    "al",
}


@functools.cache
def stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _EXTRA_STOP_WORDS


def tokenize(text: str, stop_words: frozenset[str] = frozenset()) -> list[str]:
    """Words of any script, lowercased; CJK runs as character bigrams."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if _CJK.match(word):
            tokens += [word[i : i + 2] for i in range(len(word) - 1)]
        elif word not in stop_words:
            tokens.append(word)
    return tokens


def class_keywords(
    docs: list[str], classes: np.ndarray, top_n: int = 8
) -> dict[int, list[tuple[str, float]]]:
    """Top `top_n` (keyword, score) per class, ranked by c-TF-IDF against the other classes."""
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer

    common = stop_words()
    vectorizer = CountVectorizer(
        analyzer=lambda text: tokenize(text, common), binary=True, dtype=np.float32
    )
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # no word at all in any document
        return {int(c): [] for c in np.unique(classes)}
    terms = vectorizer.get_feature_names_out()
    class_ids, inverse = np.unique(classes, return_inverse=True)
    membership = csr_matrix(
        (np.ones(len(docs), np.float32), (inverse, np.arange(len(docs)))),
        shape=(len(class_ids), len(docs)),
    )
    per_class = (membership @ counts).toarray()  # classes x terms: documents containing term
    words_per_class = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.maximum(words_per_class, 1)
    idf = np.log(1 + words_per_class.mean() / np.maximum(per_class.sum(axis=0), 1))
    scores = tf * idf
    # A keyword must appear in two queries of the class when the class has a few.
    sizes = np.bincount(inverse)
    scores[(per_class < 2) & (sizes[:, None] >= 4)] = 0
    result: dict[int, list[tuple[str, float]]] = {}
    for row, class_id in enumerate(class_ids):
        top = np.argsort(-scores[row], kind="stable")[:top_n]
        result[int(class_id)] = [
            (str(terms[i]), round(float(scores[row, i]), 5)) for i in top if scores[row, i] > 0
        ]
    return result
