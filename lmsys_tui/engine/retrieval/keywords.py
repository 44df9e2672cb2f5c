"""Words of any language and the stop words to leave out of searches and names.

Words are runs of letters, lowercased; Chinese and Japanese text (no spaces) becomes
character bigrams.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK_CHARS}]+|[^\W\d_{_CJK_CHARS}]{{2,}}")
_CJK = re.compile(rf"[{_CJK_CHARS}]")
_EXTRA_STOP_WORDS = {
    # Possessives of English stop words typed without the apostrophe ("destroy someones
    # car"): "someone's" is a stop word's form, and so is this.
    "someones",
    "somebodys",
    "anyones",
    "anybodys",
    "everyones",
    "everybodys",
    "nobodys",
    "noones",
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


_STOP_WORD_LISTS = {"malay": "malaysian", "farsi": "persian"}  # our names -> the package's


@functools.cache
def stop_words(language: str | None = None) -> frozenset[str]:
    """English stop words (scikit-learn's list, packaged) and common function words of
    other languages; with a language ("Spanish", as the languages step and LMSYS-Chat-1M
    name them), that language's full list too.

    A language's list applies to its own texts only: together the lists hold English
    words ("design", "door", "cat" are Czech, Dutch and Romanian stop words)."""
    if language is not None and language.lower() != "english":
        return stop_words() | _language_stop_words(language.lower())
    text = resources.files(__package__).joinpath("data/english_stop_words.txt").read_text("utf-8")
    english = {line.strip() for line in text.splitlines() if line and not line.startswith("#")}
    return frozenset(english) | _EXTRA_STOP_WORDS


def _language_stop_words(language: str) -> frozenset[str]:
    """A language's stop words from the stop-words package (33 languages), or none."""
    from stop_words import AVAILABLE_LANGUAGES, get_stop_words

    name = _STOP_WORD_LISTS.get(language, language)
    if name not in AVAILABLE_LANGUAGES:
        return frozenset()
    return frozenset(word.lower() for word in get_stop_words(name))


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
