"""Key phrases per cluster (or category): readable 1-3 word names without an LLM.

Candidates are 1-3 word phrases that never cross punctuation, hold no stop word ("of"
may sit inside), no word every prompt uses at either end, no URL part, number or
fragment under 3 letters. They are ranked per
class by class-based TF-IDF (each phrase counted once per text, so one long paste cannot
dominate); the best are then re-ranked by similarity to the class centroid and picked
with maximal marginal relevance (MMR) for diversity, as BERTopic's KeyBERT-inspired
representation does. Chinese is segmented into words by jieba, and its function words
(numerals, pronouns, particles: jieba's part-of-speech tags) end a phrase; Japanese kana
runs give no phrase rather than a broken one.

A cluster's phrases are counted by their words' stems (Snowball, in the text's
language), so the forms of one word count together ("tests", "testing"; "историю",
"истории") and a cluster is named by its most common form rather than by two forms of one
word. Categories count phrases as written (measured: docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np

from ..retrieval.keywords import stop_words

CANDIDATES = 24  # c-TF-IDF candidates per class that go on to re-ranking
MAX_TEXT_CHARS = 1500  # phrases come from the start of each text
TITLE_CHARS = 60
ACRONYM_LETTERS = 5  # a longer word in capitals is shouting unless spelled so most often

_URL = re.compile(
    r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|"
    r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|ai|gov|edu|html?|php|aspx?|py|js|ts|json|txt"
    r"|csv|pdf|png|jpe?g|md)\b",
    re.IGNORECASE,
)
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff"
# A run of letters (any script), a Han run, or a kana run; anything else between two
# words (punctuation, digits, symbols, line breaks) ends a phrase.
_WORD = re.compile(rf"[{_HAN}]+|[{_KANA}{_HAN}]+|[^\W\d_{_HAN}{_KANA}]+(?:['’][^\W\d_]+)?")
_GAP_OK = re.compile(r"[ \t\-]*")
# The only stop words a phrase may hold inside ("theory of mind"); others make fragments
# such as "room and kills" or "enters the room".
_INNER_WORDS = frozenset({"of"})
_URL_WORDS = frozenset({"http", "https", "www", "com", "org", "net", "html", "php"})
# Words every kind of prompt uses: they may sit inside a phrase but never start or end one.
PROMPT_FILLER = frozenset(
    [
        "does",
        "did",
        "doing",
        "done",
        "makes",
        "made",
        "gets",
        "got",
        "say",
        "says",
        "said",
        "want",
        "wants",
        "goes",
        "going",
        "told",
        "think",
        "thinks",
        "asked",
        "ask",
        "asks",
        "try",
        "trying",
        "sure",
    ]
    + [
        "please",
        "want",
        "need",
        "make",
        "like",
        "using",
        "use",
        "used",
        "write",
        "give",
        "help",
        "tell",
        "know",
        "provide",
        "ensure",
        "following",
        "based",
        "different",
        "able",
        "just",
        "really",
        "thanks",
        "thank",
        "hello",
        "hey",
        "okay",
        "sure",
        "example",
        "examples",
        "answer",
        "question",
        "questions",
        "explain",
        "create",
        "generate",
        "good",
        "best",
        "new",
        "way",
        "ways",
        "thing",
        "things",
        "something",
        "lot",
        "also",
        "let",
        "lets",  # "let's" typed without its apostrophe
        "would",
        "could",
        "should",
        "can",
        "may",
        "might",
    ]
)


# The same kind of words in the languages most common in chat logs after English: the
# requests themselves ("write", "come up with", "explain"), never a topic. Stop-word lists
# leave them in, and a cluster of one language would be named by them ("Напиши, ответ"),
# as by the forms of stop words the lists miss ("какой" is one, "какое" was a title word).
_PROMPT_FILLER_BY_LANGUAGE = {
    "Russian": "напиши напишите написать придумай придумайте придумать расскажи объясни "
    "объяснить используй используя сделай сделать помоги найди найти определите определи "
    "ответ ответь дай создай создать привет пожалуйста "
    "какое какие каким каких какую какими виде",
    "Spanish": "escribe escriba crea genera explica dame hola ayúdame puedes quiero necesito",
    "Portuguese": "escreva crie gere explique diga olá ajude faça quero preciso todas todos",
    "Italian": "scrivi spiega dammi dimmi ciao aiutami puoi voglio",
    "French": "écris écrivez crée génère explique donne bonjour fais peux veux",
    "German": "schreibe schreib erstelle erkläre gib hallo hilf verwende bitte kannst",
    "Vietnamese": "viết giúp",  # a word per syllable
    "Chinese": "请 帮我 帮忙 帮助 写 给 告诉 解释 生成 使用 可以 需要 进行 表示 一下 如何 怎么 "
    "什么 成为 要求 没有 具有 知道 觉得 希望 想要 应该 能够 是否 "
    "问题 回答 不同 情况 内容",  # "question", "answer", "different", "case", "content"
}
OTHER_PROMPT_FILLER = frozenset(
    word for words in _PROMPT_FILLER_BY_LANGUAGE.values() for word in words.split()
)
# jieba's part-of-speech tags of Chinese function words, by first letter: numerals and
# measure words (一个, 多少), pronouns (其中), directions (之间), distinguishing words
# (所有, 主要), conjunctions, prepositions, particles, adverbs, interjections. They end a
# phrase as punctuation does.
_HAN_FUNCTION_TAGS = frozenset("mrfbcpudyeoqx")


# Snowball stemmers for the languages the detector names. A word in ASCII letters in a
# text of another script, or of a language Snowball has no stemmer for (code, English
# terms in a Russian or Chinese prompt), is stemmed as English.
_NON_LATIN_STEMMERS = frozenset(
    {"arabic", "armenian", "greek", "hindi", "nepali", "persian", "russian", "tamil", "yiddish"}
)


@functools.cache
def _stemmer(language: str | None):
    """The Snowball stemmer of a language, English for none; None where Snowball has none.
    (snowballstemmer hands out PyStemmer's C build of it when that is installed.)"""
    import snowballstemmer

    name = (language or "english").lower()
    return snowballstemmer.stemmer(name) if name in snowballstemmer.algorithms() else None


@functools.cache
def _stem(word: str, language: str | None) -> str:
    """A lowercased word's stem (cached: a sample repeats its words many times)."""
    stemmer = _stemmer(language)
    if word.isascii() and (stemmer is None or (language or "").lower() in _NON_LATIN_STEMMERS):
        stemmer = _stemmer(None)
    return stemmer.stemWord(word) if stemmer is not None else word


@functools.cache
def _tag_han():
    import rjieba

    return rjieba.tag


def _han_runs(text: str) -> list[list[str]]:
    """A Han run cut into words (jieba), split where a function word stands."""
    runs: list[list[str]] = [[]]
    for word, tag in _tag_han()(text):
        if not word.strip() or tag[:1] in _HAN_FUNCTION_TAGS:
            runs.append([])
        else:
            runs[-1].append(word)
    return runs


def _runs(text: str) -> list[list[str]]:
    """Runs of adjacent words (lowercased) between punctuation, URLs and digits."""
    runs: list[list[str]] = []
    current: list[str] = []
    last_end = 0
    for part in _URL.split(text[:MAX_TEXT_CHARS].lower()):
        last_end = 0
        for match in _WORD.finditer(part):
            if not _GAP_OK.fullmatch(part, last_end, match.start()):
                runs.append(current)
                current = []
            last_end = match.end()
            word = match.group()
            if any("\u3040" <= ch <= "\u30ff" for ch in word):  # Japanese: no segmenter
                runs.append(current)
                current = []
            elif "\u3400" <= word[0] <= "\ufaff":
                runs.append(current)
                runs += _han_runs(word)
                current = []
            else:
                current.append(word)
        runs.append(current)
        current = []
    return [run for run in runs if run]


def _is_word(word: str, common: frozenset[str]) -> bool:
    """A word that may start or end a phrase."""
    if word in common or word in _URL_WORDS or word in PROMPT_FILLER or word in OTHER_PROMPT_FILLER:
        return False
    if "'" in word or "’" in word:
        return False
    if "\u3400" <= word[0] <= "\ufaff":
        return len(word) >= 2
    return len(word) >= 3


def candidate_phrases(text: str, common: frozenset[str] | None = None) -> set[str]:
    """The distinct 1-3 word phrases of a text that could name it, each form apart."""
    return set(stemmed_phrases(text, common, stem=False))


def stemmed_phrases(
    text: str, common: frozenset[str] | None = None, language: str | None = None, stem: bool = True
) -> dict[str, str]:
    """The text's candidate phrases (lowercased, as written) by their words' stems, or
    by themselves without `stem`."""
    common = stop_words() if common is None else common
    phrases: dict[str, str] = {}
    for run in _runs(text):
        han = "\u3400" <= run[0][0] <= "\ufaff"
        stems = run if han or not stem else [_stem(word, language) for word in run]
        joiner = "" if han else " "
        for start, word in enumerate(run):
            if not _is_word(word, common):
                continue
            for length in (1, 2, 3):
                end = start + length
                if end > len(run):
                    break
                inner = run[start + 1 : end - 1]
                if _is_word(run[end - 1], common) and all(
                    w in _INNER_WORDS or (len(w) >= 2 and w not in common) for w in inner
                ):
                    phrases.setdefault(joiner.join(stems[start:end]), joiner.join(run[start:end]))
    return phrases


def class_phrases(
    docs: list[str],
    classes: np.ndarray,
    top_n: int = CANDIDATES,
    languages: list[str | None] | None = None,
    stem: bool = True,
) -> dict[int, list[tuple[str, float, int]]]:
    """Top `top_n` (phrase, c-TF-IDF score, texts containing it) per class. With `stem`,
    a phrase is counted by its words' stems and spelled as the class's texts most often
    write it. With `languages` (one per text), each text also leaves out its language's
    stop words and is stemmed in its language."""
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer

    languages = languages or [None] * len(docs)
    phrase_sets = [
        stemmed_phrases(doc, stop_words(language), language, stem)
        for doc, language in zip(docs, languages, strict=True)
    ]
    vectorizer = CountVectorizer(analyzer=lambda phrases: phrases, binary=True, dtype=np.float32)
    try:
        counts = vectorizer.fit_transform(phrase_sets)
    except ValueError:  # no phrase in any text
        return {int(c): [] for c in np.unique(classes)}
    terms = vectorizer.get_feature_names_out()
    class_ids, inverse = np.unique(classes, return_inverse=True)
    membership = csr_matrix(
        (np.ones(len(docs), np.float32), (inverse, np.arange(len(docs)))),
        shape=(len(class_ids), len(docs)),
    )
    per_class = (membership @ counts).tocsr()  # classes x phrases: texts holding the phrase
    # Ties keep the phrases' alphabetical order, not the order Python's per-process string
    # hashing gave the sets they came from (which changed titles from run to run).
    per_class.sort_indices()
    phrase_totals = np.asarray(per_class.sum(axis=0)).ravel()
    words_per_class = np.asarray(per_class.sum(axis=1)).ravel()
    idf = np.log(1 + words_per_class.mean() / np.maximum(phrase_totals, 1))
    sizes = np.bincount(inverse)
    result: dict[int, list[tuple[str, float, int]]] = {}
    for row, class_id in enumerate(class_ids):
        start, end = per_class.indptr[row], per_class.indptr[row + 1]
        columns, support = per_class.indices[start:end], per_class.data[start:end]
        scores = support / max(words_per_class[row], 1) * idf[columns]
        # A phrase must appear in two texts of a class that has a few.
        if sizes[row] >= 4:
            scores = np.where(support >= 2, scores, 0)
        top = [i for i in np.argsort(-scores, kind="stable")[:top_n] if scores[i] > 0]
        phrases = [str(terms[columns[i]]) for i in top]
        if stem:
            members = [phrase_sets[i] for i in np.flatnonzero(inverse == row)]
            forms = _common_forms(phrases, members)
        else:  # each phrase is counted as written
            forms = {phrase: phrase for phrase in phrases}
        found: dict[str, tuple[str, float, int]] = {}  # two stems spelled alike: the first
        for i, phrase in zip(top, phrases, strict=True):
            form = forms[phrase]
            found.setdefault(form, (form, float(scores[i]), int(support[i])))
        result[int(class_id)] = list(found.values())
    return result


def _common_forms(stems: list[str], texts: list[dict[str, str]]) -> dict[str, str]:
    """Each stemmed phrase's most common written form in these texts (ties: the first in
    alphabetical order, whatever order the texts came in)."""
    from collections import Counter

    forms = {stem: Counter(text[stem] for text in texts if stem in text) for stem in stems}
    return {stem: min(seen, key=lambda form: (-seen[form], form)) for stem, seen in forms.items()}


def key_phrases(
    docs: list[str],
    classes: np.ndarray,
    centroids: dict[int, np.ndarray],
    embed: Callable[[list[str]], np.ndarray] | None,
    per_class: int = 8,
    diversity: float = 0.3,
    originals: bool = False,
    languages: list[str | None] | None = None,
    stem: bool = True,
) -> dict[int, list[str]]:
    """Up to `per_class` key phrases per class, best first (`languages`, `stem`: see
    class_phrases).

    With `embed` (texts to unit vectors in the centroids' space), c-TF-IDF candidates are
    re-ranked by similarity to the class centroid and picked by MMR; without it, the
    c-TF-IDF order stands. With `originals`, each phrase is spelled as its class's texts
    most often spell it ("SQL", "Power BI"), not lowercased.
    """
    candidates = class_phrases(docs, classes, languages=languages, stem=stem)
    if embed is None:
        chosen = {c: [p for p, _, _ in found[:per_class]] for c, found in candidates.items()}
        return _spelled(chosen, docs, classes) if originals else chosen
    vocabulary = sorted({p for found in candidates.values() for p, _, _ in found})
    vectors = embed(vocabulary) if vocabulary else np.zeros((0, 1), np.float32)
    row_of = {phrase: row for row, phrase in enumerate(vocabulary)}
    chosen: dict[int, list[str]] = {}
    for class_id, found in candidates.items():
        centroid = centroids.get(class_id)
        if not found or centroid is None:
            chosen[class_id] = [p for p, _, _ in found[:per_class]]
            continue
        phrases = [p for p, _, _ in found]
        matrix = vectors[[row_of[p] for p in phrases]]
        chosen[class_id] = [phrases[i] for i in mmr(matrix, centroid, per_class, diversity)]
    return _spelled(chosen, docs, classes) if originals else chosen


def _preferred_form(forms) -> str:
    """The most common spelling, unless a common one (at least 30 % as frequent) has
    capitals inside its words: code writes "json" and "sql", prose "JSON", "SQL" and
    "GitHub". Capitals that only start a word ("Responds") come from sentence starts, and
    a long word in capitals ("REQUIREMENTS") from a heading: it wins only as the most
    common spelling ("MATLAB")."""
    top_form, top = forms.most_common(1)[0]
    inner = [
        (sum(_inner_capitals(word) for word in form.split()), n, form)
        for form, n in forms.items()
        if n >= 0.3 * top
    ]
    best = max(inner)
    return best[2] if best[0] > 0 else top_form


def _inner_capitals(word: str) -> int:
    """Capitals after a word's first letter, where they name something: an acronym of up
    to five letters ("JSON") or capitals among lower case ("GitHub"), not shouting."""
    shouting = len(word) > ACRONYM_LETTERS and not any(ch.islower() for ch in word)
    return 0 if shouting else sum(ch.isupper() for ch in word[1:])


def _unshouted(text: str) -> str:
    """A text written in capitals throughout ("SUP GPT") lowercased: it says nothing of
    how its words are spelled, and its words are no acronyms."""
    return text if any(ch.islower() for ch in text) else text.lower()


def _spelled(chosen: dict[int, list[str]], docs: list[str], classes: np.ndarray):
    """Each phrase in its class's most common original spelling."""
    from collections import Counter

    spelled: dict[int, list[str]] = {}
    for class_id, phrases in chosen.items():
        texts = [
            _unshouted(_URL.sub(" ", d[:MAX_TEXT_CHARS]))
            for d, c in zip(docs, classes, strict=True)
            if c == class_id
        ]
        spelled[class_id] = []
        for phrase in phrases:
            pattern = re.compile(
                r"(?<!\w)" + r"[\s-]+".join(map(re.escape, phrase.split())) + r"(?!\w)",
                re.IGNORECASE,
            )
            forms = Counter(" ".join(m.group().split()) for t in texts for m in pattern.finditer(t))
            form = _preferred_form(forms) if forms else phrase
            spelled[class_id].append(form)
    return spelled


def mmr(vectors: np.ndarray, target: np.ndarray, k: int, diversity: float) -> list[int]:
    """Indices of k rows: similar to `target`, unlike each other (maximal marginal relevance)."""
    relevance = vectors @ np.asarray(target, dtype=vectors.dtype)
    picked = [int(np.argmax(relevance))]
    while len(picked) < min(k, len(vectors)):
        redundancy = (vectors @ vectors[picked].T).max(axis=1)
        score = (1 - diversity) * relevance - diversity * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return picked


def phrase_title(phrases: list[str], limit: int = TITLE_CHARS) -> str:
    """Up to three key phrases, joined, within `limit` characters; longer phrases that
    contain an earlier one are skipped."""
    words: list[str] = []
    for phrase in phrases:
        lowered = phrase.lower()
        if any(lowered in taken.lower() or taken.lower() in lowered for taken in words):
            continue
        if len(", ".join([*words, phrase])) > limit:
            break
        words.append(phrase)
        if len(words) == 3:
            break
    if not words:
        return ""
    title = ", ".join(words)
    return title[0].upper() + title[1:] if title[0].islower() else title


def topic_title(topic: str, phrases: list[str], limit: int = TITLE_CHARS) -> str:
    """A taxonomy topic's name with up to two of the cluster's key phrases that do not
    repeat its words ("Travel planning: Itinerary, Kyoto"): clusters that match the same
    topic keep telling apart, and the specifics name the topic better than the name alone
    (measured: docs/benchmarks.md, "Names and hierarchies")."""

    def stems(text: str) -> set[str]:  # "stories" and "story" meet at "stor"
        return {word[:4] for word in re.findall(r"\w{3,}", text.lower())}

    topic = topic[:limit]
    taken = stems(topic)
    fresh = [phrase for phrase in phrases if not taken & stems(phrase)]
    room = limit - len(topic) - len(": ")
    specifics = phrase_title(fresh, room).split(", ")[:2] if room > 0 else []
    return f"{topic}: {', '.join(specifics)}" if specifics and specifics[0] else topic
