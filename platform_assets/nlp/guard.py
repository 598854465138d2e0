"""The meaning guard: veto a pair whose texts differ in a word that changes what they say.

Embeddings (and character n-grams even more) score "The man is playing the guitar." and
"The girl is playing the guitar." as near-duplicates: every word but one is shared. People
who merge goals on our word act on every group, so a wrong merge costs more than a missed
one. After the score passes the threshold, the pair must also pass these rules, each a
function of the two texts only (a pair's verdict never depends on other goals):

- numbers: both texts state numbers (digits or number words) and the sets differ
  ("Reduce turnover by 10%" / "by 20%"; "Bombs kill 5" / "Bombs kill 14");
- negation: one text is negated and the other is not ("will not" / "will");
- dates: both name weekdays or months and they differ ("open lower Wednesday" / "Friday");
- opposites: a word in one text has its opposite in the other (increase/decrease,
  higher/lower, man/woman, boy/girl, ...);
- subject: the subject noun (the content word before the first auxiliary verb) differs and is
  not a variant or a close synonym ("The man is ..." / "The girl is ...");
- names: capitalised names (in texts that are not title case) present in one text only, on
  both sides ("... in Egypt" / "... in Syria").

Which rules to keep was chosen on the calibration split of the labelled pairs
(`bench/eval_nlp_labels.py`); a general "any substituted content word" rule was tried and
dropped: it rejected more true paraphrases (synonym verbs) than false ones.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache


def _words(text: str) -> list[str]:
    return text.split()


STOP_WORDS = frozenset(
    _words(
        """a an the and or but if then of to in on at by for with from into onto over under about as is are was
        were be been being am do does did has have had having will would shall should can could may might must it
        its this that these those there here their they them he she his her him we our us you your i my me who whom
        which what when where why how all any each some such than too very s t just also so out off again further
        only own same other most few"""
    )
)
NEGATIONS = frozenset(_words("not no never none nor without cannot nobody nothing neither nowhere"))
AUXILIARIES = frozenset(
    _words("is are was were will would has have had can could must should shall may might does do did")
)
NUMBER_WORDS = {
    **{w: str(i) for i, w in enumerate(_words("zero one two three four five six seven eight nine ten eleven twelve"))},
    **{
        w: str(10 + i)
        for i, w in enumerate(_words("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"))
    },
    **{
        w: str(10 * i)
        for i, w in enumerate(_words("zero ten twenty thirty forty fifty sixty seventy eighty ninety"))
        if i
    },
    **{"hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000", "dozen": "12"},
    **{"first": "1", "third": "3", "fourth": "4", "fifth": "5", "twice": "2", "half": "0.5"},
}
CALENDAR = frozenset(
    _words(
        """monday tuesday wednesday thursday friday saturday sunday january february march april june july august
        september october november december jan feb mar apr jun jul aug sep sept oct nov dec"""
    )
)
OPPOSITES = frozenset(
    frozenset(p)
    for p in [
        ("higher", "lower"),
        ("high", "low"),
        ("up", "down"),
        ("rise", "fall"),
        ("rises", "falls"),
        ("increase", "decrease"),
        ("increase", "reduce"),
        ("increased", "decreased"),
        ("more", "less"),
        ("open", "close"),
        ("opens", "closes"),
        ("before", "after"),
        ("win", "lose"),
        ("wins", "loses"),
        ("buy", "sell"),
        ("gain", "loss"),
        ("gains", "losses"),
        ("start", "end"),
        ("begin", "end"),
        ("first", "last"),
        ("young", "old"),
        ("man", "woman"),
        ("men", "women"),
        ("boy", "girl"),
        ("boys", "girls"),
        ("inside", "outside"),
        ("add", "remove"),
        ("accept", "reject"),
        ("approve", "reject"),
        ("strengthen", "weaken"),
        ("include", "exclude"),
        ("internal", "external"),
        ("maximum", "minimum"),
    ]
)
OPPOSITE_WORDS = frozenset(w for pair in OPPOSITES for w in pair)
LEADING_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
TOKEN = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
# Word pairs at least this close (cosine of their embeddings) count as synonyms for the subject rule.
SYNONYM_SIMILARITY = 0.7
# The subject rule only reads subjects this short (in words before the auxiliary verb).
MAX_SUBJECT_WORDS = 3
# Names sharing this many leading letters are one name ("Afghanistan"/"Afghan", "Russia's"/"Russian").
NAME_PREFIX = 5
# Two spellings at least this similar (difflib ratio) are the same word (typo, inflection).
SAME_WORD_RATIO = 0.8

WordSimilarity = Callable[[str, str], float]


@dataclass(frozen=True)
class TextFacts:
    """What the rules look at in one text (computed once per distinct text)."""

    tokens: frozenset[str]
    numbers: frozenset[str]
    negated: bool
    dates: frozenset[str]
    subject: str | None
    names: frozenset[str] | None  # None: the text's capitals carry no signal (title case, all caps)


def tokens_of(text: str) -> list[str]:
    return TOKEN.findall(text.lower().replace("n't", " not").replace("’", "'"))


def _numbers(tokens: list[str]) -> frozenset[str]:
    found = set()
    for w in tokens:
        number = LEADING_NUMBER.match(w) if w[0].isdigit() else None  # "2,500", "11.2", "15bn": without unit
        if number:
            found.add(number.group().replace(",", ""))
        elif w in NUMBER_WORDS:
            found.add(NUMBER_WORDS[w])
    return frozenset(found)


def _subject(tokens: list[str]) -> str | None:
    """The head of a short subject ("The man is", "Two small dogs are", "The recipient will"):
    the last content word before an auxiliary verb among the first words; longer openings
    ("The woman holding a black purse is") are too ambiguous without a parser."""
    for i, w in enumerate(tokens[: MAX_SUBJECT_WORDS + 1]):
        if w in AUXILIARIES and i > 0:
            content = [x for x in tokens[:i] if x not in STOP_WORDS and not any(c.isdigit() for c in x)]
            return content[-1] if content else None
    return None


def _names(text: str) -> frozenset[str] | None:
    words = text.split()
    if not words or sum(w[:1].isupper() for w in words) > len(words) / 2:
        return None
    cleaned = (re.sub(r"[^a-z0-9]", "", w.lower()) for i, w in enumerate(words) if i > 0 and w[:1].isupper())
    return frozenset(w for w in cleaned if w)


@lru_cache(maxsize=65536)
def facts_of(text: str) -> TextFacts:
    tokens = tokens_of(text)
    return TextFacts(
        tokens=frozenset(tokens),
        numbers=_numbers(tokens),
        negated=sum(w in NEGATIONS for w in tokens) % 2 == 1,
        dates=frozenset(w for w in tokens if w in CALENDAR),
        subject=_subject(tokens),
        names=_names(text),
    )


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=262144)
def same_word(a: str, b: str) -> bool:
    """Equal up to inflection or a typo ("woman"/"women", "engagement"/"engagment")."""
    if a == b or _stem(a) == _stem(b):
        return True
    if 2 * min(len(a), len(b)) < SAME_WORD_RATIO * (len(a) + len(b)):  # the ratio's upper bound
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() >= SAME_WORD_RATIO


def _mentioned(name: str, tokens: frozenset[str]) -> bool:
    prefix = name[:NAME_PREFIX]
    return name in tokens or any(t[:NAME_PREFIX] == prefix or same_word(t, name) for t in tokens if t[:1] == name[:1])


def _conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both texts state something of this kind, and not the same thing."""
    return bool(a) and bool(b) and a != b


def veto(a: str, b: str, word_similarity: WordSimilarity | None = None) -> str | None:
    """Why texts `a` and `b` must not be merged, or None if no rule objects."""
    fa, fb = facts_of(a), facts_of(b)
    if _conflict(fa.numbers, fb.numbers):
        return f"numbers differ: {sorted(fa.numbers)} / {sorted(fb.numbers)}"
    if fa.negated != fb.negated:
        return "one text is negated"
    if _conflict(fa.dates, fb.dates):
        return f"dates differ: {sorted(fa.dates)} / {sorted(fb.dates)}"
    only_a, only_b = (fa.tokens - fb.tokens) & OPPOSITE_WORDS, (fb.tokens - fa.tokens) & OPPOSITE_WORDS
    for x in only_a:
        for y in only_b:
            if frozenset((x, y)) in OPPOSITES:
                return f"opposites: {x} / {y}"
    sa, sb = fa.subject, fb.subject
    synonyms = sa and sb and word_similarity is not None and word_similarity(sa, sb) >= SYNONYM_SIMILARITY
    if sa and sb and not same_word(sa, sb) and not synonyms:
        return f"subjects differ: {sa} / {sb}"
    if fa.names is not None and fb.names is not None:
        names_a = sorted(n for n in fa.names if not _mentioned(n, fb.tokens))
        names_b = sorted(n for n in fb.names if not _mentioned(n, fa.tokens))
        if names_a and names_b:
            return f"names differ: {names_a[0]} / {names_b[0]}"
    return None
