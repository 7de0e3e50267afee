import numpy as np
import pytest
from mlm_fixtures import founder_cohort

from lmeqtl.mlm.batches import HaplotypeBatches, cohort_fingerprint, kfold_samples
from lmeqtl.mlm.masking import MASK


def test_folds_split_samples_never_haplotypes_and_cover_everyone_once():
    ids = np.array([f"S{i}" for i in range(23)])
    folds = [kfold_samples(ids, 5, k, seed=3) for k in range(5)]
    validation = np.concatenate([val for _, val in folds])
    assert sorted(validation) == sorted(ids)
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(ids)
    np.testing.assert_array_equal(kfold_samples(ids, 5, 2, seed=3)[1], folds[2][1])
    assert not np.array_equal(kfold_samples(ids, 5, 2, seed=4)[1], folds[2][1])
    with pytest.raises(ValueError, match="fold"):
        kfold_samples(ids, 5, 5, seed=0)


def make(cohort, train, **kw):
    return HaplotypeBatches(cohort, np.arange(len(cohort.samples)), batch_size=8, train=train, seed=1,
                            edge_frame=2, **kw)


def test_training_batches_mix_genes_at_the_crop_length_and_carry_true_alleles():
    cohort = founder_cohort(genes={"G1.1": 60, "G2.1": 40})
    batches = make(cohort, True, crop_length=32)
    seen = list(batches.epoch(1))
    assert len(seen) == len(batches) == 20  # 40 samples x 2 haplotypes x 2 genes / 8
    assert all(b.tokens.shape == (8, 32) for b in seen)
    assert any(len(set(b.gene.tolist())) == 2 for b in seen)
    batch = seen[0]
    for i in range(8):  # the alleles are the cohort's haplotype at the recorded SNPs
        gene = cohort.genes[int(batch.gene[i])]
        offset = 0 if gene == "G1.1" else 60
        snps = batch.snp[i] - offset
        found = [(r, h) for r in range(40) for h in range(2)
                 if np.array_equal(cohort.haplotypes[gene][r, h, snps], batch.alleles[i].numpy())]
        assert found
    kept = ~batch.selected.numpy()
    np.testing.assert_array_equal(batch.tokens.numpy()[kept], batch.alleles.numpy()[kept])


def test_without_crop_genes_are_cut_to_the_shortest_and_masks_change_every_epoch():
    cohort = founder_cohort(genes={"G1.1": 60, "G2.1": 40})
    batches = make(cohort, True)
    first, second = next(batches.epoch(1)), next(batches.epoch(2))
    assert first.tokens.shape[1] == 40
    assert not np.array_equal(first.selected.numpy(), second.selected.numpy())
    again = next(batches.epoch(1))
    np.testing.assert_array_equal(first.tokens.numpy(), again.tokens.numpy())


def test_validation_masks_are_fixed_whole_sequences_one_gene_per_batch():
    cohort = founder_cohort(genes={"G1.1": 60, "G2.1": 40})
    val = make(cohort, False)
    first, second = list(val.epoch(0)), list(val.epoch(5))
    assert len(first) == len(val) == 20
    assert {b.tokens.shape[1] for b in first} == {60, 40}
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.tokens.numpy(), b.tokens.numpy())
        assert len(set(a.gene.tolist())) == 1
    assert (first[0].tokens == MASK).any()
    other_batch_size = HaplotypeBatches(cohort, np.arange(40), batch_size=5, train=False, seed=1, edge_frame=2)
    np.testing.assert_array_equal(np.concatenate([b.selected.numpy() for b in other_batch_size.epoch(0)
                                                  if b.tokens.shape[1] == 60]),
                                  np.concatenate([b.selected.numpy() for b in first if b.tokens.shape[1] == 60]))


def test_ddp_shards_partition_each_global_batch():
    cohort = founder_cohort()
    batches = make(cohort, True, crop_length=24)
    whole = next(batches.epoch(3))
    parts = [next(batches.epoch(3, rank=r, world_size=2)) for r in range(2)]
    np.testing.assert_array_equal(np.concatenate([p.tokens.numpy() for p in parts]),
                                  np.concatenate([whole.tokens.numpy()[0::2], whole.tokens.numpy()[1::2]]))
    assert parts[0].n_selected_total == whole.n_selected_total == int(whole.selected.sum())


def test_fingerprint_changes_with_the_haplotypes():
    cohort = founder_cohort()
    before = cohort_fingerprint(cohort)
    assert cohort_fingerprint(founder_cohort()) == before
    cohort.haplotypes[cohort.genes[0]][0, 0, 0] ^= 1
    assert cohort_fingerprint(cohort) != before
