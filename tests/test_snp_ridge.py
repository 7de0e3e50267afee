"""The per-SNP ridge reduction of hidden states: exact leave-one-out scores, and what PCs lose."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from lmeqtl.expression.contextual import ContextualRegressor
from lmeqtl.expression.gene_states import GeneData
from lmeqtl.expression.prediction import outer_folds
from lmeqtl.expression.snp_ridge import fit_snp_ridge


def test_penalty_by_exact_leave_one_out_and_out_of_fold_scores():
    from lmeqtl.expression.snp_ridge import SNP_RIDGE_ALPHAS, _ridge_path

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3, 5))  # (m, S, p)
    y = x[:, 0, 0] - 0.5 * x[:, 1, 2] + rng.standard_normal(60)
    z, yc = (x - x.mean(0)) / x.std(0), y - y.mean()
    coef, loo = _ridge_path(z.transpose(1, 0, 2), yc, SNP_RIDGE_ALPHAS)  # (S, A, p), (S, A, m)
    for s, a in [(0, 0), (1, 5), (2, 10)]:
        model = Ridge(alpha=SNP_RIDGE_ALPHAS[a], fit_intercept=False)
        explicit = [model.fit(np.delete(z[:, s], i, 0), np.delete(yc, i)).predict(z[i:i + 1, s])[0] for i in range(60)]
        np.testing.assert_allclose(loo[s, a], explicit, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(coef[s, a], model.fit(z[:, s], yc).coef_, rtol=1e-8, atol=1e-10)
    fit, scores = fit_snp_ridge(x, y, folds=5, seed=1)
    best = np.argmin(((yc - loo) ** 2).sum(2), axis=1)
    np.testing.assert_array_equal(fit.alpha, SNP_RIDGE_ALPHAS[best])
    np.testing.assert_allclose(fit.coef, coef[np.arange(3), best])
    # out-of-fold: a row's score does not move when its own y does
    y2 = y.copy()
    y2[0] += 100.0
    fold0 = np.random.default_rng(1).permutation(np.arange(60) % 5) == np.random.default_rng(1).permutation(np.arange(60) % 5)[0]
    _, scores2 = fit_snp_ridge(x, y2, SNP_RIDGE_ALPHAS[best[0]:best[0] + 1], folds=5, seed=1)
    _, scores1 = fit_snp_ridge(x, y, SNP_RIDGE_ALPHAS[best[0]:best[0] + 1], folds=5, seed=1)
    np.testing.assert_allclose(scores2[fold0], scores1[fold0])
    assert not np.allclose(scores2[~fold0], scores1[~fold0])
    weight, bias = fit.raw_coefficients()
    np.testing.assert_allclose(fit.scores(x), np.einsum("msp,sp->ms", x, weight) + bias, atol=1e-10)
    assert np.corrcoef(scores[:, 0], y)[0, 1] > 0.5 and fit.alpha[2] >= fit.alpha[0]


def _cv_r(data: GeneData, y: np.ndarray, features: str, reduction: str, top_k: int) -> float:
    """Out-of-fold r of a ContextualRegressor (ridge second level, no neighbours) over 5 seeded folds."""
    ids = [f"S{i:04d}" for i in range(len(y))]
    folds = outer_folds(ids, 5, 1).reindex(ids).to_numpy()
    rows, predicted = np.arange(len(y))[:, None], np.empty(len(y))
    for k in np.unique(folds):
        fitted = ContextualRegressor(data, features, top_k=top_k, neighbours=0, model="ridge",
                                     reduction=reduction).fit(rows[folds != k], y[folds != k])
        predicted[folds == k] = fitted.predict(rows[folds == k])
    return np.corrcoef(predicted, y)[0, 1]


def _minor_direction_states(haplotypes: np.ndarray, partner: dict[int, int]):
    """States whose partner allele lies in a low-variance direction, below 6 louder dimensions of noise."""
    def source(snps: np.ndarray) -> np.ndarray:
        allele = haplotypes[:, :, snps].astype(np.float64)  # (n, 2, S)
        other = haplotypes[:, :, [partner.get(int(s), int(s)) for s in snps]]
        carried = 0.2 * allele * other  # the interaction, weakly
        loud = np.random.default_rng(3).standard_normal((*allele.shape, 6))  # (n, 2, S, 6)
        return np.concatenate([allele[..., None], carried[..., None], loud], axis=3)
    return source


def test_ridge_reduction_keeps_a_minor_direction_that_the_pcs_drop():
    rng = np.random.default_rng(4)
    n, length = 400, 300
    haplotypes = (rng.random((n, 2, length)) < 0.4).astype(np.uint8)  # (n, 2, L)
    both = (haplotypes[:, :, 50] * haplotypes[:, :, 250]).sum(1).astype(float)
    y = haplotypes[:, :, 50].sum(1) * 0.3 + both + rng.standard_normal(n)
    data = GeneData(haplotypes.sum(1), _minor_direction_states(haplotypes, {50: 250, 250: 50})(np.arange(length)))
    ridge, pca, dosage = (_cv_r(data, y, features, reduction, top_k=5)
                          for features, reduction in [("context", "ridge"), ("context", "pca"), ("dosage", "pca")])
    assert ridge > pca + 0.1 and ridge > dosage + 0.1, (ridge, pca, dosage)


def test_gated_reduction_reads_a_partner_that_changes_what_the_allele_does():
    """The state carries the partner allele linearly (not the product): only the ALT-gated sum sees the
    same-haplotype interaction; the ungated ridge and the dosages do not."""
    rng = np.random.default_rng(6)
    n, length = 400, 200
    haplotypes = (rng.random((n, 2, length)) < 0.4).astype(np.uint8)  # (n, 2, L)
    partner = np.roll(np.arange(length), -100)  # SNP s's state carries the allele 100 SNPs on
    noise = 0.3 * rng.standard_normal((n, 2, length, 4))
    states = np.concatenate([haplotypes[..., None], haplotypes[:, :, partner, None], noise], axis=3)  # (n, 2, L, 6)
    both = (haplotypes[:, :, 30] * haplotypes[:, :, 130]).sum(1).astype(float)
    both -= np.polyval(np.polyfit(haplotypes[:, :, 30].sum(1), both, 1), haplotypes[:, :, 30].sum(1))
    y = 0.4 * haplotypes[:, :, 30].sum(1) + 1.5 * both + rng.standard_normal(n)
    data = GeneData(haplotypes.sum(1), states, haplotypes=haplotypes)
    rows = np.arange(n)[:, None]
    gated, ridge, dosage = (_cv_r(data, y, features, reduction, top_k=3)
                            for features, reduction in [("context", "gated"), ("context", "ridge"), ("dosage", "pca")])
    assert gated > ridge + 0.1 and gated > dosage + 0.1, (gated, ridge, dosage)
    with pytest.raises(ValueError, match="needs GeneData.haplotypes"):
        ContextualRegressor(GeneData(haplotypes.sum(1), states), reduction="gated", top_k=2).fit(rows, y)
    head = ContextualRegressor(data, reduction="gated", top_k=2, model="ridge").fit(rows, y).linear_head()
    assert head["gate"].shape == head["weight"].shape == (len(head["snps"]), 6)
