"""IFEval's verifiable instructions as pure functions (strict variant), written from the task's definitions.

``check(instruction_id, kwargs, response)`` returns True/False, or None when the instruction type is not
supported here (``language:response_language`` needs a language identifier). ``check_row`` checks every
instruction of one IFEval row: prompt-level accuracy is "all instructions followed".

Differences from the reference implementation (google-research/instruction_following_eval), which needs nltk
and langdetect: words are ``\\w+`` runs (as its ``count_words``); sentences are split by a regex on ``.!?``
followed by space or end (its splitter also handles abbreviations such as "Mr."); change_case checks do not
additionally require English; capital words are ``\\w+`` tokens that are upper case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Checker = Callable[[Mapping[str, Any], str], bool]

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_ABBREVIATIONS = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|Inc|Ltd|Co)\.$", re.I)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def count_sentences(text: str) -> int:
    """Sentences: text pieces ending in . ! ? (or a line break), not counting common abbreviations."""
    pieces = [p for p in _SENTENCE_END.split(text.strip()) if p and p.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATIONS.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return sum(1 for p in merged if _WORD.search(p))


def _compare(count: int, relation: str, threshold: int) -> bool:
    if relation == "less than":
        return count < threshold
    if relation == "at least":
        return count >= threshold
    raise ValueError(f"relation must be 'less than' or 'at least', got {relation!r}")


def _no_comma(kw: Mapping[str, Any], response: str) -> bool:
    return "," not in response


def _lowercase(kw: Mapping[str, Any], response: str) -> bool:
    return response.islower()


def _uppercase(kw: Mapping[str, Any], response: str) -> bool:
    return response.isupper()


def _capital_word_frequency(kw: Mapping[str, Any], response: str) -> bool:
    capitals = [w for w in _WORD.findall(response) if w.isupper()]
    return _compare(len(capitals), kw["capital_relation"], int(kw["capital_frequency"]))


def _number_words(kw: Mapping[str, Any], response: str) -> bool:
    return _compare(count_words(response), kw["relation"], int(kw["num_words"]))


def _number_sentences(kw: Mapping[str, Any], response: str) -> bool:
    return _compare(count_sentences(response), kw["relation"], int(kw["num_sentences"]))


def _number_paragraphs(kw: Mapping[str, Any], response: str) -> bool:
    """Paragraphs separated by the markdown divider ***; an empty paragraph inside the text fails."""
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == int(kw["num_paragraphs"])


def _nth_paragraph_first_word(kw: Mapping[str, Any], response: str) -> bool:
    """Exactly ``num_paragraphs`` paragraphs (split by blank lines) and the nth starts with ``first_word``."""
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for p in paragraphs if p.strip())
    nth = int(kw["nth_paragraph"])
    if nth > count or nth < 1:
        return False
    paragraph = paragraphs[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'\"")
    first = ""
    for letter in word:
        if letter in ".,?!'\"":
            break
        first += letter.lower()
    return count == int(kw["num_paragraphs"]) and first == str(kw["first_word"]).lower()


def _title(kw: Mapping[str, Any], response: str) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


def _bullet_lists(kw: Mapping[str, Any], response: str) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.M)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.M)
    return len(stars) + len(dashes) == int(kw["num_bullets"])


def _highlighted_sections(kw: Mapping[str, Any], response: str) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h[2:-2].strip()]
    return len(single) + len(double) >= int(kw["num_highlights"])


def _multiple_sections(kw: Mapping[str, Any], response: str) -> bool:
    splitter = str(kw["section_spliter"]).strip()
    sections = re.split(r"\s?" + re.escape(splitter) + r"\s?\d+\s?", response)
    return len(sections) - 1 >= int(kw["num_sections"])


def _json_format(kw: Mapping[str, Any], response: str) -> bool:
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _constrained_response(kw: Mapping[str, Any], response: str) -> bool:
    options = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
    return any(option in response.strip() for option in options)


def _placeholders(kw: Mapping[str, Any], response: str) -> bool:
    return len(re.findall(r"\[.*?\]", response)) >= int(kw["num_placeholders"])


def _postscript(kw: Mapping[str, Any], response: str) -> bool:
    marker = str(kw["postscript_marker"]).strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return re.search(pattern, response.lower(), flags=re.M) is not None


def _keywords_exist(kw: Mapping[str, Any], response: str) -> bool:
    return all(re.search(re.escape(k), response, flags=re.I) for k in kw["keywords"])


def _keyword_frequency(kw: Mapping[str, Any], response: str) -> bool:
    count = len(re.findall(re.escape(str(kw["keyword"])), response, flags=re.I))
    return _compare(count, kw["relation"], int(kw["frequency"]))


def _forbidden_words(kw: Mapping[str, Any], response: str) -> bool:
    return not any(re.search(r"\b" + re.escape(w) + r"\b", response, flags=re.I) for w in kw["forbidden_words"])


def _letter_frequency(kw: Mapping[str, Any], response: str) -> bool:
    count = response.lower().count(str(kw["letter"]).lower())
    return _compare(count, kw["let_relation"], int(kw["let_frequency"]))


def _quotation(kw: Mapping[str, Any], response: str) -> bool:
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


def _end_checker(kw: Mapping[str, Any], response: str) -> bool:
    return response.strip().strip('"').lower().endswith(str(kw["end_phrase"]).strip().lower())


def _repeat_prompt(kw: Mapping[str, Any], response: str) -> bool:
    return response.strip().lower().startswith(str(kw["prompt_to_repeat"]).strip().lower())


def _two_responses(kw: Mapping[str, Any], response: str) -> bool:
    parts = response.split("******")
    kept = []
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False
        else:
            kept.append(part)
    return len(kept) == 2 and kept[0].strip() != kept[1].strip()


CHECKERS: dict[str, Checker] = {
    "punctuation:no_comma": _no_comma,
    "change_case:english_lowercase": _lowercase,
    "change_case:english_capital": _uppercase,
    "change_case:capital_word_frequency": _capital_word_frequency,
    "length_constraints:number_words": _number_words,
    "length_constraints:number_sentences": _number_sentences,
    "length_constraints:number_paragraphs": _number_paragraphs,
    "length_constraints:nth_paragraph_first_word": _nth_paragraph_first_word,
    "detectable_format:title": _title,
    "detectable_format:number_bullet_lists": _bullet_lists,
    "detectable_format:number_highlighted_sections": _highlighted_sections,
    "detectable_format:multiple_sections": _multiple_sections,
    "detectable_format:json_format": _json_format,
    "detectable_format:constrained_response": _constrained_response,
    "detectable_content:number_placeholders": _placeholders,
    "detectable_content:postscript": _postscript,
    "keywords:existence": _keywords_exist,
    "keywords:frequency": _keyword_frequency,
    "keywords:forbidden_words": _forbidden_words,
    "keywords:letter_frequency": _letter_frequency,
    "startend:quotation": _quotation,
    "startend:end_checker": _end_checker,
    "combination:repeat_prompt": _repeat_prompt,
    "combination:two_responses": _two_responses,
}

SUPPORTED = frozenset(CHECKERS)


def check(instruction_id: str, kwargs: Mapping[str, Any] | None, response: str) -> bool | None:
    """Whether ``response`` follows one IFEval instruction; None when the type is not supported or its
    arguments are missing (a checker cannot say, so it must not guess)."""
    checker = CHECKERS.get(instruction_id)
    if checker is None:
        return None
    arguments = {k: v for k, v in (kwargs or {}).items() if v is not None}
    try:
        return checker(arguments, response)
    except (KeyError, ValueError, TypeError):
        return None


def check_row(
    instruction_ids: Sequence[str], kwargs_list: Sequence[Mapping[str, Any] | None], response: str
) -> list[bool | None]:
    """One result per instruction of an IFEval row, in order."""
    return [check(i, k, response) for i, k in zip(instruction_ids, kwargs_list, strict=True)]


def all_followed(results: Sequence[bool | None]) -> bool | None:
    """Prompt-level verdict: True when every instruction is followed; None when any cannot be checked."""
    if any(r is None for r in results):
        return None
    return all(results)


def describe(instruction_id: str, kwargs: Mapping[str, Any] | None) -> str:
    """A short human description, used to turn an IFEval row into observable rubric criteria."""
    kw = {
        k: ", ".join(f"'{item}'" for item in v) if isinstance(v, list) else v
        for k, v in (kwargs or {}).items()
        if v is not None
    }
    text = _DESCRIPTIONS.get(instruction_id)
    if text is None:
        return instruction_id
    try:
        return text.format(**kw)
    except (KeyError, IndexError):
        return instruction_id


_DESCRIPTIONS = {
    "punctuation:no_comma": "The response contains no comma character.",
    "change_case:english_lowercase": "The whole response is in lowercase letters; no capital letter appears.",
    "change_case:english_capital": "The whole response is in capital letters; no lowercase letter appears.",
    "change_case:capital_word_frequency": "Words written in all capitals appear {capital_relation} "
    "{capital_frequency} times.",
    "length_constraints:number_words": "The response has {relation} {num_words} words.",
    "length_constraints:number_sentences": "The response has {relation} {num_sentences} sentences.",
    "length_constraints:number_paragraphs": "The response has exactly {num_paragraphs} paragraphs separated by ***.",
    "length_constraints:nth_paragraph_first_word": "The response has {num_paragraphs} paragraphs and paragraph "
    "{nth_paragraph} starts with the word '{first_word}'.",
    "detectable_format:title": "The response contains a title wrapped in double angular brackets, like <<title>>.",
    "detectable_format:number_bullet_lists": "The response has exactly {num_bullets} markdown bullet points.",
    "detectable_format:number_highlighted_sections": "At least {num_highlights} sections are highlighted with "
    "markdown, like *highlighted section*.",
    "detectable_format:multiple_sections": "The response has at least {num_sections} sections, each starting "
    "with '{section_spliter} X'.",
    "detectable_format:json_format": "The entire response is valid JSON.",
    "detectable_format:constrained_response": "The response contains one of: 'My answer is yes.', "
    "'My answer is no.', 'My answer is maybe.'",
    "detectable_content:number_placeholders": "The response contains at least {num_placeholders} placeholders in "
    "square brackets, like [address].",
    "detectable_content:postscript": "The response ends with a postscript starting with {postscript_marker}.",
    "keywords:existence": "The response includes the keywords {keywords}.",
    "keywords:frequency": "The word '{keyword}' appears {relation} {frequency} times.",
    "keywords:forbidden_words": "The response does not use any of the words {forbidden_words}.",
    "keywords:letter_frequency": "The letter '{letter}' appears {let_relation} {let_frequency} times.",
    "startend:quotation": "The entire response is wrapped in double quotation marks.",
    "startend:end_checker": "The response ends with the exact phrase '{end_phrase}'.",
    "combination:repeat_prompt": "The response first repeats the request word for word, then answers it.",
    "combination:two_responses": "The response gives two different answers separated by six asterisks ******.",
}


# Sentence splitting as in IFEval's own instructions_util (used by the validation set's labels).
_ALPHABETS = "([A-Za-z])"
_PREFIXES = "(Mr|St|Mrs|Ms|Dr)[.]"
_SUFFIXES = "(Inc|Ltd|Jr|Sr|Co)"
_STARTERS = (
    r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s|However\s|That\s|This\s|Wherever)"
)
_ACRONYMS = "([A-Z][.][A-Z][.](?:[A-Z][.])?)"
_WEBSITES = "[.](com|net|org|io|gov|edu|me)"
_DIGITS = "([0-9])"
_MULTIPLE_DOTS = r"\.{2,}"


def split_into_sentences(text: str) -> list[str]:
    text = " " + text + "  "
    text = text.replace("\n", " ")
    text = re.sub(_PREFIXES, "\\1<prd>", text)
    text = re.sub(_WEBSITES, "<prd>\\1", text)
    text = re.sub(_DIGITS + "[.]" + _DIGITS, "\\1<prd>\\2", text)
    text = re.sub(_MULTIPLE_DOTS, lambda match: "<prd>" * len(match.group(0)) + "<stop>", text)
    if "Ph.D" in text:
        text = text.replace("Ph.D.", "Ph<prd>D<prd>")
    text = re.sub(r"\s" + _ALPHABETS + "[.] ", " \\1<prd> ", text)
    text = re.sub(_ACRONYMS + " " + _STARTERS, "\\1<stop> \\2", text)
    text = re.sub(_ALPHABETS + "[.]" + _ALPHABETS + "[.]" + _ALPHABETS + "[.]", "\\1<prd>\\2<prd>\\3<prd>", text)
    text = re.sub(_ALPHABETS + "[.]" + _ALPHABETS + "[.]", "\\1<prd>\\2<prd>", text)
    text = re.sub(" " + _SUFFIXES + "[.] " + _STARTERS, " \\1<stop> \\2", text)
    text = re.sub(" " + _SUFFIXES + "[.]", " \\1<prd>", text)
    text = re.sub(" " + _ALPHABETS + "[.]", " \\1<prd>", text)
    if "”" in text:
        text = text.replace(".”", "”.")
    if '"' in text:
        text = text.replace('."', '".')
    if "!" in text:
        text = text.replace('!"', '"!')
    if "?" in text:
        text = text.replace('?"', '"?')
    text = text.replace(".", ".<stop>").replace("?", "?<stop>").replace("!", "!<stop>").replace("<prd>", ".")
    sentences = [s.strip() for s in text.split("<stop>")]
    if sentences and not sentences[-1]:
        sentences = sentences[:-1]
    return sentences


def supported(instruction_id: str) -> bool:
    """Whether ``check`` verifies this instruction type (others return None)."""
    return instruction_id in SUPPORTED
