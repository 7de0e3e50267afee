"""RQ2, a haplotype-aware reference without the MLM: chosen SNPs' dosages and phased SNP pairs.

A same-haplotype interaction of SNPs ``a`` and ``b`` is a function of how many of a person's
haplotypes carry both ALT alleles, which no dosage model sees (two double heterozygotes have the
same dosages whether the ALTs sit on one chromosome or on two). Per gene and outer training fold:

1. the SNPs and the dosage regression of the contextual method's dosage twin
   (:class:`~lmeqtl.expression.contextual.ContextualRegressor`, ``features="dosage"``);
2. a scan of every pair of window SNPs (:func:`~lmeqtl.expression.snp_selection.strongest_pairs`): the Pearson r of the pair's
   same-haplotype ALT-ALT count with what that regression leaves unexplained, all ``L (L - 1) / 2``
   pairs at once as matrix products, wherever the two SNPs are in the window;
3. one regression on the chosen SNPs' dosages and the ``pairs`` strongest pairs' counts.

What this reaches is what a haplotype model can add by reading the phase; the contextual method
(the MLM's states) is measured against it in chapter 03 (``benchmarks/RESULTS-context.md``, run 6).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from lmeqtl.expression.background import LinearBackground, offset
from lmeqtl.expression.contextual import ContextualRegressor, _rows
from lmeqtl.expression.gene_states import GeneData
from lmeqtl.expression.models import chosen_hyperparameters, prescaled_model
from lmeqtl.expression.snp_selection import MIN_CARRIERS


def pair_counts(haplotypes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """How many of each person's haplotypes ``(n, 2, L)`` carry both ALT alleles of each pair ``(P, 2)``: ``(n, P)``."""
    x = np.asarray(haplotypes).astype(np.uint8, copy=False)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return (x[:, :, pairs[:, 0]] & x[:, :, pairs[:, 1]]).sum(axis=1).astype(np.float64)


class HaplotypePairsRegressor(RegressorMixin, BaseEstimator):
    """The dosage twin's SNPs and regression, plus the ``pairs`` strongest phased SNP pairs of the window.

    ``X``: a column of row numbers into ``data`` (needs ``data.haplotypes``); ``top_k``,
    ``neighbours``, ``model``, ``cv``, ``n_lambdas``, ``l1_ratio``, ``selection``, ``n_jobs`` as in
    :class:`~lmeqtl.expression.contextual.ContextualRegressor`; ``pairs``: how many pairs the scan
    of the training fold's residual adds (0: the twin itself); ``background``: as the contextual method's (the twin
    and this regression fit what it leaves unexplained, and add its prediction).
    """

    def __init__(self, data: GeneData, top_k: int = 20, neighbours: int = 2, pairs: int = 1,
                 model: str = "elasticnet", cv=5, n_lambdas: int = 30, l1_ratio: float = 0.5,
                 selection: str = "enet", min_carriers: int = MIN_CARRIERS, n_jobs: int = 1,
                 background: LinearBackground | None = None):
        self.data = data
        self.top_k = top_k
        self.neighbours = neighbours
        self.pairs = pairs
        self.model = model
        self.cv = cv
        self.n_lambdas = n_lambdas
        self.l1_ratio = l1_ratio
        self.selection = selection
        self.min_carriers = min_carriers
        self.n_jobs = n_jobs
        self.background = background

    def _design(self, rows: np.ndarray) -> np.ndarray:
        """Unscaled features ``(m, S + P)``: the chosen SNPs' dosages, then the pairs' ALT-ALT counts."""
        return np.hstack([np.asarray(self.data.dosage[rows][:, self.snps_], dtype=np.float64),
                          pair_counts(self.data.haplotypes[rows], self.pairs_)])

    def fit(self, X, y):  # noqa: N803 - sklearn names
        if self.data.haplotypes is None:
            raise ValueError("HaplotypePairsRegressor needs GeneData.haplotypes (the phased alleles)")
        rows, y = _rows(X, len(self.data.dosage)), np.asarray(y, dtype=np.float64)
        dosage_method = ContextualRegressor(self.data, "dosage", self.top_k, self.neighbours, model=self.model,
                                            cv=self.cv, n_lambdas=self.n_lambdas, l1_ratio=self.l1_ratio,
                                            selection=self.selection, n_jobs=self.n_jobs, background=self.background)
        self.snps_, self.pairs_ = dosage_method.twin_pairs(rows, y, self.pairs, self.min_carriers)  # (S,), (P, 2)
        x = self._design(rows)  # (m, S + P)
        self.centre_, self.scale_ = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
        self.regressor_ = prescaled_model(self.model, self.cv, n_lambdas=self.n_lambdas, l1_ratio=self.l1_ratio,
                                          n_jobs=self.n_jobs)
        self.regressor_.fit((x - self.centre_) / self.scale_, y - offset(self.background, self.data.dosage[rows]))
        self.best_params_ = {**chosen_hyperparameters(self.regressor_), "n_snps": float(len(self.snps_)),
                             "n_pairs": float(len(self.pairs_))}
        return self

    def predict(self, X):  # noqa: N803
        rows = _rows(X, len(self.data.dosage))
        return (self.regressor_.predict((self._design(rows) - self.centre_) / self.scale_)
                + offset(self.background, self.data.dosage[rows]))

    def snp_weights(self, X) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The SNPs the model reads ``(S',)`` (chosen SNPs and pair members) and how much each moves the
        prediction over the rows ``X`` (the SD of its share, as :meth:`ContextualRegressor.snp_weights`):
        a pair's share counts for both of its SNPs; a background SNP's share is its dosage x coefficient."""
        rows = _rows(X, len(self.data.dosage))
        share = (self._design(rows) - self.centre_) / self.scale_ * np.ravel(self.regressor_[-1].coef_)  # (m, S + P)
        owners = np.concatenate([self.snps_[:, None].repeat(2, axis=1), self.pairs_])  # (S + P, 2) window SNPs
        if self.background is not None:  # the background's SNPs, each its dosage x coefficient
            own, parts = self.background.shares(self.data.dosage[rows])  # (K,), (m, K)
            share, owners = np.hstack([share, parts]), np.concatenate([owners, own[:, None].repeat(2, axis=1)])
        snps, column = np.unique(owners, return_inverse=True)
        membership = np.zeros((len(owners), len(snps)))
        membership[np.repeat(np.arange(len(owners)), 2), column.ravel()] = 1.0  # a chosen SNP counts once
        return snps, (share @ membership).std(axis=0)
