"""Text normalisation, content words and a small English/French guess for the health signals."""

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "«": '"', "»": '"'})
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# Function words: enough to tell English from French in a line or two, and to drop from
# similarity comparisons. Accents are stripped before matching ("ça" → "ca").
_ENGLISH = """
the a an is are was were be been my me i i'm im you your it it's its and or but to of in on at
for with not no this that what where when why how can can't could would will do does did don't
have has had please thanks thank hi hello yes so just there here they we our us from about get
got any
"""
_FRENCH = """
le la les l'a un une des du de d'un est et ou mais je j'ai j'arrive vous votre vos mon ma mes ne
n'est pas plus que qui quoi quand comment pourquoi ce c'est ca cela il elle on nous sur dans avec
pour par merci bonjour oui non tres bien deja toujours encore y a au aux suis sont etes fait faire
peux pouvez m'a m'avez
"""
_FILLERS = """
sorry desole desolee hey ok okay well really actually still again already svp stp alors donc bon
"""
ENGLISH_WORDS = frozenset(_ENGLISH.split())
FRENCH_WORDS = frozenset(_FRENCH.split())
STOP_WORDS = ENGLISH_WORDS | FRENCH_WORDS | frozenset(_FILLERS.split())


@lru_cache(maxsize=8192)
def text_normalise(text: str) -> str:
    """Lower case, accents stripped, one kind of apostrophe, single spaces: what cue patterns
    are written against (so "Ça coupe", "ca coupe" and "ça coupe" all match)."""
    text = text.translate(_APOSTROPHES).lower()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped).strip()


def words(text: str) -> list[str]:
    return _WORDS.findall(text_normalise(text))


@lru_cache(maxsize=8192)
def content_words(text: str) -> tuple[str, ...]:
    """Words that carry meaning: stop words and one-letter words dropped, numbers kept."""
    return tuple(
        word for word in words(text) if word not in STOP_WORDS and (len(word) > 1 or word.isdigit())
    )


def language_guess(texts: Iterable[str]) -> str | None:
    """ "en", "fr", or None when the text shows neither (too short, or another language)."""
    english = french = 0
    for text in texts:
        for word in words(text):
            english += word in ENGLISH_WORDS
            french += word in FRENCH_WORDS
    if english == french == 0:
        return None
    return "fr" if french > english else "en"
