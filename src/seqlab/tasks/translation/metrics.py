"""Corpus BLEU and chrF of translations, computed by sacreBLEU, with the signatures that say how.

References: Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation of Machine
Translation" (corpus BLEU: geometric mean of modified 1- to 4-gram precisions times a brevity
penalty); Post, 2018, "A Call for Clarity in Reporting BLEU Scores" (sacreBLEU: BLEU on
detokenised text with its own tokeniser, and a signature naming every setting); Popović, 2015,
"chrF: character n-gram F-score for automatic MT evaluation" (chrF, beta = 2, character n-grams
up to 6, no word n-grams: sacreBLEU's default ``CHRF()``).

Three numbers, all on detokenised hypotheses and references, one reference per sentence:

- ``sacrebleu``: cased BLEU, sacreBLEU's defaults (``tokenize="13a"``, exponential smoothing):
  the number comparable across papers that quote a sacreBLEU signature;
- ``bleu``: lowercased BLEU (``tokenize="13a"``, ``lowercase=True``), the form the Multi30k
  literature reports. Those papers mostly ran Moses' ``multi-bleu.perl`` on lowercased text
  tokenised by the Moses tokenizer; sacreBLEU's 13a tokeniser (mteval-v13a, the WMT standard)
  splits punctuation from words much as Moses does, so the numbers are close but not identical;
- ``chrf``: chrF2 on characters, case-sensitive.

Scores are on sacreBLEU's 0-100 scale. An identical corpus scores 100, as long as one of its
sentences has four tokens: with no 4-gram at all sacreBLEU takes the 4-gram precision as 0 (corpus
BLEU does not use the "effective order"), so BLEU is 0. A corpus sharing no word scores 0. The
signatures go into the report under ``signatures``, so a score is never quoted without its
settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sacrebleu.metrics import BLEU, CHRF

from seqlab.errors import SeqlabError

__all__ = ["corpus_bleu", "corpus_chrf", "corpus_sacrebleu", "translation_metrics"]


def _checked(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(hypotheses) != len(references):
        raise SeqlabError(
            f"{len(hypotheses)} translations for {len(references)} references; give one "
            "translation per reference sentence"
        )
    if not references:
        raise SeqlabError("no sentences to score; the evaluation split is empty")
    return list(hypotheses), list(references)


def _bleu(lowercase: bool) -> BLEU:
    return BLEU(tokenize="13a", lowercase=lowercase)


def corpus_sacrebleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Cased corpus BLEU (sacreBLEU defaults) and its signature."""
    hyps, refs = _checked(hypotheses, references)
    metric = _bleu(lowercase=False)
    return float(metric.corpus_score(hyps, [refs]).score), str(metric.get_signature())


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Lowercased corpus BLEU with the 13a tokeniser (the Multi30k convention), signature."""
    hyps, refs = _checked(hypotheses, references)
    metric = _bleu(lowercase=True)
    return float(metric.corpus_score(hyps, [refs]).score), str(metric.get_signature())


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus chrF2 (character 6-grams, beta 2) and its signature."""
    hyps, refs = _checked(hypotheses, references)
    metric = CHRF()
    return float(metric.corpus_score(hyps, [refs]).score), str(metric.get_signature())


def translation_metrics(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """``bleu``, ``sacrebleu`` and ``chrf`` of a corpus, with their sacreBLEU signatures under
    ``signatures`` and the number of sentences under ``sentences``."""
    bleu, bleu_signature = corpus_bleu(hypotheses, references)
    sacrebleu, sacrebleu_signature = corpus_sacrebleu(hypotheses, references)
    chrf, chrf_signature = corpus_chrf(hypotheses, references)
    return {
        "bleu": bleu,
        "sacrebleu": sacrebleu,
        "chrf": chrf,
        "sentences": len(references),
        "signatures": {
            "bleu": bleu_signature,
            "sacrebleu": sacrebleu_signature,
            "chrf": chrf_signature,
        },
    }
