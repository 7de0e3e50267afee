import numpy as np
from explain_fixtures import ld_haplotypes

from lmeqtl.explain.finemap import susie


def _ld_block(seed: int = 0, n: int = 300, length: int = 60) -> np.ndarray:
    return ld_haplotypes(n, length, seed=seed, copy=0.8).sum(1).astype(float)  # (n, L) dosages


def test_susie_recovers_a_planted_causal_snp_in_an_ld_block():
    dosage = _ld_block(seed=0)
    r = np.corrcoef(dosage, rowvar=False)
    assert np.sort(np.abs(r[30]))[-2] > 0.5  # the causal SNP has correlated neighbours
    rng = np.random.default_rng(1)
    expression = 0.5 * dosage[:, 30] + rng.normal(size=len(dosage))
    fit = susie(dosage, expression, n_effects=5)
    assert fit.converged
    assert np.argmax(fit.pip) == 30 and fit.pip[30] > 0.5
    assert np.all(np.diff(fit.elbo) > -1e-6)  # IBSS increases the ELBO
    sets = fit.credible_sets(dosage)
    assert len(sets) == 1 and 30 in sets[0]
    assert np.sort(fit.V)[-2] < 0.01 * fit.V.max()  # the other single effects are (nearly) switched off


def test_susie_two_effects_and_monomorphic_snps():
    dosage = _ld_block(seed=2, length=80)
    dosage[:, 5] = 1.0  # monomorphic
    rng = np.random.default_rng(3)
    expression = 0.6 * dosage[:, 10] - 0.6 * dosage[:, 70] + rng.normal(size=len(dosage))
    fit = susie(dosage, expression, n_effects=5)
    assert set(np.argsort(-fit.pip)[:2]) == {10, 70}
    assert fit.pip[5] == 0.0


def test_susie_on_null_data_has_no_confident_snp():
    dosage = _ld_block(seed=4)
    expression = np.random.default_rng(5).normal(size=len(dosage))
    fit = susie(dosage, expression, n_effects=5)
    assert fit.pip.max() < 0.5
    assert fit.credible_sets(dosage) == []
