"""Explicit cues in the customer's own words, English and French, by family.

Patterns are regular expressions over ``text_normalise``d text (lower case, no accents, one
kind of apostrophe), so "Ça coupe" and "ca coupe" match alike. A cue preceded, in the same
clause, by a negation ("no need to call me", "pas besoin de m'appeler", "I'm not driving") does
not count. Families and their weights are in config.CUE_WEIGHTS.
"""

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from pocketdesk.conversations.health.language import text_normalise

# Language-independent: emoji and punctuation that say the same thing in any language.
_ANY = {
    "frustration": [r"😡", r"😠", r"🤬", r"😤", r"👎"],
    "nudge": [r"^\s*\?{2,}\s*$", r"^\s*\.{3,}\s*\?*\s*$"],
}

_ENGLISH = {
    "cannot_hear": [
        r"can'?t hear",
        r"cannot hear",
        r"can not hear",
        r"could(?:n'?t| not) hear",
        r"(?:hard|difficult) to hear",
        r"barely hear",
        r"breaking up",
        r"cutting out",
        r"(?:didn'?t|did not|couldn'?t) catch",
        r"(?:a lot of|lots of|too much) noise",
        r"too noisy",
        r"speak up",
        r"(?:speak|talk) louder",
        r"crackl(?:ing|es)",
        r"you'?re (?:muffled|robotic)",
        r"(?:could|can) you (?:please )?repeat",
        r"(?:it'?s|its) (?:too |really |very |so )?(?:loud|noisy) (?:here|in here|where i am)",
        r"(?:in|at) a (?:loud|noisy) (?:place|bar|station|street)",
        r"say (?:that|it) again",
    ],
    "bad_connection": [
        r"(?:bad|no|weak|poor|terrible|awful|low) (?:signal|reception|coverage|network|wifi|"
        r"wi-fi|4g|5g|data)",
        r"signal is (?:bad|weak|terrible|gone)",
        r"(?:bad|poor|terrible|unstable|spotty|patchy) (?:connection|line)",
        r"connection (?:keeps )?(?:dropping|drops|dropped|is dropping|lost|cut)",
        r"keeps? (?:dropping|disconnecting|cutting)",
        r"lost (?:the )?(?:chat|connection|signal)",
        r"(?:messages?|texts?) (?:keep )?(?:failing|not sending|won'?t send)",
        r"in a tunnel",
        r"(?:battery|phone) (?:is )?(?:dying|about to die|almost dead|at \d+ ?%)",
    ],
    "callback_request": [
        r"call me",
        r"ring me",
        r"phone me",
        r"give me a (?:call|ring)",
        r"(?:can|could|would|will) (?:someone|somebody|you|"
        r"anyone) (?:please )?(?:just )?(?:call|ring|phone)",
        r"call (?:me )?back",
        r"callback",
        r"(?:speak|talk) to (?:a (?:real )?(?:person|human)|someone on the phone|"
        r"somebody on the phone)",
        r"(?:on|over) the phone (?:instead|please)",
        r"rather (?:talk|speak)",
        r"prefer to (?:talk|speak)",
    ],
    "busy_now": [
        r"i'?m driving",
        r"i am driving",
        r"driving (?:right )?now",
        r"(?:in|behind) the (?:car|wheel)",
        r"(?:i'?m|i am) at work",
        r"at work (?:right )?now",
        r"(?:i'?m|i am) (?:in|at) (?:a |the )?(?:meeting|gym|doctor'?s?|hospital|class|school run)",
        r"in a meeting",
        r"can'?t (?:talk|speak|chat|do this|deal with this|type)(?: (?:right )?now)?",
        r"cannot (?:talk|speak|chat|do this|type)",
        r"not (?:right )?now",
        r"not a good time",
        r"bad time",
        r"busy (?:right )?now",
        r"(?:i'?m|i am) (?:busy|in the middle of)",
        r"later please",
        r"please later",
        r"(?:talk|call|text|chat|continue|do this|do it|deal with (?:this|it)|get back to me|"
        r"contact me|message me|sort this|finish this|try) later",
        r"after work",
    ],
    "wants_email": [
        r"e-?mail (?:it to )?me",
        r"(?:by|via|over|through|in an|per) e-?mail",
        r"to my e-?mail",
        r"send (?:it|this|that|them|these|me the \w+) (?:to me )?(?:by|via|in|over) (?:e-?mail|"
        r"writing)",
        r"somewhere i can (?:keep|save|read|find)",
        r"in writing",
        r"written down",
    ],
    "channel_trouble": [
        r"can'?t (?:open|read|click|download|see the (?:image|photo|picture|file|attachment|pdf|"
        r"form))",
        r"cannot (?:open|read|click|download)",
        r"(?:won'?t|doesn'?t|does not|didn'?t) (?:open|load|download)",
        r"link (?:doesn'?t|does not|won'?t|isn'?t|is not|didn'?t) (?:work|open|load)",
        r"(?:broken|weird|strange|dead) link",
        r"link is (?:broken|cut|dead)",
        r"cut (?:off|short|in half)",
        r"got cut",
        r"in (?:\d+|two|three|four|five|six|seven|several|many|lots of) (?:pieces|parts|bits|"
        r"messages|texts)",
        r"out of order",
        r"jumbled",
        r"garbled",
        r"hard to (?:read|follow)",
        r"too (?:long|much text) (?:to read|for (?:a text|sms|my phone))",
        r"nothing to (?:fill|click|tap)",
        r"can'?t fill",
        r"only (?:see|get|got) (?:a |some )?(?:link|code|text)",
        r"(?:didn'?t|did not|never) (?:get|receive|see) (?:the|your|any) (?:attachment|file|pdf|"
        r"photo|picture|document|form)",
    ],
    "frustration": [
        r"ridiculous",
        r"unacceptable",
        r"outrageous",
        r"disgrace(?:ful)?",
        r"pathetic",
        r"useless",
        r"incompetent",
        r"frustrat(?:ed|ing)",
        r"(?:is|what) a joke",
        r"(?:waste|wasting) (?:of )?(?:my |our )?time",
        r"thanks? (?:you )?(?:a lot )?for nothing",
        r"(?:great|wonderful|fantastic|brilliant|perfect), just (?:great|wonderful|fantastic|"
        r"brilliant|perfect)",
        r"just great",
        r"oh great",
        r"yeah,? right",
        r"fed up",
        r"sick (?:and tired )?of",
        r"had enough",
        r"(?:speak|talk) (?:to|with) (?:a|your|the) (?:manager|supervisor|boss)",
        r"escalat(?:e|ing)",
        r"(?:file|make|lodge) a complaint",
        r"unbelievable",
        r"are you (?:kidding|serious|joking)",
        r"stop (?:texting|messaging|emailing|calling|spamming) me",
        r"(?:terrible|awful|horrible|appalling|worst) (?:service|support|company|experience)",
        r"(?:no ?one|nobody) (?:is )?(?:answer|repl|respond|help|read)",
        r"money back",
        r"furious",
        r"scam",
        r"rip-?off",
        r"(?:shocking|appalling|disgusting|rubbish|shambles)",
        r"never (?:again|buying|ordering|using)",
        r"costing me",
        r"same (?:useless |generic |canned )?(?:answer|reply|response)",
        r"what (?:are|will|do) you (?:going to |gonna |plan to )?do about (?:it|this|that)",
        r"(?:wonderful|great|brilliant|fantastic|amazing|excellent|lovely|fine) (?:service|job|"
        r"work|support)[,.!]* (?:really|indeed|guys|as usual)",
        r"well done[.!]*$",
        r"i (?:already )?took (?:a|the) day off",
    ],
    "repeating": [
        r"(?:ask(?:ing|ed)?|say(?:ing)?|tell(?:ing)?|told you|explain(?:ing|ed)?) (?:this |it |"
        r"you )?again",
        r"(?<!thanks )(?<!thank you )(?<!hi )(?<!hello )\bagain\b(?=\s*[.!?:])",
        r"(?:didn'?t|did not|doesn'?t|does not|not|isn'?t|is not|wasn'?t) \w+(?: \w+)? again",
        r"(?:as|like) i (?:said|mentioned|explained|wrote|told you)",
        r"(?:i|i'?ve|i have) (?:just )?(?:said|told you)",
        r"i (?:already|have already|'ve already) (?:said|told|sent|gave|given|explained|asked|"
        r"wrote|written|did|done|tried)",
        r"already (?:told|sent|gave|given|explained|asked)",
        r"i (?:told|gave|sent) (?:you|it)",
        r"(?:second|third|fourth|fifth|2nd|3rd|4th|5th|nth) (?:time|email|message|text|call)",
        r"how many (?:more )?times",
        r"sorry to (?:ask|bother you|chase) again",
        r"(?:just )?checking (?:in )?again",
        r"still (?:not|no|nothing|haven'?t|hasn'?t|can'?t|doesn'?t|don'?t|isn'?t|broken|down|"
        r"the same|f\d|error)",
        r"read my (?:previous|last|earlier|first) (?:message|email|text)",
        r"repeat(?:ing)? myself",
        r"same (?:thing|problem|issue|question) (?:again|as before)",
    ],
    "confused": [
        r"(?:i )?(?:don'?t|do not|still don'?t|still do not) (?:understand|get it|follow)",
        r"what do you mean",
        r"not sure what you mean",
        r"(?:doesn'?t|does not|don'?t) make (?:any )?sense",
        r"makes no sense",
        r"confus(?:ed|ing)",
        r"i'?m lost",
        r"too (?:complicated|complex|technical)",
        r"(?:not good|no good|hopeless) with (?:this|these|tech|technology|computers|phones)",
        r"what(?:'s| is) (?:a|an|that) [\w -]{1,30}\?",
    ],
    "nudge": [
        r"^(?:hello|hi|hey|helloo+|yo)\s*\?+",
        r"anyone there",
        r"anybody there",
        r"is (?:anyone|anybody|someone) (?:there|reading|home|looking)",
        r"(?:still|are you) there",
        r"any (?:update|news|progress)",
        r"waiting (?:for|on) (?:a |an |your )?(?:answer|reply|response|update)",
        r"(?:no|never got an?|didn'?t get an?|still no) (?:answer|reply|response)",
        r"did you (?:get|see|receive|read) my",
    ],
}

_FRENCH = {
    "cannot_hear": [
        r"(?:je )?n'?entends (?:rien|pas|plus)",
        r"j'?entends (?:rien|pas|mal|tres mal)",
        r"(?:vous )?entends mal",
        r"on (?:s'?)?entend mal",
        r"je ne vous entends",
        r"parlez plus fort",
        r"ca gresille",
        r"gresille",
        r"(?:beaucoup|trop) de bruit",
        r"(?:je )?n'?ai (?:pas|rien) entendu",
        r"pas entendu",
        r"vous hachez",
        r"(?:vous )?pouvez repeter",
        r"j'?entends pu",
        r"c'?est (?:trop |tres )?bruyant",
        r"ca hache",
    ],
    "bad_connection": [
        r"(?:pas|plus|peu) de (?:reseau|connexion|wifi|wi-fi|4g|5g|signal|batterie)",
        r"(?:mauvais|faible) (?:reseau|signal)",
        r"(?:mauvaise|faible) (?:connexion|reception|ligne)",
        r"capte (?:mal|pas|plus|pu|rien)",
        r"pu de (?:reseau|signal|batterie|connexion)",
        r"connexion (?:coupee|instable|perdue|coupe)",
        r"ca (?:a )?coupe",
        r"(?:le chat|la conversation|l'appel|la ligne) (?:a )?coupe",
        r"coupe sans arret",
        r"mes messages (?:ne )?partent pas",
        r"(?:dans|sous) (?:le|un) tunnel",
        r"zone blanche",
        r"batterie (?:faible|a plat|presque vide)",
    ],
    "callback_request": [
        r"rappelez[- ]moi",
        r"appelez[- ]moi",
        r"(?:me|m') ?rappeler",
        r"(?:me|m') ?appeler",
        r"me telephoner",
        r"(?:un|par) appel",
        r"par telephone",
        r"de vive voix",
        r"parler a (?:quelqu'un|une personne|un humain|un conseiller)",
    ],
    "busy_now": [
        r"je conduis",
        r"(?:en train de|suis en train de) conduire",
        r"au volant",
        r"(?:je suis|suis) en voiture",
        r"(?:je suis|suis|chu|j'?suis) au (?:travail|boulot|bureau|taf)",
        r"au taf",
        r"(?:je suis|suis) en (?:reunion|rendez-vous|cours)",
        r"peux pas (?:parler|repondre|ecrire|faire (?:ca|cela))",
        r"pas maintenant",
        r"pas le moment",
        r"plus tard (?:svp|stp|s'il vous plait|merci)",
        r"(?:rappeler|ecrire|parler|continuer|recontacter|reprendre|voir ca|faire ca|"
        r"en parler) plus tard",
        r"(?:je suis|suis) (?:occupe|occupee|debordee?)",
        r"apres le travail",
    ],
    "wants_email": [
        r"par (?:e-?mail|mail|courriel)",
        r"(?:envoyez|envoyer|ecrivez|ecrire)[- ](?:moi|le|la|les)? ?(?:un |le |la |"
        r"les )?(?:e-?mail|mail|courriel)",
        r"par ecrit",
        r"sur ma (?:boite )?mail",
    ],
    "channel_trouble": [
        r"peux pas (?:l'?)?(?:ouvrir|lire|cliquer|telecharger)",
        r"(?:ne )?s'?ouvre pas",
        r"lien (?:ne )?(?:marche|fonctionne|s'ouvre) pas",
        r"lien (?:est )?coupe",
        r"coupe (?:dans|en) (?:le|deux|plusieurs)",
        r"lien bizarre",
        r"dans le desordre",
        r"en (?:plusieurs )?morceaux",
        r"illisible",
        r"trop long (?:a lire|pour)",
        r"rien a remplir",
        r"(?:que|juste) du texte",
        r"(?:je ne vois|j'?ai pas|je n'?ai pas) (?:recu )?(?:la|le) (?:piece jointe|fichier|"
        r"photo|image|formulaire|pdf)",
        r"\d+ (?:sms|messages) (?:dans|en)",
    ],
    "frustration": [
        r"inadmissible",
        r"inacceptable",
        r"scandaleux",
        r"honteux",
        r"lamentable",
        r"n'?importe quoi",
        r"vous vous moquez",
        r"se moque",
        r"foutez",
        r"ras[- ]le[- ]bol",
        r"(?:j'?en ai|en ai) marre",
        r"merci pour rien",
        r"(?:parler|voir) (?:a|au|avec) (?:un|votre|le) (?:responsable|superieur|manager|chef)",
        r"porter plainte",
        r"(?:faire|deposer) une reclamation",
        r"plus jamais",
        r"arretez de m'?(?:envoyer|ecrire|appeler|harceler)",
        r"(?:c'?est une|quelle) blague",
        r"ridicule",
        r"incompetente?s?",
        r"frustr(?:e|ee|ant|ante)",
        r"perte de temps",
        r"perds mon temps",
        r"personne ne (?:repond|lit|m'aide)",
        r"(?:reponse|message) (?:inutile|automatique)",
        r"degoutee?",
        r"furieu(?:x|se)",
        r"remboursez[- ]moi",
        r"(?:escroc|escrocs|arnaque|minable|honte)",
        r"(?:j'?ai|j'?avais) pose une journee",
        r"(?:bravo|felicitations),? vraiment",
        r"(?:vous )?comptez faire quoi",
        r"qu'?(?:allez|comptez)[- ]vous faire",
        r"quel service",
    ],
    "repeating": [
        r"encore une fois",
        r"(?:encore|toujours) pas",
        r"de nouveau",
        r"(?:je )?(?:le |vous le )?repete",
        r"comme (?:je )?(?:vous )?(?:l'?ai |l'?avais )?(?:deja )?(?:dit|ecrit|explique|indique)",
        r"je (?:vous )?l'?ai deja",
        r"je vous (?:l'?ai dit|dis que|ai dit)",
        r"(?:je|j'?vous|jvous|je vous) (?:le )?redis",
        r"deja (?:dit|envoye|donne|explique|demande|ecrit|fait|essaye)",
        r"(?:deuxieme|troisieme|quatrieme|cinquieme|2e|3e|4e|5e|enieme|nieme) (?:fois|mail|"
        r"message|relance|appel)",
        r"desolee? d'?insister",
        r"je (?:me permets de )?relance",
        r"toujours (?:rien|le meme|la meme|erreur|en panne|bloque)",
        r"ma question reste",
        r"lisez mon (?:message|mail)",
        r"combien de fois",
    ],
    "confused": [
        r"(?:je )?(?:ne )?comprends (?:pas|rien|toujours pas)",
        r"n'?y comprends rien",
        r"(?:j'?ai|je n'?ai) pas compris",
        r"c'?est[- ]a[- ]dire",
        r"c'?est quoi",
        r"ca veut dire quoi",
        r"je suis perdue?",
        r"trop complique",
        r"(?:pas doue|pas douee|nul(?:le)? en informatique)",
    ],
    "nudge": [
        r"^allo+\s*\?",
        r"^(?:bonjour|bonsoir|hello)\s*\?+",
        r"il y a quelqu'?un",
        r"vous etes (?:la|toujours la)",
        r"(?:des|aucune) nouvelles",
        r"quelqu'?un (?:peut|pourrait) (?:me )?repondre",
        r"j'?attends (?:toujours|encore|une reponse|votre reponse)",
        r"(?:toujours pas de|pas de|aucune|sans) reponse",
        r"avez-vous (?:bien )?(?:recu|vu|lu) mon",
    ],
}

_NEGATIONS = re.compile(
    r"\b(?:no need to|no need for|don'?t|do not|doesn'?t|not|never|no longer|without|"
    r"pas besoin de|inutile de|pas la peine de|ne pas|n'?est pas|plus besoin)\b[^.,;!?]*$"
)
_CLAUSE = re.compile(r"[.,;!?]")
# A device describing its own state ("my TV says no signal", "la box affiche pas de reseau") is
# the customer's problem, not their connection to us.
_DEVICE_STATE = re.compile(
    r"(?<![\w'])(?:says|shows|showing|displays|displaying|screen|tv|television|router|modem|"
    r"decoder|box|affiche|indique|ecran|tele|decodeur|routeur)(?![\w'])[^.,;!?]*$"
)
# For each family, what just before a cue cancels it.
_CANCELLED_BY = MappingProxyType({"bad_connection": _DEVICE_STATE})

# Families whose patterns are themselves negative ("don't understand", "can't hear",
# "toujours pas"): a negation check would cancel them.
_NEGATION_PROOF = frozenset({"cannot_hear", "channel_trouble", "confused", "repeating", "nudge"})


def _compile(families: Mapping[str, list[str]]) -> dict[str, re.Pattern[str]]:
    # Whole words only: "repete" must not match inside "repeter".
    return {
        family: re.compile(
            r"(?<![\w'])(?:" + "|".join(f"(?:{pattern})" for pattern in patterns) + r")(?![\w'])"
        )
        for family, patterns in families.items()
    }


PATTERNS = MappingProxyType(
    {
        "any": _compile(_ANY),
        "en": _compile(_ENGLISH),
        "fr": _compile(_FRENCH),
    }
)

# What a satisfied customer says. Checked on their latest message only.
_SATISFIED = re.compile(
    # "merci de me rappeler" and "thanks in advance" ask for something: they thank for nothing.
    r"(?<![\w'])(?:(?:thanks?|thank you|thx|ty)(?! in advance)|cheers|much appreciated|"
    r"appreciate it|perfect|great|"
    r"awesome|amazing|brilliant|lovely|excellent|super|works now|it works|working now|fixed|"
    r"sorted|solved|resolved|all good|found it|got it|that helps|went through|easy|"
    r"merci(?! d[e'])(?! par avance)(?! d'avance)|parfait|genial|top|nickel|impeccable|"
    r"ca marche|ca fonctionne|ca passe|c'est bon|"
    r"c'est regle|c'est gentil|resolu|trouve|bien recu|tres bien|cool|"
    r"👍|🙏|🙂|😊|🙌)(?![\w'])"
)
_CONTRAST = re.compile(
    r"(?<![\w'])(?:but|however|though|except|still|yet|mais|sauf que|par contre|pourtant|"
    r"toujours)(?![\w'])"
)


def _cancelled(family: str, text: str, start: int) -> bool:
    """A negation ("no need to call me") or, for some families, a context ("the TV says no
    signal") in the same clause, just before the cue."""
    clause = _CLAUSE.split(text[max(0, start - 40) : start])[-1]
    if family not in _NEGATION_PROOF and _NEGATIONS.search(clause):
        return True
    blocker = _CANCELLED_BY.get(family)
    return bool(blocker and blocker.search(clause))


@lru_cache(maxsize=8192)
def cues_find(text: str, language: str | None) -> frozenset[str]:
    """The cue families present in one customer message. ``language`` "en" or "fr" looks in
    that language's lexicon and the other's (customers mix them); None looks in both; any other
    language only in the language-independent cues (emoji, "??")."""
    normalised = text_normalise(text)
    if not normalised:
        return frozenset()
    lexicons = ["any"]
    if language in (None, "en", "fr"):
        lexicons += ["en", "fr"]
    found: set[str] = set()
    for lexicon in lexicons:
        for family, pattern in PATTERNS[lexicon].items():
            if family in found:
                continue
            for match in pattern.finditer(normalised):
                if not _cancelled(family, normalised, match.start()):
                    found.add(family)
                    break
    return frozenset(found)


@lru_cache(maxsize=8192)
def satisfied_says(text: str) -> bool:
    """The message thanks or confirms, with no "but" after it and no question left."""
    normalised = text_normalise(text)
    if "?" in normalised:
        return False
    last = None
    for match in _SATISFIED.finditer(normalised):
        last = match
    if last is None:
        return False
    return not _CONTRAST.search(normalised, last.end())
