"""Per-SNP PCs of the ALT-carrying haplotypes' states: what they keep, and the contextual method built on them."""

import numpy as np
import pytest

from lmeqtl.expression.contextual import ContextualRegressor
from lmeqtl.expression.gene_states import GeneData
from lmeqtl.expression.prediction import outer_folds
from lmeqtl.expression.state_pca import alt_pca, project_alt


def test_alt_pca_reads_the_alt_haplotypes_only():
    rng = np.random.default_rng(0)
    alt = (rng.random((50, 2, 3)) < 0.5).astype(np.uint8)  # (m, 2, S)
    alt[:, :, 2] = 0
    alt[0, 0, 2] = 1  # SNP 2: one ALT haplotype, too few for a context
    states = rng.standard_normal((50, 2, 3, 4))
    mean, pcs = alt_pca(states, alt, 2)
    assert mean.shape == (3, 4) and pcs.shape == (3, 2, 4)
    moved = states.copy()
    moved[alt == 0] += 100.0  # the REF-carrying haplotypes do not enter the ALT context
    np.testing.assert_allclose(alt_pca(moved, alt, 2)[0], mean)
    np.testing.assert_allclose(np.abs(alt_pca(moved, alt, 2)[1]), np.abs(pcs), atol=1e-9)
    z = states[:, :, 0][alt[:, :, 0] == 1]  # (N, d): the ALT haplotypes' states at SNP 0
    np.testing.assert_allclose(mean[0], z.mean(axis=0))
    _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(np.abs(pcs[0]), np.abs(vt[:2]), atol=1e-9)  # the same PCs, up to sign
    np.testing.assert_array_equal(pcs[2], 0.0)
    features = project_alt(states, alt, mean, pcs).reshape(50, 3, 3)  # per SNP [dosage, 2 scores]
    np.testing.assert_array_equal(features[:, :, 0], alt.sum(axis=1))
    person = 3
    np.testing.assert_allclose(features[person, 1, 1:], sum(
        (states[person, h, 1] - mean[1]) @ pcs[1].T for h in range(2) if alt[person, h, 1]) + np.zeros(2))


def _cv_r(data: GeneData, y: np.ndarray, features: str, reduction: str) -> float:
    ids = [f"S{i:04d}" for i in range(len(y))]
    folds = outer_folds(ids, 5, 1).reindex(ids).to_numpy()
    rows, predicted = np.arange(len(y))[:, None], np.empty(len(y))
    for k in np.unique(folds):
        fitted = ContextualRegressor(data, features, top_k=3, neighbours=0, components=2, model="ridge",
                                     reduction=reduction).fit(rows[folds != k], y[folds != k])
        predicted[folds == k] = fitted.predict(rows[folds == k])
    return np.corrcoef(predicted, y)[0, 1]


def _cohort(interaction: float, seed: int):
    """Haplotypes whose state at each SNP carries the allele 100 SNPs on (plus louder noise), and y with an
    additive effect of SNP 30 and a same-haplotype interaction of SNPs 30 and 130 (residualised on SNP 30)."""
    rng = np.random.default_rng(seed)
    n, length = 400, 200
    haplotypes = (rng.random((n, 2, length)) < 0.4).astype(np.uint8)  # (n, 2, L)
    partner = np.roll(np.arange(length), -100)
    noise = 0.3 * rng.standard_normal((n, 2, length, 4))
    states = np.concatenate([haplotypes[..., None], haplotypes[:, :, partner, None], noise], axis=3)  # (n, 2, L, 6)
    dosage = haplotypes[:, :, 30].sum(1)
    both = (haplotypes[:, :, 30] * haplotypes[:, :, 130]).sum(1).astype(float)
    both -= np.polyval(np.polyfit(dosage, both, 1), dosage)
    y = 0.5 * dosage + interaction * both + rng.standard_normal(n)
    return GeneData(haplotypes.sum(1), states, haplotypes=haplotypes), y


def test_alt_context_finds_a_same_haplotype_interaction_and_costs_nothing_on_additive_truth():
    data, y = _cohort(1.5, seed=6)
    alt, pca, dosage = (_cv_r(data, y, features, reduction)
                        for features, reduction in [("context", "alt_pca"), ("context", "pca"), ("dosage", "pca")])
    assert alt > pca + 0.1 and alt > dosage + 0.1, (alt, pca, dosage)
    data, y = _cohort(0.0, seed=7)
    alt, dosage = _cv_r(data, y, "context", "alt_pca"), _cv_r(data, y, "dosage", "pca")
    assert alt > dosage - 0.03, (alt, dosage)
    with pytest.raises(ValueError, match="needs GeneData.haplotypes"):
        ContextualRegressor(GeneData(data.dosage, data.states), reduction="alt_pca").fit(np.arange(400)[:, None], y)


def test_the_preset_setting_names_the_library_reductions():
    from lmeqtl.config.sections import CONTEXT_REDUCTIONS, ExpressionConfig
    from lmeqtl.errors import InputError
    from lmeqtl.expression.contextual import REDUCTIONS

    assert CONTEXT_REDUCTIONS == REDUCTIONS
    with pytest.raises(InputError, match="context_reduction"):
        ExpressionConfig(context_reduction="pcaa")
    with pytest.raises(InputError, match="context_selection"):
        ExpressionConfig(context_selection="state")  # the state scan is a method of its own
    for bad in (-1, 2.5, True):
        with pytest.raises(InputError, match="context_screen.*an integer >= 0"):
            ExpressionConfig(context_screen=bad)


def test_enet_selection_keeps_a_causal_snp_that_tag_snps_crowd_out_of_the_marginal_top_k():
    """SNP 10 has 30 near-copies that all out-rank SNP 100 by |r|: the marginal top 20 misses SNP 100,
    the elastic net's support does not; the choice is repeatable and reaches ContextualRegressor."""
    from lmeqtl.expression import snp_selection
    from lmeqtl.expression.snp_selection import select_by_enet, select_snps

    rng = np.random.default_rng(8)
    n, length = 300, 400
    dosage = rng.binomial(2, 0.3, (n, length)).astype(np.uint8)  # (n, L)
    for tag in range(11, 41):  # near-copies of SNP 10 (5 % of people differ)
        dosage[:, tag] = np.where(rng.random(n) < 0.05, rng.binomial(2, 0.3, n), dosage[:, 10])
    y = 1.0 * dosage[:, 10] + 0.35 * dosage[:, 100] + rng.standard_normal(n)
    assert 100 not in select_snps(dosage, y, 20)
    chosen = select_by_enet(dosage, y, 20)
    assert {10, 100} <= set(chosen.tolist()) and len(chosen) == 20
    np.testing.assert_array_equal(select_by_enet(dosage.copy(), y.copy(), 20), chosen)
    snp_selection._ENET_CACHE.clear()  # two threads over the net's CV folds: the same choice
    np.testing.assert_array_equal(select_by_enet(dosage, y, 20, n_jobs=2), chosen)
    fitted = ContextualRegressor(GeneData(dosage), "dosage", top_k=20, neighbours=0, selection="enet")
    assert 100 in fitted.fit(np.arange(n)[:, None], y).snps_
