"""Unicode look-alikes and invisible characters, folded away so that defences match what a model reads.

A policy can write a closing tag with a fullwidth '＜', a Cyrillic 'е' or a zero-width space inside it, or hide
instructions in invisible Unicode tag characters. Matching the ASCII delimiter alone misses all of them, so
``skeleton`` gives an ASCII-folded copy of the text (NFKC, a small confusables table, invisibles dropped) with a
map back to the original positions: patterns are matched on the skeleton and edits made on the original.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator

# Invisible characters that carry no meaning in prose but can hide or split text.
_ZERO_WIDTH = {0x200B, 0x2060, 0xFEFF, 0x180E, 0x2061, 0x2062, 0x2063, 0x2064}
_BIDI_CONTROLS = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
_TAG_BLOCK = range(0xE0000, 0xE0080)  # "ASCII smuggling": invisible copies of ASCII
_BLACK_FLAG = 0x1F3F4  # emoji subdivision flags legitimately use tag characters after U+1F3F4

# Characters NFKC leaves alone that read as ASCII to a person or a model.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ү": "Y",
    # Greek
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # angle brackets and slashes
    "〈": "<", "〉": ">", "⟨": "<", "⟩": ">", "˂": "<", "˃": ">", "ᐸ": "<", "ᐳ": ">", "❮": "<", "❯": ">",
    "∕": "/", "⁄": "/", "⧸": "/", "╱": "/",
}  # fmt: skip
# The defanged form that neutralise writes; folded only when detecting, so neutralising stays idempotent.
_GUILLEMETS = {"‹": "<", "›": ">", "«": "<<", "»": ">>"}


def _visible(text: str) -> Iterator[tuple[int, str]]:
    """(index, char) of every character that is not invisible. Tag characters directly after a black flag
    are an emoji subdivision flag (e.g. Scotland's) and are kept."""
    in_flag = False
    for index, char in enumerate(text):
        code = ord(char)
        if code in _TAG_BLOCK:
            if in_flag:
                yield index, char
            continue
        in_flag = code == _BLACK_FLAG
        if code in _ZERO_WIDTH or code in _BIDI_CONTROLS:
            continue
        yield index, char


def invisible_count(text: str) -> int:
    return len(text) - sum(1 for _ in _visible(text))


def strip_invisible(text: str) -> str:
    """The text without zero-width, bidi-control and tag characters (emoji flags are kept)."""
    return "".join(char for _, char in _visible(text))


def hidden_tag_text(text: str) -> str:
    """ASCII hidden in Unicode tag characters (U+E0020..U+E007E), decoded; empty when there is none."""
    kept = {index for index, _ in _visible(text)}
    return "".join(chr(ord(c) - 0xE0000) for i, c in enumerate(text) if i not in kept and 0xE0020 <= ord(c) <= 0xE007E)


def skeleton(text: str, *, fold_guillemets: bool = False) -> tuple[str, list[int]]:
    """An ASCII-folded copy of ``text`` and, for each of its characters, the index in ``text`` it came from.

    Invisible characters are dropped, each remaining character is NFKC-normalised (fullwidth '＜' -> '<',
    'ﬁ' -> 'fi') and then mapped through the confusables table (Cyrillic 'е' -> 'e')."""
    if text.isascii():
        return text, list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for index, char in _visible(text):
        folded = _GUILLEMETS.get(char) if fold_guillemets else None
        if folded is None:
            folded = char if char.isascii() else _fold(char)
        for piece in folded:
            out.append(piece)
            origin.append(index)
    return "".join(out), origin


@functools.lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    return "".join(_CONFUSABLES.get(c, c) for c in unicodedata.normalize("NFKC", char))


def original_span(origin: list[int], start: int, end: int, text_length: int) -> tuple[int, int]:
    """The span of the original text that produced skeleton[start:end]."""
    if start >= end:
        position = origin[start] if start < len(origin) else text_length
        return position, position
    return origin[start], origin[end - 1] + 1
