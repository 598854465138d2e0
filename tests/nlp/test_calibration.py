"""The shipped thresholds are the ones chosen on human labels, and they beat the baselines on
pairs nothing was tuned on (STS Benchmark train split, headlines + images; bench/data)."""

from __future__ import annotations

import hashlib

import pytest

from bench.eval_nlp_labels import Scorer
from bench.nlp_labelled import idf_reference_sentences, labelled_pairs
from platform_assets.nlp.lexical import IDF_REFERENCE, IDF_REFERENCE_SHA256
from platform_assets.nlp.similarity import DEFAULT_THRESHOLDS


@pytest.fixture(scope="module")
def splits():
    everything = labelled_pairs()
    return Scorer(everything), labelled_pairs("calibration"), labelled_pairs("held-out")


def test_the_splits_are_disjoint_and_both_hold_duplicates_and_non_duplicates(splits):
    _, calibration, held_out = splits
    assert not {(p.a, p.b) for p in calibration} & {(p.a, p.b) for p in held_out}
    for part in (calibration, held_out):
        assert 0.15 < sum(p.duplicate for p in part) / len(part) < 0.5


def test_the_tfidf_reference_is_the_calibration_sentences_and_pinned():
    assert IDF_REFERENCE.read_text(encoding="utf-8").splitlines() == idf_reference_sentences()
    assert hashlib.sha256(IDF_REFERENCE.read_bytes()).hexdigest() == IDF_REFERENCE_SHA256


def test_tfidf_default_is_calibrated_and_the_guard_raises_held_out_precision(splits):
    scorer, calibration, held_out = splits
    assert scorer.calibrated_threshold("tfidf", True, calibration) == DEFAULT_THRESHOLDS["tfidf"]
    threshold = DEFAULT_THRESHOLDS["tfidf"]
    guarded = scorer.held_out_metrics("tfidf", True, threshold, held_out)
    unguarded = scorer.held_out_metrics("tfidf", False, threshold, held_out)
    assert guarded["precision"] > unguarded["precision"]


@pytest.mark.slow  # embeds ~5,600 sentences
def test_minilm_default_is_calibrated_and_beats_the_baselines_on_held_out_pairs(splits):
    scorer, calibration, held_out = splits
    assert scorer.calibrated_threshold("minilm", True, calibration) == DEFAULT_THRESHOLDS["minilm"]
    ours = scorer.held_out_metrics("minilm", True, DEFAULT_THRESHOLDS["minilm"], held_out)
    for method, guard in [("jaccard", False), ("tfidf", False), ("minilm", False)]:
        theirs = scorer.held_out_metrics(
            method, guard, scorer.calibrated_threshold(method, guard, calibration), held_out
        )
        assert ours["f05"] > theirs["f05"], method  # precision-weighted quality, each at its own calibrated threshold
        if method != "minilm":
            assert ours["precision"] > theirs["precision"], method
