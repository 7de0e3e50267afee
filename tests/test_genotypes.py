import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from lmeqtl.config import GenotypeEvalConfig, ModelConfig
from lmeqtl.genotypes.imputation import (
    GenotypeDataset,
    Imputation,
    collate_genotypes,
    genotype_probabilities,
    impute_mlm,
    impute_most_frequent,
    make_setup,
    masked_entries,
    predict_masked,
)
from lmeqtl.genotypes.metrics import genotype_metrics, per_snp_metrics, per_snp_r2, rq1_table
from lmeqtl.mlm.masking import MASK
from lmeqtl.mlm.model import HaplotypeMLM
from tests.mlm_fixtures import founder_cohort


def test_collate_keeps_both_haplotypes_of_a_person_together_with_the_same_mask():
    rng = np.random.default_rng(0)
    haplotypes = rng.integers(0, 2, size=(5, 2, 40), dtype=np.uint8)
    haplotypes[3, 1, 7] = 255  # a missing allele becomes MASK too
    masks = rng.random((5, 40)) < 0.25  # a different set per person: each row must follow its own
    loader = DataLoader(GenotypeDataset(haplotypes, masks, gene_index=2), batch_size=2, collate_fn=collate_genotypes)
    batches = list(loader)
    assert [b.tokens.shape for b in batches] == [(4, 40), (4, 40), (2, 40)]
    batch = batches[1]  # people 2 and 3
    assert batch.person.tolist() == [2, 3] and batch.gene.tolist() == [2, 2, 2, 2]
    for i, person in enumerate([2, 3]):
        for hap in (0, 1):
            row = batch.tokens[2 * i + hap].numpy()
            expected = np.where(masks[person] | (haplotypes[person, hap] == 255), MASK, haplotypes[person, hap])
            np.testing.assert_array_equal(row, expected)  # row 2i + hap is haplotype hap of person i
            np.testing.assert_array_equal(batch.alleles[2 * i + hap].numpy(), haplotypes[person, hap])
        both = batch.tokens[2 * i] == MASK, batch.tokens[2 * i + 1] == MASK
        assert torch.equal(both[0] & both[1], torch.as_tensor(masks[person]))  # same SNPs masked on both
    with pytest.raises(ValueError, match="expected haplotypes"):
        GenotypeDataset(haplotypes, masks[:, :10], 0)


def test_masks_are_fixed_by_the_seed_and_the_same_snps_in_every_person():
    cohort = founder_cohort(n_samples=40, genes={"ENSG01.1": 120, "ENSG02.1": 90}, test_fraction=0.5)
    config = GenotypeEvalConfig(mask_rate=0.2, edge_frame=10, max_samples=12)
    setup = make_setup(cohort, config)
    again = make_setup(cohort, config)
    assert len(setup.sample_ids) == 12 and set(cohort.samples.loc[setup.sample_ids, "split"]) == {"test"}
    assert all(np.array_equal(setup.masks[g], again.masks[g]) for g in cohort.genes)
    mask = setup.masks["ENSG01.1"]  # (12, 120): the same 20 % of the inner SNPs in every person
    assert mask.shape == (12, 120) and (mask == mask[0]).all() and mask[0].sum() == round(0.2 * 100)
    assert not mask[:, :10].any() and not mask[:, -10:].any()
    other = make_setup(cohort, GenotypeEvalConfig(mask_rate=0.2, edge_frame=10, max_samples=12, seed=2))
    assert not np.array_equal(other.masks["ENSG01.1"], mask)


def test_dosage_probabilities_from_two_haplotypes():
    p = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.6, 0.6], [0.9, 0.2]])
    prob = genotype_probabilities(p)
    np.testing.assert_allclose(prob[:4], [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(prob[5], [0.08, 0.74, 0.18])
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    np.testing.assert_allclose(prob @ [0, 1, 2], p.sum(axis=1))  # expected dosage = p1 + p2
    # two haplotypes at 0.6: "alt, alt" per haplotype, but the most probable genotype is 1
    assert prob[4].argmax() == 1


class PairStub(torch.nn.Module):
    """P(ALT) = 0.9 on the first haplotype of each person, 0.2 on the second; records its input."""

    def forward(self, tokens, gene):
        self.seen = tokens.clone()
        first = (torch.arange(len(tokens)) % 2 == 0)[:, None].expand_as(tokens)
        p = torch.where(first, 0.9, 0.2)
        return torch.stack([torch.log1p(-p), torch.log(p)], dim=-1)  # (2B, L, 2)


def test_predict_masked_pairs_probabilities_with_the_right_haplotype():
    haplotypes = np.zeros((3, 2, 20), dtype=np.uint8)
    haplotypes[:, 0, 4] = 1
    haplotypes[2, 1, 9] = 255  # not scored: an allele is missing
    masks = np.zeros((3, 20), dtype=bool)
    masks[:, [4, 9]] = True
    stub = PairStub()
    person, position, truth, p_alt = predict_masked(stub, GenotypeDataset(haplotypes, masks, 0), batch_size=3)
    assert sorted(zip(person.tolist(), position.tolist(), strict=True)) == [(0, 4), (0, 9), (1, 4), (1, 9), (2, 4)]
    np.testing.assert_allclose(p_alt, np.tile([0.9, 0.2], (5, 1)), atol=1e-6)
    assert truth[position == 4].tolist() == [[1, 0]] * 3
    assert (stub.seen[:, [4, 9]] == MASK).all() and (stub.seen[:, :4] == 0).all()


def imputation(method, truth, prob, snp, p_alt=None):
    truth = np.asarray(truth, dtype=np.uint8)
    return Imputation(method, np.asarray(snp), np.arange(len(snp)), truth, np.asarray(prob, dtype=float),
                      None if p_alt is None else np.asarray(p_alt, dtype=float))


def test_genotype_metrics_on_a_hand_made_case():
    # SNP 0 (MAF 0.3): dosages 0,1,2,1 called 0,1,1,1; SNP 1 (MAF 0.02): 0,0,0,1 called 0,0,0,0
    truth = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0], [0, 0], [0, 0], [1, 0]]
    calls = [0, 1, 1, 1, 0, 0, 0, 0]
    prob = np.eye(3)[calls] * 0.8 + 0.2 / 3
    snp = [0, 0, 0, 0, 1, 1, 1, 1]
    p_alt = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.4], [0.1, 0.8], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]
    imp = imputation("toy", truth, prob, snp, p_alt)
    table = genotype_metrics(imp, np.array([0.3, 0.02])).set_index("maf_bin")
    assert table.loc["all", "genotype_accuracy"] == pytest.approx(6 / 8)
    # SNP 0: observed 3/4, chance (1*1 + 2*3 + 1*0)/16 = 7/16 -> kappa (12/16 - 7/16) / (9/16) = 5/9
    assert table.loc["(0.2, 0.3]", "iqs"] == pytest.approx(5 / 9)
    assert table.loc["(0, 0.05]", "iqs"] == pytest.approx(0.0)  # constant call: no better than chance
    assert table.loc["all", "iqs"] == pytest.approx((5 / 9 + 0) / 2)
    expected = np.corrcoef([0, 1, 2, 1], prob[:4] @ [0, 1, 2])[0, 1] ** 2
    assert table.loc["(0.2, 0.3]", "dosage_r2"] == pytest.approx(expected)
    assert np.isnan(table.loc["(0, 0.05]", "dosage_r2"])  # constant prediction: r² undefined
    # haplotype metrics on the same masks: 14 of 16 alleles right at 0.5
    assert table.loc["all", "allele_accuracy"] == pytest.approx(14 / 16)
    assert table.loc["all", ["n_snps", "n_genotypes"]].tolist() == [2, 8]
    assert table.loc["(0.1, 0.2]", "n_snps"] == 0 and np.isnan(table.loc["(0.1, 0.2]", "genotype_accuracy"])
    meta = pd.DataFrame({"GENE_ID": "G", "seq_idx": [0, 1, 2], "id": ["a", "b", "c"], "AF": [0.7, 0.02, 0.5]})
    per_snp = per_snp_metrics(imp, meta)
    assert per_snp["id"].tolist() == ["a", "b"] and per_snp["maf"].tolist() == pytest.approx([0.3, 0.02])
    assert per_snp["genotype_accuracy"].tolist() == pytest.approx([0.75, 0.75])


def test_per_snp_r2_and_the_table_refuses_methods_on_other_genotypes():
    r2 = per_snp_r2(np.array([0, 1, 2, 0, 0]), np.array([0.1, 1.2, 1.9, 0.5, 0.5]), np.array([0, 0, 0, 1, 1]), 3)
    assert r2[0] == pytest.approx(np.corrcoef([0, 1, 2], [0.1, 1.2, 1.9])[0, 1] ** 2)
    assert np.isnan(r2[1]) and np.isnan(r2[2])
    a = imputation("a", [[0, 0], [1, 1]], np.eye(3)[[0, 2]], [0, 1])
    b = imputation("b", [[0, 0], [1, 1]], np.eye(3)[[0, 0]], [0, 2])
    with pytest.raises(ValueError, match="scored other genotypes"):
        rq1_table([a, b], np.array([0.3, 0.3, 0.3]))
    reordered = Imputation("c", np.array([1, 0]), np.array([1, 0]), np.array([[1, 1], [0, 0]], dtype=np.uint8),
                           np.eye(3)[[2, 0]])  # the same genotypes in another order
    table = rq1_table([a, reordered], np.array([0.3, 0.3, 0.3]))
    assert table.loc[("a", "all"), "genotype_accuracy"] == 1.0 and table.loc[("c", "all"), "n_genotypes"] == 2


def test_mlm_and_baseline_score_the_same_masked_genotypes():
    cohort = founder_cohort(n_samples=30, genes={"ENSG01.1": 70, "ENSG02.1": 50}, test_fraction=0.4)
    setup = make_setup(cohort, GenotypeEvalConfig(edge_frame=5, batch_size=5))
    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=8, n_layers=1, n_resnet_blocks=1, d_state=4, dropout=0.0), 2)
    mlm = impute_mlm(model, cohort, setup, device="cpu", progress=False)
    base = impute_most_frequent(cohort, setup)
    snp, person, truth = masked_entries(cohort, setup)
    assert len(mlm.snp) == len(snp) == 12 * (12 + 8)  # 12 test people, 20 % of the inner SNPs of each gene
    np.testing.assert_array_equal(mlm.snp, snp)
    np.testing.assert_array_equal(mlm.person, person)
    np.testing.assert_array_equal(mlm.true_alleles, truth)
    np.testing.assert_allclose(mlm.genotype_prob.sum(axis=1), 1.0)
    # gene 2's SNPs come after gene 1's 70 rows of meta
    assert mlm.snp.min() >= 5 and (mlm.snp >= 70).sum() == 12 * 8
    # the baseline calls each SNP's most frequent genotype among the train people
    train = cohort.dosage("ENSG02.1")[cohort.split_mask("train")]
    first = snp[snp >= 70][0]
    expected = np.bincount(train[:, first - 70].astype(int), minlength=3).argmax()
    assert base.called[snp == first].tolist() == [expected] * 12
    table = rq1_table([mlm, base], np.full(len(cohort.meta), 0.3))
    assert table.loc[("most frequent genotype", "all"), "iqs"] == pytest.approx(0.0)
