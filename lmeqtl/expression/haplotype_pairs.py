"""RQ2, a haplotype-aware reference without the MLM: chosen SNPs' dosages and phased SNP pairs.

A same-haplotype interaction of SNPs ``a`` and ``b`` is a function of how many of a person's
haplotypes carry both ALT alleles, which no dosage model sees (two double heterozygotes have the
same dosages whether the ALTs sit on one chromosome or on two). Per gene and outer training fold:

1. the SNPs and the dosage regression of the contextual method's dosage twin
   (:class:`~lmeqtl.expression.contextual.ContextualRegressor`, ``features="dosage"``);
2. a scan of every pair of window SNPs (:func:`strongest_pairs`): the Pearson r of the pair's
   same-haplotype ALT-ALT count with what that regression leaves unexplained, all ``L (L - 1) / 2``
   pairs at once as matrix products, wherever the two SNPs are in the window;
3. one regression on the chosen SNPs' dosages and the ``pairs`` strongest pairs' counts.

What this reaches is what a haplotype model can add by reading the phase; the contextual method
(the MLM's states) is measured against it in chapter 03 (``benchmarks/RESULTS-context.md``, run 6).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from lmeqtl.expression.contextual import ContextualRegressor, GeneData, _rows
from lmeqtl.expression.models import build_model, chosen_hyperparameters

MIN_CARRIERS = 10  # a pair must sit together on at least this many training haplotypes to be scanned


def strongest_pairs(haplotypes: np.ndarray, residual: np.ndarray, n_pairs: int, *, min_carriers: int = MIN_CARRIERS,
                    block: int = 512) -> np.ndarray:
    """The ``n_pairs`` SNP pairs ``(P, 2)`` (``a < b``, window indices) whose same-haplotype ALT-ALT count
    correlates most (|Pearson r|) with ``residual (m,)``, strongest first; ties go to the lower ``(a, b)``.

    ``haplotypes (m, 2, L)`` 0/1 alleles. A person's count is ``P_ab = sum_h x[h, a] x[h, b]`` (0, 1 or
    2); over all pairs its covariance with the residual is ``H^T diag(r) H`` and its moments
    ``H^T H`` and ``(x_0 x_1)^T (x_0 x_1)`` (``H``: both haplotypes stacked), computed ``block``
    rows of ``a`` at a time. Pairs carried together by fewer than ``min_carriers`` haplotypes, or
    whose count does not vary, are left out.
    """
    x = np.asarray(haplotypes).astype(np.uint8, copy=False)
    m, _, length = x.shape
    if n_pairs < 1:
        return np.empty((0, 2), dtype=np.int64)
    stacked = x.transpose(1, 0, 2).reshape(2 * m, length).astype(np.float32)  # (2m, L): haplotype 0 rows, then 1
    r = np.asarray(residual, dtype=np.float64)
    r = (r - r.mean()).astype(np.float32)
    weighted = stacked * np.tile(r, 2)[:, None]  # (2m, L)
    both = (x[:, 0] & x[:, 1]).astype(np.float32)  # (m, L) ALT on both haplotypes
    r_sd = float(r.std()) or 1.0
    best_score, best_a, best_b = [], [], []
    for lo in range(0, length, block):
        hi = min(lo + block, length)
        columns = slice(lo, length)  # b >= lo: the lower triangle is never computed
        together = stacked[:, lo:hi].T @ stacked[:, columns]  # (B, L') haplotypes carrying both ALTs
        covariance = (stacked[:, lo:hi].T @ weighted[:, columns]) / m  # (B, L')
        square = (together + 2 * (both[:, lo:hi].T @ both[:, columns])) / m  # E[P^2]
        variance = square - (together / m) ** 2
        width = length - lo
        a = np.arange(lo, hi)[:, None]  # (B, 1)
        b = np.arange(lo, length)[None, :]  # (1, L')
        usable = (b > a) & (together >= min_carriers) & (variance > 1e-6)
        score = np.where(usable, np.abs(covariance) / (np.sqrt(np.maximum(variance, 1e-12)) * r_sd), -1.0).ravel()
        keep = np.argpartition(-score, min(n_pairs, score.size) - 1)[:n_pairs]  # this block's strongest
        best_score.append(score[keep])
        best_a.append(lo + keep // width)
        best_b.append(lo + keep % width)
    score, a, b = np.concatenate(best_score), np.concatenate(best_a), np.concatenate(best_b)
    order = np.lexsort((b, a, -score))[:n_pairs]
    order = order[score[order] >= 0]  # only usable pairs
    return np.stack([a[order], b[order]], axis=1).astype(np.int64)


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
    of the training fold's residual adds (0: the twin itself).
    """

    def __init__(self, data: GeneData, top_k: int = 20, neighbours: int = 2, pairs: int = 1,
                 model: str = "elasticnet", cv=5, n_lambdas: int = 30, l1_ratio: float = 0.5,
                 selection: str = "enet", min_carriers: int = MIN_CARRIERS, n_jobs: int = 1):
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

    def _design(self, rows: np.ndarray) -> np.ndarray:
        """Unscaled features ``(m, S + P)``: the chosen SNPs' dosages, then the pairs' ALT-ALT counts."""
        return np.hstack([np.asarray(self.data.dosage[rows][:, self.snps_], dtype=np.float64),
                          pair_counts(self.data.haplotypes[rows], self.pairs_)])

    def fit(self, X, y):  # noqa: N803 - sklearn names
        if self.data.haplotypes is None:
            raise ValueError("HaplotypePairsRegressor needs GeneData.haplotypes (the phased alleles)")
        rows, y = _rows(X, len(self.data.dosage)), np.asarray(y, dtype=np.float64)
        twin = ContextualRegressor(self.data, "dosage", self.top_k, self.neighbours, model=self.model, cv=self.cv,
                                   n_lambdas=self.n_lambdas, l1_ratio=self.l1_ratio, selection=self.selection,
                                   n_jobs=self.n_jobs).fit(X, y)
        self.snps_ = twin.snps_  # (S,)
        residual = y - twin.predict(X)  # what the chosen SNPs' dosages leave unexplained (training rows)
        self.pairs_ = strongest_pairs(self.data.haplotypes[rows], residual, self.pairs,
                                      min_carriers=self.min_carriers)  # (P, 2)
        x = self._design(rows)  # (m, S + P)
        self.centre_, self.scale_ = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
        self.regressor_ = build_model(self.model, self.cv, n_lambdas=self.n_lambdas, l1_ratio=self.l1_ratio)
        self.regressor_.set_params(scale="passthrough")
        if "n_jobs" in self.regressor_[-1].get_params():
            self.regressor_[-1].set_params(n_jobs=self.n_jobs)
        self.regressor_.fit((x - self.centre_) / self.scale_, y)
        self.best_params_ = {**chosen_hyperparameters(self.regressor_), "n_snps": float(len(self.snps_)),
                             "n_pairs": float(len(self.pairs_))}
        return self

    def predict(self, X):  # noqa: N803
        x = self._design(_rows(X, len(self.data.dosage)))
        return self.regressor_.predict((x - self.centre_) / self.scale_)

    def snp_weights(self, X) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The SNPs the model reads ``(S',)`` (chosen SNPs and pair members) and how much each moves the
        prediction over the rows ``X`` (the SD of its share, as :meth:`ContextualRegressor.snp_weights`):
        a pair's share counts for both of its SNPs."""
        x = (self._design(_rows(X, len(self.data.dosage))) - self.centre_) / self.scale_  # (m, S + P)
        share = x * np.asarray(self.regressor_[-1].coef_, dtype=np.float64).ravel()  # (m, S + P)
        owners = np.concatenate([self.snps_[:, None].repeat(2, axis=1), self.pairs_])  # (S + P, 2) window SNPs
        snps, column = np.unique(owners, return_inverse=True)
        membership = np.zeros((len(owners), len(snps)))
        membership[np.repeat(np.arange(len(owners)), 2), column.ravel()] = 1.0  # a chosen SNP counts once
        return snps, (share @ membership).std(axis=0)
