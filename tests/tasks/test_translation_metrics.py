"""Translation metrics (seqlab.tasks.translation.metrics): equal to sacreBLEU called directly,
checked by hand on a small case, 100 for an identical corpus and 0 for a disjoint one."""

from __future__ import annotations

import math

import pytest
import sacrebleu

from seqlab.errors import SeqlabError
from seqlab.tasks.translation.metrics import (
    corpus_bleu,
    corpus_chrf,
    corpus_sacrebleu,
    translation_metrics,
)

HYPOTHESES = [
    "A man in an orange hat looking at something.",
    "A Boston terrier runs on lush green grass in front of a white fence.",
    "A girl in karate uniform breaks a stick with a kick.",
    "Five people in winter jackets and helmets stand in the snow with snowmobiles.",
]
REFERENCES = [
    "A man in an orange hat starring at something.",
    "A Boston Terrier is running on lush green grass in front of a white fence.",
    "A girl in karate uniform breaking a stick with a front kick.",
    "Five people wearing winter jackets and helmets stand in the snow, with snowmobiles.",
]


def test_scores_equal_sacrebleu_called_directly():
    metrics = translation_metrics(HYPOTHESES, REFERENCES)
    cased = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES])
    lowercased = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], lowercase=True, tokenize="13a")
    chrf = sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES])
    assert metrics["sacrebleu"] == cased.score
    assert metrics["bleu"] == lowercased.score
    assert metrics["chrf"] == chrf.score
    # Lowercasing finds "terrier" = "Terrier": more matches, a higher score.
    assert metrics["bleu"] > metrics["sacrebleu"]
    assert metrics["sentences"] == 4
    version = sacrebleu.__version__
    assert metrics["signatures"] == {
        "bleu": f"nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:{version}",
        "sacrebleu": f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{version}",
        "chrf": f"nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:{version}",
    }


def test_hand_checked_bleu():
    # Hypothesis "the cat sat on the mat", reference "the cat sat on a mat": matching 1- to
    # 4-grams 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty.
    # BLEU = 100 * (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 100 * (1/12) ** (1/4) = 53.728...
    score, _ = corpus_sacrebleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert score == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-9)
    assert score == pytest.approx(53.7285, abs=1e-4)
    # Case matters to sacrebleu, not to bleu. "The cat sat on the mat" against the same
    # reference: 1-grams 5/6 (the second "the" matches), 2-grams 2/5, 3-grams 1/4, 4-grams 0/3,
    # which sacreBLEU's "exp" smoothing (mteval's) counts as 1/(2 * 3):
    # 100 * (5/6 * 2/5 * 1/4 * 1/6) ** (1/4) = 100 * (1/72) ** (1/4) = 34.33.
    cased, _ = corpus_sacrebleu(["The cat sat on the mat"], ["the cat sat on a mat"])
    assert cased == pytest.approx(100 * (1 / 72) ** 0.25, abs=1e-9)
    lowercased, _ = corpus_bleu(["The cat sat on the mat"], ["the cat sat on a mat"])
    assert lowercased == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-9)


def test_identical_corpus_scores_100_and_disjoint_scores_0():
    for score_of in (corpus_bleu, corpus_sacrebleu, corpus_chrf):
        identical, _ = score_of(REFERENCES, REFERENCES)
        assert math.isclose(identical, 100.0, abs_tol=1e-9)
        # Not one character in common, so no word and no character n-gram either.
        disjoint, _ = score_of(["Жук ищет цветы"] * 4, REFERENCES)
        assert disjoint == 0.0


def test_a_corpus_without_four_grams_scores_0_bleu_even_when_identical():
    # Documented: sacreBLEU takes the 4-gram precision of a corpus with no 4-gram as 0.
    score, _ = corpus_sacrebleu(["a dog", "two cats"], ["a dog", "two cats"])
    assert score == 0.0
    assert corpus_chrf(["a dog"], ["a dog"])[0] == 100.0


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(SeqlabError, match="2 translations for 1 references"):
        translation_metrics(["a", "b"], ["a"])
    with pytest.raises(SeqlabError, match="no sentences to score"):
        translation_metrics([], [])
