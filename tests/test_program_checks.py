"""Program checkers (IFEval constraints, GSM8K answers) and the rule checks a training config can use."""

from __future__ import annotations

import json

import pytest

from judgerl.checks import gsm8k, ifeval
from judgerl.checks.language import guess_language
from judgerl.checks.rules import IfevalCheck, JsonSchemaCheck, LanguageCheck, LengthCheck, RegexCheck
from support.real_models import public_data

CASES = [
    ("punctuation:no_comma", {}, "No commas here.", True),
    ("punctuation:no_comma", {}, "One, two.", False),
    ("change_case:english_lowercase", {}, "all lower case text.", True),
    ("change_case:english_lowercase", {}, "Not all lower.", False),
    ("change_case:english_capital", {}, "ALL CAPS HERE!", True),
    ("change_case:english_capital", {}, "ALL CAPS bar ONE", False),
    (
        "change_case:capital_word_frequency",
        {"capital_relation": "at least", "capital_frequency": 2},
        "NASA and ESA",
        True,
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_relation": "less than", "capital_frequency": 2},
        "NASA and ESA",
        False,
    ),
    ("length_constraints:number_words", {"relation": "at least", "num_words": 3}, "one two three", True),
    ("length_constraints:number_words", {"relation": "less than", "num_words": 3}, "one two three", False),
    ("length_constraints:number_sentences", {"relation": "less than", "num_sentences": 3}, "One. Two!", True),
    (
        "length_constraints:number_sentences",
        {"relation": "at least", "num_sentences": 3},
        "Dr. Who came. He left.",
        False,
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First.\n***\nSecond.", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "First.\n***\n***\nThird.", False),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First one.\n\nThen, the second.",
        True,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First one.\n\nAnd the second.",
        False,
    ),
    ("detectable_format:title", {}, "<<My Title>>\nBody", True),
    ("detectable_format:title", {}, "<<>> no title", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n- two\n* three", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*a* and **b**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*a* only", False),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\nfoo\nSection 2\nbar",
        True,
    ),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 3}, "Section 1\nfoo", False),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', True),
    ("detectable_format:json_format", {}, "{a: 1}", False),
    ("detectable_format:constrained_response", {}, "My answer is yes.", True),
    ("detectable_format:constrained_response", {}, "Yes.", False),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] at [address]", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] only", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body\nP.S. bye", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Body\nP.S. bye", False),
    ("keywords:existence", {"keywords": ["cat", "dog"]}, "A Cat and a dog.", True),
    ("keywords:existence", {"keywords": ["cat", "dog"]}, "A cat alone.", False),
    ("keywords:frequency", {"keyword": "the", "relation": "at least", "frequency": 2}, "The cat and the dog", True),
    ("keywords:frequency", {"keyword": "the", "relation": "less than", "frequency": 2}, "The cat and the dog", False),
    ("keywords:forbidden_words", {"forbidden_words": ["bad"]}, "A badge is fine.", True),
    ("keywords:forbidden_words", {"forbidden_words": ["bad"]}, "That is Bad.", False),
    ("keywords:letter_frequency", {"letter": "z", "let_relation": "at least", "let_frequency": 2}, "Zazz", True),
    ("keywords:letter_frequency", {"letter": "z", "let_relation": "less than", "let_frequency": 2}, "Zazz", False),
    ("startend:quotation", {}, '  "quoted"  ', True),
    ("startend:quotation", {}, '"half', False),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done. any other questions?", True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Any other questions? Done.", False),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "say hi. Hi!", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Hi! Say hi.", False),
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", True),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False),
]


@pytest.mark.parametrize(("instruction", "kwargs", "response", "expected"), CASES)
def test_ifeval_checker(instruction: str, kwargs: dict, response: str, expected: bool) -> None:
    assert ifeval.check(instruction, kwargs, response) is expected


def test_every_supported_type_has_a_passing_and_a_failing_case() -> None:
    covered = {(i, e) for i, _, _, e in CASES}
    for instruction in ifeval.SUPPORTED:
        assert (instruction, True) in covered and (instruction, False) in covered, instruction


def test_unsupported_or_incomplete_instructions_are_none() -> None:
    assert ifeval.check("language:response_language", {"language": "en"}, "Hello there") is None
    assert ifeval.check("length_constraints:number_words", {"relation": "at least"}, "x") is None
    assert ifeval.check("keywords:frequency", {"keyword": "a", "relation": "about", "frequency": 1}, "a") is None
    assert ifeval.all_followed([True, None]) is None
    assert ifeval.all_followed([True, False]) is False


def test_checkers_accept_every_row_of_the_real_ifeval_file() -> None:
    rows = [json.loads(line) for line in (public_data() / "ifeval" / "input_data.jsonl").read_text().splitlines()]
    for row in rows:
        results = ifeval.check_row(row["instruction_id_list"], row["kwargs"], "A plain response. It has two sentences.")
        for instruction, result in zip(row["instruction_id_list"], results, strict=True):
            assert (result is None) == (instruction not in ifeval.SUPPORTED), (row["key"], instruction)


def test_describe_turns_kwargs_into_an_observable_criterion() -> None:
    text = ifeval.describe("keywords:existence", {"keywords": ["cat", "dog"]})
    assert text == "The response includes the keywords 'cat', 'dog'."
    assert ifeval.describe("unknown:type", {}) == "unknown:type"


@pytest.mark.parametrize(
    ("reference", "response", "expected"),
    [
        ("so 5 + 3 = 8\n#### 8", "The answer is 8.", True),
        ("#### 1,200", "In total: $1,200", True),
        ("#### 72", "48 + 24 = 72 clips. #### 72", True),
        ("#### 72", "She sold 70 clips", False),
        ("#### 0.5", "It is 1/2 which is 0.50", True),
        ("#### 7", "no number at all", False),
        ("no number", "7", None),
    ],
)
def test_gsm8k_final_answer(reference: str, response: str, expected: bool | None) -> None:
    assert gsm8k.check(reference, response) is expected


def test_rule_checks() -> None:
    row: dict = {"metadata": {}}
    assert RegexCheck(name="r", type="regex", pattern=",", must_match=False).evaluate("a b", row) == 1.0
    assert RegexCheck(name="r", type="regex", pattern="^#", must_match=True).evaluate("x\n# h", row) == 1.0
    length = LengthCheck(name="l", type="length", min=2, max=3)
    assert [length.evaluate(t, row) for t in ("one", "one two", "a b c d")] == [0.0, 1.0, 0.0]
    schema = JsonSchemaCheck.model_validate(
        {"name": "j", "type": "json_schema", "schema": {"type": "object", "required": ["a"]}}
    )
    assert schema.evaluate('```json\n{"a": 1}\n```', row) == 1.0
    assert schema.evaluate('{"b": 1}', row) == 0.0
    assert schema.evaluate("not json", row) == 0.0
    english = LanguageCheck(name="en", type="language", language="en")
    assert english.evaluate("This is the answer and it is in English for you.", row) == 1.0
    assert english.evaluate("Das ist die Antwort und sie ist nicht auf Englisch.", row) == 0.0
    assert english.evaluate("ok", row) is None
    follows = IfevalCheck(name="if", type="ifeval")
    meta = {
        "metadata": {
            "instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"],
            "kwargs": [{}, {}],
        }
    }
    assert follows.evaluate("all lower, but a comma", meta) == 0.5
    assert follows.evaluate("anything", row) is None


def test_language_guess_by_script() -> None:
    assert guess_language("Привет, как дела? Это тест.") == "ru"
    assert guess_language("これは日本語のテストです") == "ja"
    assert guess_language("12345 !!!") is None
