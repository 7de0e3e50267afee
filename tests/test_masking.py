import numpy as np
import pytest

from lmeqtl.mlm.masking import (
    ALT,
    MASK,
    MASK_STRATEGIES,
    N_TOKENS,
    REF,
    maf_bins,
    mask_haplotypes,
    select_positions,
)


def test_token_alphabet_has_a_dedicated_mask_token():
    assert (REF, ALT, MASK) == (0, 1, 2) and N_TOKENS == 3


def test_maf_bins_fold_frequencies_and_use_right_closed_edges():
    np.testing.assert_array_equal(maf_bins(np.array([0.01, 0.05, 0.06, 0.95, 0.5, 0.7])), [0, 0, 1, 0, 5, 3])


@pytest.mark.parametrize("strategy", MASK_STRATEGIES)
def test_exact_count_per_haplotype_and_untouched_edges(strategy):
    rng = np.random.default_rng(0)
    bins = maf_bins(rng.uniform(0, 1, 500))
    selected = select_positions(64, 500, rng, rate=0.2, edge_frame=30, strategy=strategy, bins=bins)
    assert (selected.sum(axis=1) == round(0.2 * 440)).all()
    assert not selected[:, :30].any() and not selected[:, -30:].any()


def test_stratified_masks_every_maf_bin_in_proportion_in_every_haplotype():
    rng = np.random.default_rng(1)
    bins = np.repeat(np.arange(4), [100, 50, 30, 20])  # 200 positions, no edge frame
    selected = select_positions(16, 200, rng, rate=0.2, edge_frame=0, strategy="maf_stratified", bins=bins)
    per_bin = np.stack([selected[:, bins == b].sum(axis=1) for b in range(4)], axis=1)
    assert (per_bin == [20, 10, 6, 4]).all()


def test_balanced_masks_the_same_number_per_bin_capped_by_bin_size():
    rng = np.random.default_rng(2)
    bins = np.repeat(np.arange(3), [150, 40, 10])
    selected = select_positions(8, 200, rng, rate=0.3, edge_frame=0, strategy="maf_balanced", bins=bins)
    per_bin = np.stack([selected[:, bins == b].sum(axis=1) for b in range(3)], axis=1)
    assert (per_bin == [25, 25, 10]).all()  # 60 masked: the 10-SNP bin is full, the rest split evenly


def test_per_row_bins_for_random_crops():
    rng = np.random.default_rng(3)
    bins = np.stack([np.roll(np.repeat([0, 1], [80, 20]), shift) for shift in range(5)])  # (5, 100)
    selected = select_positions(5, 100, rng, rate=0.2, edge_frame=0, strategy="maf_stratified", bins=bins)
    assert ((selected & (bins == 1)).sum(axis=1) == 4).all()


def test_80_10_10_split_and_same_seed_same_masks():
    alleles = np.random.default_rng(4).integers(0, 2, size=(400, 250)).astype(np.uint8)
    tokens, selected = mask_haplotypes(alleles, np.random.default_rng(5), rate=0.2, edge_frame=10)
    again, selected_again = mask_haplotypes(alleles, np.random.default_rng(5), rate=0.2, edge_frame=10)
    np.testing.assert_array_equal(tokens, again)
    np.testing.assert_array_equal(selected, selected_again)
    assert (tokens[~selected] == alleles[~selected]).all()
    masked = (tokens[selected] == MASK).mean()
    changed = (tokens[selected] != alleles[selected]).mean() - masked  # random allele that differs
    assert abs(masked - 0.8) < 0.01
    assert abs(changed - 0.05) < 0.01  # 10 % random alleles, half of them differ


def test_missing_alleles_become_mask_tokens_and_are_never_targets():
    alleles = np.zeros((3, 100), dtype=np.uint8)
    alleles[:, 50] = 255
    tokens, selected = mask_haplotypes(alleles, np.random.default_rng(0), rate=0.5, edge_frame=0)
    assert (tokens[:, 50] == MASK).all() and not selected[:, 50].any()


def test_bad_settings_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown mask strategy"):
        select_positions(1, 10, rng, strategy="nope")
    with pytest.raises(ValueError, match="MAF bin"):
        select_positions(1, 10, rng, strategy="maf_stratified")
