"""The baselines of chapter 01: major allele and LD tag SNP, on the masks that evaluate_mlm scores."""

import numpy as np
import pytest
import torch
from mlm_fixtures import founder_cohort

from lmeqtl.config import ModelConfig
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.mlm.baselines import (
    BASELINES,
    evaluate_baselines,
    fit_tag_model,
    major_alleles,
    tag_calls,
)
from lmeqtl.mlm.evaluate import evaluate_mlm, masked_batches
from lmeqtl.mlm.masking import MASK
from lmeqtl.mlm.model import HaplotypeMLM


def test_major_allele_counts_known_alleles_and_ties_go_to_ref():
    haplotypes = np.array([[0, 1, 1], [0, 1, 0], [1, 1, MISSING_ALLELE]], dtype=np.uint8)
    assert major_alleles(haplotypes).tolist() == [0, 1, 0]


def _reference():
    """SNP 1 copies SNP 0, SNP 2 is its complement, SNP 3 is unrelated; frequencies differ."""
    rng = np.random.default_rng(0)
    first = (rng.random(400) < 0.3).astype(np.uint8)
    unrelated = (rng.random(400) < 0.5).astype(np.uint8)
    return np.stack([first, first, 1 - first, unrelated], axis=1)  # (n, 4)


def test_tag_model_ranks_neighbours_by_r2_and_tabulates_the_calls():
    model = fit_tag_model(_reference(), window=3)
    assert model.major.tolist()[:3] == [0, 0, 1]
    assert model.neighbour.shape == (4, 6)
    assert model.r2[0, 0] == pytest.approx(1.0) and model.neighbour[0, 0] in (1, 2)
    assert model.r2[3, 0] < 0.05  # nothing tags the unrelated SNP
    # SNP 1 from SNP 0 (copy) and from SNP 2 (complement): both r2 = 1
    calls = {int(n): model.call[1, k].tolist() for k, n in enumerate(model.neighbour[1]) if model.r2[1, k] > 0.99}
    assert calls == {0: [0, 1], 2: [1, 0]}
    assert (model.neighbour[0] == -1).sum() == 3  # SNP 0 has no left neighbours


def test_tag_calls_use_the_best_shown_neighbour_else_the_major_allele():
    model = fit_tag_model(_reference(), window=3)
    tokens = np.array([[MASK, 1, MASK, 0],   # SNP 0 from SNP 1 (a copy): 1
                       [MASK, MASK, 1, 0],   # SNP 0 from SNP 2 (the complement): 0; SNP 1 the same
                       [MASK, MASK, MASK, MASK]])  # nothing shown: the major alleles
    calls = tag_calls(model, tokens)
    assert calls[0, 0] == 1 and calls[1, 0] == 0 and calls[1, 1] == 0
    assert calls[2].tolist() == model.major.tolist()


@pytest.fixture(scope="module")
def scored():
    cohort = founder_cohort(n_samples=40)
    masks = dict(edge_frame=2, seed=3, max_haplotypes=30)
    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=8, n_layers=1, n_resnet_blocks=1, d_state=4), len(cohort.genes))
    return cohort, masks, evaluate_mlm(model, cohort, split="test", progress=False, device="cpu", **masks), \
        evaluate_baselines(cohort, split="test", progress=False, **masks)


def test_baselines_score_exactly_the_positions_the_model_was_scored_on(scored):
    cohort, masks, model, baselines = scored
    assert list(baselines) == list(BASELINES)
    for result in baselines.values():
        np.testing.assert_array_equal(result.per_snp["n_masked"], model.per_snp["n_masked"])
        assert result.summary["n_masked"] == model.summary["n_masked"] > 0


def test_major_allele_accuracy_is_the_share_of_major_alleles_and_its_iqs_is_zero(scored):
    cohort, masks, _, baselines = scored
    reference = cohort.split_mask("train")
    major = {g: major_alleles(cohort.haplotypes[g][reference].reshape(-1, cohort.haplotypes[g].shape[2]))
             for g in cohort.genes}
    right = total = 0
    for batch in masked_batches(cohort, split="test", **masks).epoch(0):
        gene = cohort.genes[int(batch.gene[0])]
        selected = batch.selected.numpy()
        right += (batch.alleles.numpy() == major[gene][None, :])[selected].sum()
        total += selected.sum()
    summary = baselines["major allele"].summary
    assert summary["masked_accuracy"] == pytest.approx(right / total)
    assert summary["iqs_snp_mean"] == 0.0 and summary["recall_ref"] > summary["recall_alt"]


def test_the_tag_snp_baseline_uses_ld(scored):
    _, _, _, baselines = scored
    tag, major = baselines["LD tag SNP"].summary, baselines["major allele"].summary
    assert tag["masked_accuracy"] > max(0.9, major["masked_accuracy"])  # founder haplotypes: strong LD
    assert tag["iqs_snp_mean"] > 0.8
