"""IFEval constraint checkers: ``check(instruction_id, kwargs, response) -> bool | None``.

A port of the strict checks of google-research/instruction_following_eval (instructions.py), so labels made
here match the published benchmark's. ``None`` means "no checker" (``language:response_language`` needs a
language detector, which this package does not ship). Differences from upstream, on purpose:
- ``change_case:english_capital`` / ``english_lowercase`` check the letter case only, not that the response is
  English (upstream also runs langdetect);
- ``change_case:capital_word_frequency`` counts words with the regex tokenizer below instead of NLTK's
  word_tokenize (same result for words; NLTK also splits punctuation off, which is never all upper case);
- a keyword that is not a valid regular expression is matched literally (upstream would raise).
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

Checker = Callable[[Mapping[str, Any], str], bool]

_WORD = re.compile(r"\w+")


def _compare(actual: int, relation: str, target: int) -> bool:
    if relation == "less than":
        return actual < target
    if relation == "at least":
        return actual >= target
    raise ValueError(f"unknown relation {relation!r} (expected 'less than' or 'at least')")


def _search(pattern: str, text: str) -> re.Match[str] | None:
    try:
        return re.search(pattern, text, flags=re.IGNORECASE)
    except re.error:
        return re.search(re.escape(pattern), text, flags=re.IGNORECASE)


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


# Sentence splitter of upstream's instructions_util.split_into_sentences.
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


def _no_comma(kw: Mapping[str, Any], text: str) -> bool:
    return "," not in text


def _number_words(kw: Mapping[str, Any], text: str) -> bool:
    return _compare(count_words(text), kw["relation"], int(kw["num_words"]))


def _number_sentences(kw: Mapping[str, Any], text: str) -> bool:
    return _compare(len(split_into_sentences(text)), kw["relation"], int(kw["num_sentences"]))


def _number_paragraphs(kw: Mapping[str, Any], text: str) -> bool:
    paragraphs = re.split(r"\s?\*\*\*\s?", text)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == int(kw["num_paragraphs"])


def _nth_paragraph_first_word(kw: Mapping[str, Any], text: str) -> bool:
    paragraphs = re.split(r"\n\n", text)
    count = sum(1 for p in paragraphs if p.strip())
    nth = int(kw["nth_paragraph"])
    if nth > count or nth < 1:
        return False
    paragraph = paragraphs[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for letter in word:
        if letter in {".", ",", "?", "!", "'", '"'}:
            break
        first += letter.lower()
    return count == int(kw["num_paragraphs"]) and first == str(kw["first_word"]).lower()


def _number_placeholders(kw: Mapping[str, Any], text: str) -> bool:
    return len(re.findall(r"\[.*?\]", text)) >= int(kw["num_placeholders"])


def _postscript(kw: Mapping[str, Any], text: str) -> bool:
    marker = str(kw["postscript_marker"])
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))


def _number_bullet_lists(kw: Mapping[str, Any], text: str) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
    return len(stars) + len(dashes) == int(kw["num_bullets"])


def _constrained_response(kw: Mapping[str, Any], text: str) -> bool:
    text = text.strip()
    return any(option in text for option in ("My answer is yes.", "My answer is no.", "My answer is maybe."))


def _number_highlighted_sections(kw: Mapping[str, Any], text: str) -> bool:
    count = sum(1 for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip())
    count += sum(1 for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h.removeprefix("**").removesuffix("**").strip())
    return count >= int(kw["num_highlights"])


def _multiple_sections(kw: Mapping[str, Any], text: str) -> bool:
    sections = re.split(r"\s?" + re.escape(str(kw["section_spliter"])) + r"\s?\d+\s?", text)
    return len(sections) - 1 >= int(kw["num_sections"])


def _json_format(kw: Mapping[str, Any], text: str) -> bool:
    value = text.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        value = value.removeprefix(prefix)
    value = value.removesuffix("```").strip()
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _title(kw: Mapping[str, Any], text: str) -> bool:
    return any(title.lstrip("<").rstrip(">").strip() for title in re.findall(r"<<[^\n]+>>", text))


def _two_responses(kw: Mapping[str, Any], text: str) -> bool:
    parts = text.split("******")
    valid = []
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False
        else:
            valid.append(part)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def _repeat_prompt(kw: Mapping[str, Any], text: str) -> bool:
    return text.strip().lower().startswith(str(kw["prompt_to_repeat"]).strip().lower())


def _end_checker(kw: Mapping[str, Any], text: str) -> bool:
    return text.strip().strip('"').lower().endswith(str(kw["end_phrase"]).strip().lower())


def _quotation(kw: Mapping[str, Any], text: str) -> bool:
    text = text.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


def _capital_word_frequency(kw: Mapping[str, Any], text: str) -> bool:
    capitals = [word for word in _WORD.findall(text) if word.isupper()]
    return _compare(len(capitals), kw["capital_relation"], int(kw["capital_frequency"]))


def _english_capital(kw: Mapping[str, Any], text: str) -> bool:
    return text.isupper()


def _english_lowercase(kw: Mapping[str, Any], text: str) -> bool:
    return text.islower()


def _keywords_existence(kw: Mapping[str, Any], text: str) -> bool:
    return all(_search(str(keyword), text) for keyword in kw["keywords"])


def _keyword_frequency(kw: Mapping[str, Any], text: str) -> bool:
    keyword = str(kw["keyword"])
    try:
        found = len(re.findall(keyword, text, flags=re.IGNORECASE))
    except re.error:
        found = len(re.findall(re.escape(keyword), text, flags=re.IGNORECASE))
    return _compare(found, kw["relation"], int(kw["frequency"]))


def _forbidden_words(kw: Mapping[str, Any], text: str) -> bool:
    return not any(_search(r"\b" + str(word) + r"\b", text) for word in kw["forbidden_words"])


def _letter_frequency(kw: Mapping[str, Any], text: str) -> bool:
    letters = collections.Counter(text.lower())
    return _compare(letters[str(kw["letter"]).lower()], kw["let_relation"], int(kw["let_frequency"]))


CHECKERS: dict[str, Checker] = {
    "punctuation:no_comma": _no_comma,
    "length_constraints:number_words": _number_words,
    "length_constraints:number_sentences": _number_sentences,
    "length_constraints:number_paragraphs": _number_paragraphs,
    "length_constraints:nth_paragraph_first_word": _nth_paragraph_first_word,
    "detectable_content:number_placeholders": _number_placeholders,
    "detectable_content:postscript": _postscript,
    "detectable_format:number_bullet_lists": _number_bullet_lists,
    "detectable_format:constrained_response": _constrained_response,
    "detectable_format:number_highlighted_sections": _number_highlighted_sections,
    "detectable_format:multiple_sections": _multiple_sections,
    "detectable_format:json_format": _json_format,
    "detectable_format:title": _title,
    "combination:two_responses": _two_responses,
    "combination:repeat_prompt": _repeat_prompt,
    "startend:end_checker": _end_checker,
    "startend:quotation": _quotation,
    "change_case:capital_word_frequency": _capital_word_frequency,
    "change_case:english_capital": _english_capital,
    "change_case:english_lowercase": _english_lowercase,
    "keywords:existence": _keywords_existence,
    "keywords:frequency": _keyword_frequency,
    "keywords:forbidden_words": _forbidden_words,
    "keywords:letter_frequency": _letter_frequency,
}


def supported(instruction_id: str) -> bool:
    return instruction_id in CHECKERS


def check(instruction_id: str, kwargs: Mapping[str, Any] | None, response: str) -> bool | None:
    """Whether ``response`` meets the IFEval constraint; None when there is no checker for it."""
    checker = CHECKERS.get(instruction_id)
    if checker is None:
        return None
    arguments = {key: value for key, value in (kwargs or {}).items() if value is not None}
    return checker(arguments, response)
