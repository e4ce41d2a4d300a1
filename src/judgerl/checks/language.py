"""A small, dependency-free language guess: the writing system first, then stopword counts for Latin scripts.

Good enough to catch a policy drifting into another language or script; not a general language identifier.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_STOPWORDS = {
    "en": "the and of to is in that it for you with on are this be as not have was but or they at by",
    "de": "der die das und ist nicht ich zu den mit sie ein eine es auf für dem sich von auch wir",
    "fr": "le la les et est un une des du que pour dans pas qui sur au avec il elle nous vous ce",
    "es": "el la los las y es un una que de en por para con no se lo como del al su pero",
    "it": "il lo la gli le e è un una che di per non con si del della sono come anche ma",
    "pt": "o a os as e é um uma que de em para com não se do da dos por mais como",
    "nl": "de het een en is van dat niet ik je met op te zijn voor er maar ook wat",
}
_STOPSETS = {code: set(words.split()) for code, words in _STOPWORDS.items()}
_SCRIPTS = (
    ("CJK UNIFIED", "zh"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("DEVANAGARI", "hi"),
    ("GREEK", "el"),
    ("HEBREW", "he"),
    ("THAI", "th"),
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _script_of(char: str) -> str | None:
    name = unicodedata.name(char, "")
    for marker, code in _SCRIPTS:
        if marker in name:
            return code
    return "latin" if "LATIN" in name else None


def guess_language(text: str, min_words: int = 3) -> str | None:
    """An ISO 639-1 code, or None when the text is too short or gives no signal."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    scripts = Counter(s for s in map(_script_of, letters) if s)
    if not scripts:
        return None
    script, _ = scripts.most_common(1)[0]
    if script == "ja" or (script == "zh" and scripts.get("ja")):
        return "ja"
    if script != "latin":
        return script
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < min_words:
        return None
    counts = {code: sum(w in stops for w in words) for code, stops in _STOPSETS.items()}
    best = max(counts, key=lambda code: counts[code])
    return best if counts[best] > 0 else None
