"""Sentiment of one customer message in [-1, 1]: VADER for English, a small cue lexicon for
French, nothing for other languages.

VADER's analyzer reads its lexicon from files inside the vaderSentiment wheel once, when this
module builds it; it never touches the network (only its ``__main__`` demo does)."""

import math
import re
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pocketdesk.conversations.health import config
from pocketdesk.conversations.health.language import text_normalise

# Built once per process: loading the lexicons takes ~6 ms, scoring a message ~30 µs.
_VADER = SentimentIntensityAnalyzer()

# French cues with a valence on VADER's scale (-4 … +4), written without accents (text is
# compared after text_normalise). Longer phrases are matched first and consume their words, so
# "pas de probleme" is positive and its "probleme" is not counted again, and "merci pour rien"
# is not a thank-you. This is deliberately small and plain: it recognises how customers voice
# anger or satisfaction in support conversations, not French in general.
FRENCH_VALENCES: dict[str, float] = {
    # anger, disappointment
    "merci pour rien": -3.0,
    "ras le bol": -3.0,
    "ras-le-bol": -3.0,
    "j'en ai marre": -2.8,
    "en ai marre": -2.8,
    "marre": -2.2,
    "n'importe quoi": -2.5,
    "vous vous moquez": -3.0,
    "se moque": -2.8,
    "foutez": -3.0,
    "fout de": -3.0,
    "c'est nul": -2.5,
    "nul": -2.0,
    "nulle": -2.0,
    "inadmissible": -3.0,
    "inacceptable": -3.0,
    "scandaleux": -3.0,
    "scandale": -3.0,
    "honteux": -3.0,
    "honte": -2.5,
    "lamentable": -3.0,
    "pitoyable": -3.0,
    "deplorable": -3.0,
    "catastrophe": -2.5,
    "catastrophique": -3.0,
    "horrible": -2.5,
    "affreux": -2.5,
    "pourri": -2.0,
    "pourrie": -2.0,
    "decu": -2.0,
    "decue": -2.0,
    "deception": -2.0,
    "mecontent": -2.5,
    "mecontente": -2.5,
    "pas content": -2.2,
    "pas contente": -2.2,
    "pas normal": -2.0,
    "pas serieux": -2.5,
    "enerve": -2.5,
    "enervee": -2.5,
    "furieux": -3.0,
    "furieuse": -3.0,
    "en colere": -2.5,
    "agace": -2.0,
    "agacee": -2.0,
    "insupportable": -3.0,
    "incompetent": -3.0,
    "incompetents": -3.0,
    "incompetence": -3.0,
    "arnaque": -3.0,
    "voleurs": -3.0,
    "ridicule": -2.5,
    "absurde": -2.0,
    "inutile": -2.0,
    "le pire": -2.8,
    "pire": -2.2,
    "degoute": -3.0,
    "degoutee": -3.0,
    "penible": -2.0,
    "galere": -2.0,
    "triste": -2.0,
    "inquiet": -1.5,
    "inquiete": -1.5,
    "perte de temps": -2.5,
    "toujours rien": -2.0,
    "toujours pas": -1.5,
    "aucune reponse": -2.0,
    "sans reponse": -2.0,
    "pas de reponse": -2.0,
    "ne marche pas": -1.5,
    "ne marche plus": -1.5,
    "marche pas": -1.5,
    "ne fonctionne pas": -1.5,
    "ne fonctionne plus": -1.5,
    "fonctionne pas": -1.5,
    "probleme": -1.0,
    "panne": -1.0,
    "bug": -1.0,
    "abime": -1.5,
    "retard": -1.0,
    "jamais recu": -2.0,
    "pas recu": -1.5,
    "aucune nouvelle": -1.5,
    "attends depuis": -1.5,
    "pas acceptable": -2.5,
    "escroc": -3.0,
    "escrocs": -3.0,
    "minable": -3.0,
    "chiant": -2.5,
    "saoule": -2.0,
    "gonfle": -2.0,
    "bordel": -2.5,
    "putain": -2.5,
    "merde": -2.5,
    "mauvais": -1.5,
    "mauvaise": -1.5,
    "interminable": -2.0,
    "inutilisable": -2.0,
    "defectueux": -1.5,
    "decevant": -2.0,
    "desagreable": -2.0,
    "irrespectueux": -2.5,
    "impoli": -2.0,
    "casse": -1.5,
    "urgent": -1.0,
    "urgence": -1.0,
    "grr": -2.0,
    "😡": -3.0,
    "😠": -3.0,
    "🤬": -3.5,
    "😤": -2.5,
    "😢": -2.0,
    "😞": -2.0,
    "👎": -2.0,
    # satisfaction
    "pas de souci": 1.0,
    "pas de soucis": 1.0,
    "pas de probleme": 1.0,
    "aucun souci": 1.0,
    "aucun probleme": 1.0,
    "merci beaucoup": 2.5,
    "mille mercis": 2.5,
    "merci": 1.5,
    "merci bien": 2.0,
    "je vous remercie": 2.0,
    "satisfait": 2.0,
    "satisfaite": 2.0,
    "parfait": 2.5,
    "parfaite": 2.5,
    "parfaitement": 2.0,
    "super": 2.0,
    "genial": 2.5,
    "top": 1.5,
    "excellent": 3.0,
    "excellente": 3.0,
    "formidable": 3.0,
    "nickel": 2.0,
    "impeccable": 2.5,
    "ca marche": 1.5,
    "ca fonctionne": 1.5,
    "c'est bon": 1.5,
    "c'est regle": 2.0,
    "resolu": 2.0,
    "bien recu": 1.5,
    "tres bien": 2.0,
    "content": 2.0,
    "contente": 2.0,
    "ravi": 2.5,
    "ravie": 2.5,
    "gentil": 2.0,
    "gentille": 2.0,
    "sympa": 1.5,
    "cool": 1.5,
    "efficace": 2.0,
    "rapide": 1.0,
    "agreable": 2.0,
    "bonne journee": 1.0,
    "bonne soiree": 1.0,
    "😊": 2.0,
    "🙂": 1.5,
    "😀": 2.0,
    "😁": 2.0,
    "👍": 1.5,
    "🙏": 1.5,
    "🙌": 2.0,
    "❤️": 2.0,
}

_FRENCH_PATTERNS = [
    (re.compile(r"(?<![\w'])" + re.escape(cue) + r"(?![\w'])"), valence)
    for cue, valence in sorted(FRENCH_VALENCES.items(), key=lambda item: -len(item[0]))
]
# As VADER does with "but": what follows "mais" weighs more than what precedes it ("c'est nul
# ce temps, mais merci ça marche" is a thank-you).
_FRENCH_CONTRAST = re.compile(r"(?<![\w'])(?:mais|par contre|pourtant|sauf que)(?![\w'])")


def _french_sum(text: str, sarcastic: bool) -> float:
    total = 0.0
    for pattern, valence in _FRENCH_PATTERNS:
        text, found = pattern.subn(" ", text)
        total += (-abs(valence) if sarcastic else valence) * found
    return total


def french_compound(text: str, *, sarcastic: bool = False) -> float:
    normalised = text_normalise(text)
    parts = _FRENCH_CONTRAST.split(normalised)
    if len(parts) > 1:
        total = 0.5 * sum(_french_sum(part, sarcastic) for part in parts[:-1])
        total += 1.5 * _french_sum(parts[-1], sarcastic)
    else:
        total = _french_sum(normalised, sarcastic)
    if total:
        # Exclamation marks intensify, as in VADER (up to three count).
        total += math.copysign(0.292 * min(text.count("!"), 3), total)
    return total / math.sqrt(total * total + config.FRENCH_ALPHA)


@lru_cache(maxsize=8192)
def sentiment_compound(text: str, language: str | None, *, sarcastic: bool = False) -> float | None:
    """The message's compound sentiment, or None when the language has no analyser.

    ``sarcastic``: the message also voices frustration ("great, just great … thanks for
    nothing", "super. génial. merci pour rien"), so its positive words are read as negative.
    """
    if language == "en":
        compound = float(_VADER.polarity_scores(text)["compound"])
        return -abs(compound) if sarcastic else compound
    if language == "fr":
        return french_compound(text, sarcastic=sarcastic)
    return None
