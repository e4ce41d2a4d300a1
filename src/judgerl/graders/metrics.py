"""text_similarity metrics, each computed by an established library (imported only when used).

=============  =============================================================================================
fuzzy_match    rapidfuzz ``fuzz.WRatio(input, reference, processor=utils.default_process) / 100``
bleu           sacrebleu ``sentence_bleu(input, [reference]).score / 100`` (sacrebleu's defaults)
gleu           nltk ``sentence_gleu([reference_tokens], input_tokens)``
meteor         nltk ``meteor_score([reference_tokens], input_tokens)`` with WordNet 3.0 (see ``wordnet()``)
rouge_1..5, l  rouge-score ``RougeScorer(["rougeN"|"rougeL"]).score(reference, input)`` F-measure
cosine         cosine similarity of two embeddings from an embeddings endpoint (embeddings.py)
=============  =============================================================================================

Tokens for nltk are the Treebank tokenizer's (it needs no downloaded data). Install with
``pip install 'judgerl[graders]'``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from functools import cache
from pathlib import Path
from typing import Any


class MetricUnavailable(RuntimeError):
    """A metric whose library or data is not installed; the message says what to install."""


def _need(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MetricUnavailable(f"needs the '{package}' package: pip install 'judgerl[graders]'") from None


def _tokens(text: str) -> list[str]:
    tokenize = _need("nltk.tokenize", "nltk")
    tokens: list[str] = tokenize.TreebankWordTokenizer().tokenize(text)
    return tokens


def fuzzy_match(text: str, reference: str) -> float:
    rapidfuzz = _need("rapidfuzz", "rapidfuzz")
    return float(rapidfuzz.fuzz.WRatio(text, reference, processor=rapidfuzz.utils.default_process)) / 100.0


def bleu(text: str, reference: str) -> float:
    sacrebleu = _need("sacrebleu", "sacrebleu")
    return float(sacrebleu.sentence_bleu(text, [reference]).score) / 100.0


def gleu(text: str, reference: str) -> float:
    gleu_score = _need("nltk.translate.gleu_score", "nltk")
    return float(gleu_score.sentence_gleu([_tokens(reference)], _tokens(text)))


def meteor(text: str, reference: str) -> float:
    meteor_score = _need("nltk.translate.meteor_score", "nltk")
    return float(meteor_score.meteor_score([_tokens(reference)], _tokens(text), wordnet=wordnet()))


def rouge(text: str, reference: str, variant: str) -> float:
    rouge_scorer = _need("rouge_score.rouge_scorer", "rouge-score")
    key = "rougeL" if variant == "l" else f"rouge{variant}"
    return float(_rouge_scorer(rouge_scorer, key).score(reference, text)[key].fmeasure)


@cache
def _rouge_scorer(module: Any, key: str) -> Any:
    return module.RougeScorer([key])


LEXICAL = ("fuzzy_match", "bleu", "gleu", "meteor", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")


def lexical_similarity(metric: str, text: str, reference: str) -> float:
    """Every metric but cosine (which needs an embeddings endpoint), at most 1 (sacrebleu's float arithmetic
    gives identical texts 1.0000000000000004)."""
    return min(1.0, _lexical_similarity(metric, text, reference))


def _lexical_similarity(metric: str, text: str, reference: str) -> float:
    if metric == "fuzzy_match":
        return fuzzy_match(text, reference)
    if metric == "bleu":
        return bleu(text, reference)
    if metric == "gleu":
        return gleu(text, reference)
    if metric == "meteor":
        return meteor(text, reference)
    if metric.startswith("rouge_"):
        return rouge(text, reference, metric.removeprefix("rouge_"))
    raise ValueError(f"unknown metric {metric!r}")


# ---- WordNet for meteor --------------------------------------------------------------------------------------

#: WordNet 3.0's lexicographer files (its 'lexnames' file), which Debian's wordnet-base package leaves out
_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_LEX_KIND = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
DEBIAN_WORDNET = Path("/usr/share/wordnet")
WORDNET_HELP = (
    "meteor needs WordNet 3.0 data, which nltk would download from the network: install it with "
    "`apt-get install wordnet-base` (Debian/Ubuntu), or `python -m nltk.downloader wordnet` where the network "
    "allows, or point JUDGERL_WORDNET_DIR at a WordNet 3.0 dict folder"
)


@cache
def wordnet() -> Any:
    """A WordNet 3.0 reader for nltk's meteor: nltk's own data if present, else $JUDGERL_WORDNET_DIR, else
    Debian's wordnet-base files (/usr/share/wordnet), copied once into the user's cache with the 'lexnames'
    file Debian leaves out."""
    _need("nltk", "nltk")
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    try:
        from nltk.corpus import wordnet as nltk_wordnet

        nltk_wordnet.ensure_loaded()
        return nltk_wordnet
    except LookupError:
        pass
    folder = Path(os.environ.get("JUDGERL_WORDNET_DIR") or DEBIAN_WORDNET)
    if not (folder / "data.noun").is_file():
        raise MetricUnavailable(WORDNET_HELP)
    if not (folder / "lexnames").is_file():
        folder = _with_lexnames(folder)
    import nltk

    if str(folder) not in nltk.data.path:  # nltk reads corpus files only under its data path
        nltk.data.path.append(str(folder))
    with warnings.catch_warnings():  # "multilingual functions are not available": meteor needs none
        warnings.simplefilter("ignore", UserWarning)
        return _reader(WordNetCorpusReader)(str(folder), None)


def _reader(base: type) -> type:
    class WordNet30Reader(base):
        """The files are WordNet 3.0 itself: no mapping from nltk's 'wordnet' corpus (absent here) is needed."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    return WordNet30Reader


def _with_lexnames(source: Path) -> Path:
    """A copy of a WordNet dict folder with the 'lexnames' file added, made once in the user's cache (nltk
    refuses symbolic links that leave its corpus folder)."""
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "judgerl"
    target = cache_root / "wordnet-3.0"
    if (target / "lexnames").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="wordnet-", dir=cache_root))
    for entry in source.iterdir():
        if entry.is_file():
            shutil.copyfile(entry, staging / entry.name)
    lines = [f"{i:02d}\t{name}\t{_LEX_KIND[name.split('.')[0]]}" for i, name in enumerate(_LEXNAMES)]
    (staging / "lexnames").write_text("\n".join(lines) + "\n")
    try:
        staging.rename(target)
    except OSError:  # another process made it first
        shutil.rmtree(staging, ignore_errors=True)
    return target
