"""Text to search terms, the same way for articles and questions, on both stores.

English and Russian: lower case, `ё` as `е`, words stemmed by Snowball (snowballstemmer
from PyPI), stop words dropped. Chinese has no spaces between words: each run of Han
characters becomes its overlapping character bigrams (and the lone character of a
one-character run), which needs no dictionary and finds words whatever their segmentation;
Latin words inside Chinese text are handled as English. Korean writes spaces between
words, but a word carries its particles and endings (인터넷이 = 인터넷 + 이): each run of
Hangul syllables becomes its character bigrams in the same way, so 인터넷이 and 인터넷
share 인터 and 터넷 with no dictionary or morphological analyser. Both stores index these terms
as they are (SQLite FTS5 `unicode61` over space-separated terms, PostgreSQL
`array_to_tsvector`), so a search ranks the same terms on either.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer  # type: ignore[import-untyped]

#: Languages the knowledge base can index, with the Snowball stemmer each uses.
STEMMERS = {"en": "english", "ru": "russian"}
LANGUAGES = ("en", "ru", "zh", "ko")

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        a about am an and any are as at be been being but by can could did do does
        doing for from get had has have he hello here hi how i if in into is it its
        just like may me might must my need of on or our please shall she should so
        some thank thanks that the their them there these they this those to want
        was we were what when where which who whom why will with would you your
        """
    ),
    "ru": _words(
        """
        а без более больше будет будто бы был была были было быть в вам вас ведь во
        вот все всегда всего всех всю вы где да даже два для до другой его ее ей ему
        если есть еще ж же за зачем здесь здравствуйте и из или им иногда их к как
        какая какой когда конечно кто куда ли лучше между меня мне много моего может
        можно мои мой мою моя мы на над надо наконец нас не него нее ней нельзя ни
        нибудь никогда ним них ничего но ну о об один он она они опять от перед по
        под пожалуйста после потом потому почти при привет про раз разве с сам свою
        себе себя сейчас со совсем спасибо так такой там тебя тем теперь то тогда
        того тоже только том тот тут ты у уж уже хотел хотела хоть хочу чего чем
        через что чтоб чтобы чуть эти этого этой этом этот эту я
        """
    ),
    # Function characters and greetings; Han text is cut into bigrams after they go.
    "zh": _words(
        """
        与 了 什么 他 们 你 你好 吗 吧 呢 和 啊 在 她
        如何 怎么 您 想 我 是 的 要 请 谢谢 问
        """
    ),
    # Greetings, fillers and pronouns as whole words (with their usual particles);
    # 안 ("not") is no stop word: it changes what a question means.
    "ko": _words(
        """
        감사합니다 고맙습니다 그냥 그리고 그런데 네 여보세요 예 안녕하세요 음 어 저 저는
        제 제가 좀 저기요 수고하세요
        """
    ),
}


class UnknownLanguage(ValueError):
    """A language the knowledge base has no analysis for."""

    def __init__(self, language: str) -> None:
        self.language = language
        super().__init__(
            f"unknown language {language!r}: the knowledge base knows {', '.join(LANGUAGES)}"
        )


def check_language(language: str) -> str:
    """`language` if the knowledge base can analyse it; UnknownLanguage otherwise."""
    if language not in LANGUAGES:
        raise UnknownLanguage(language)
    return language


@lru_cache(maxsize=4)
def _stemmer(language: str) -> snowballstemmer.basestemmer.BaseStemmer:
    return snowballstemmer.stemmer(STEMMERS[language])


@lru_cache(maxsize=200_000)
def _stem(language: str, word: str) -> str:
    return str(_stemmer(language).stemWord(word))


def terms(text: str, language: str, *, keep_stop_words: bool = False) -> list[str]:
    """The search terms of `text` in `language`, in order (duplicates kept)."""
    check_language(language)
    text = text.lower().replace("ё", "е")
    if language == "zh":
        return _chinese_terms(text, keep_stop_words)
    if language == "ko":
        return _korean_terms(text, keep_stop_words)
    stop = frozenset() if keep_stop_words else STOP_WORDS[language]
    found = []
    for word in _WORD.findall(text):
        if word in stop:
            continue
        if _HAN.fullmatch(word):
            found.extend(_bigrams(word))
            continue
        stem_language = language if _is_cyrillic(word) == (language == "ru") else _other(word)
        found.append(_stem(stem_language, word) if stem_language else word)
    return found


def _chinese_terms(text: str, keep_stop_words: bool) -> list[str]:
    stop = frozenset() if keep_stop_words else STOP_WORDS["zh"]
    if not keep_stop_words:
        # Longest first, so 怎么 goes before 么 could be left alone.
        for word in sorted((w for w in stop if len(w) > 1), key=len, reverse=True):
            text = text.replace(word, " ")
    found: list[str] = []
    for word in _WORD.findall(text):
        for run in _split_han(word):
            if _HAN.fullmatch(run):
                kept = "".join(c if c not in stop else " " for c in run)
                for piece in kept.split():
                    found.extend(_bigrams(piece))
            elif run not in STOP_WORDS["en"]:
                other = _other(run)
                found.append(_stem(other, run) if other else run)
    return found


def _korean_terms(text: str, keep_stop_words: bool) -> list[str]:
    stop = frozenset() if keep_stop_words else STOP_WORDS["ko"]
    found: list[str] = []
    for word in _WORD.findall(text):
        if word in stop:
            continue
        for run in _split(word, _HANGUL):
            if _HANGUL.fullmatch(run) or _HAN.fullmatch(run):
                found.extend(_bigrams(run))
            elif run not in STOP_WORDS["en"]:
                other = _other(run)
                found.append(_stem(other, run) if other else run)
    return found


def _split_han(word: str) -> list[str]:
    """`word` cut where Han characters meet other letters or digits."""
    return _split(word, _HAN)


def _split(word: str, script: re.Pattern[str]) -> list[str]:
    """`word` cut where runs of `script` meet other letters or digits."""
    parts: list[str] = []
    last = 0
    for match in script.finditer(word):
        if match.start() > last:
            parts.append(word[last : match.start()])
        parts.append(match.group())
        last = match.end()
    if last < len(word):
        parts.append(word[last:])
    return parts


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def _other(word: str) -> str | None:
    """The stemmer for a word by its script (a Latin word in Russian text, and so on)."""
    if _is_cyrillic(word):
        return "ru"
    if word.isascii() and word.isalpha():
        return "en"
    return None
