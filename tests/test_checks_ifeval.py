from __future__ import annotations

import pytest

from judgerl.checks.ifeval import check, split_into_sentences

CASES = [
    ("punctuation:no_comma", {}, "No commas here.", True),
    ("punctuation:no_comma", {}, "One, two.", False),
    ("length_constraints:number_words", {"relation": "less than", "num_words": 4}, "one two three", True),
    ("length_constraints:number_words", {"relation": "at least", "num_words": 4}, "one two three", False),
    (
        "length_constraints:number_sentences",
        {"relation": "at least", "num_sentences": 2},
        "Hi there. Mr. Smith came!",
        True,
    ),
    ("length_constraints:number_sentences", {"relation": "less than", "num_sentences": 2}, "One. Two.", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "first\n***\nsecond", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "first\n***\n***\nsecond", False),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        'Start.\n\n"Then, end.',
        True,
    ),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] at [address]", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 3}, "[name] at [address]", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body\nP.S. extra", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Body\nP.S. extra", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n- two\n**bold**", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* one\n- two", False),
    ("detectable_format:constrained_response", {}, "My answer is maybe.", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and ** **", False),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\na\nSection 2\nb",
        True,
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', True),
    ("detectable_format:json_format", {}, "{'a': 1}", False),
    ("detectable_format:title", {}, "<<My Title>>\ntext", True),
    ("detectable_format:title", {}, "<< >>\ntext", False),
    ("combination:two_responses", {}, "first******second", True),
    ("combination:two_responses", {}, "same******same", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "say hi. Hi!", True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Done. Any other questions?"', True),
    ("startend:quotation", {}, '"quoted"', True),
    ("startend:quotation", {}, '"', False),
    ("change_case:capital_word_frequency", {"capital_relation": "less than", "capital_frequency": 2}, "ONE two", True),
    ("change_case:english_capital", {}, "ALL CAPS, 2 NUMBERS!", True),
    ("change_case:english_lowercase", {}, "all lower but One", False),
    ("keywords:existence", {"keywords": ["alpha", "beta"]}, "Alpha then BETA", True),
    ("keywords:frequency", {"keyword": "ha", "frequency": 3, "relation": "at least"}, "ha ha", False),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "concatenate", True),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "a Cat sat", False),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at least"}, "Zz top", True),
]


@pytest.mark.parametrize(("instruction_id", "kwargs", "response", "expected"), CASES)
def test_checkers(instruction_id: str, kwargs: dict, response: str, expected: bool) -> None:
    assert check(instruction_id, kwargs, response) is expected


def test_unsupported_and_none_kwargs() -> None:
    assert check("language:response_language", {"language": "de"}, "Hallo") is None
    assert check("punctuation:no_comma", {"unused": None}, "ok") is True


def test_sentence_splitter_keeps_abbreviations() -> None:
    assert split_into_sentences("Dr. Who met Mr. Smith at 3.5 p.m. today. Then left!") == [
        "Dr. Who met Mr. Smith at 3.5 p.m. today.",
        "Then left!",
    ]
