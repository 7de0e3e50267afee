"""A linear model of every window SNP's dosage that the contextual method adds to (its *background*).

The contextual method reads the MLM's states at ~100 SNPs chosen in each training fold; an
elastic net on all ~5000 window dosages (RQ4's PrediXcan-style model) predicts better on additive
truth than any regression on the chosen SNPs alone (``benchmarks/RESULTS-context.md``, run 5).
With a background, the contextual method fits its chosen SNPs' features to what that fold's elastic
net leaves unexplained in the training rows and adds the two predictions: the MLM's context is then
read on top of the best dosage model instead of in place of it, and its dosage twin (the same,
without states) is the elastic net plus the chosen SNPs' dosages.

:func:`fold_backgrounds` fits the elastic net of each outer fold by the same nested CV as chapter 03's
``predixcan`` method (same folds, inner splits, penalties and covariate residualisation, so the same
fits); :class:`LinearBackground` is one fold's fit as a map of the raw dosages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline

from lmeqtl.config import ExpressionConfig
from lmeqtl.expression.covariates import Covariates, FoldDesigns
from lmeqtl.expression.models import model_factory
from lmeqtl.expression.prediction import CVResult, nested_cv

BACKGROUNDS = ("none", "predixcan")  # ExpressionConfig.context_background


@dataclass(frozen=True)
class LinearBackground:
    """``prediction = dosage @ coef + intercept``: ``coef (L,)`` per ALT allele of each window SNP; a missing
    dosage counts as ``fill`` (the training mean, as the pipeline's imputer; None: no gaps expected)."""

    coef: np.ndarray
    intercept: float
    fill: np.ndarray | None = None

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> LinearBackground:
        """A fitted :func:`~lmeqtl.expression.models.build_model` pipeline (impute -> scale -> linear model) as a
        map of the raw dosages."""
        scaler, linear = pipeline.named_steps["scale"], pipeline[-1]
        coef = np.asarray(linear.coef_, dtype=np.float64).ravel() / scaler.scale_  # (L,)
        return cls(coef, float(linear.intercept_) - float(coef @ scaler.mean_),
                   pipeline.named_steps["impute"].statistics_)

    def predict(self, dosage: np.ndarray) -> np.ndarray:
        """``(m,)`` from dosages ``(m, L)``."""
        return self._filled(dosage) @ self.coef + self.intercept

    def _filled(self, dosage: np.ndarray) -> np.ndarray:
        x = np.asarray(dosage, dtype=np.float64)
        return x if self.fill is None or not np.isnan(x).any() else np.where(np.isnan(x), self.fill, x)

    def snps(self) -> np.ndarray:
        """The window SNPs ``(K,)`` with a non-zero coefficient (sorted)."""
        return np.flatnonzero(self.coef)

    def shares(self, dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each of :meth:`snps`'s part of the predictions from dosages ``(m, L)``: ``(K,)`` and ``(m, K)``."""
        own = self.snps()
        return own, self._filled(dosage)[:, own] * self.coef[own]


def offset(background: LinearBackground | None, dosage: np.ndarray) -> np.ndarray | float:
    """What a method on ``background`` adds to its own prediction for dosages ``(m, L)``: ``(m,)``, or 0 without one."""
    return 0.0 if background is None else background.predict(dosage)


def fold_backgrounds(dosage: np.ndarray, y: np.ndarray, folds: np.ndarray, config: ExpressionConfig | None = None, *,
                     covariates: Covariates | FoldDesigns | None = None,
                     sample_ids=None) -> tuple[CVResult, list[LinearBackground]]:
    """The ``predixcan`` method's nested CV on ``dosage (n, L)``: its out-of-fold result and each outer fold's
    fitted model, in ``np.unique(folds)`` order (what ``nested_cv`` fits, with ``config``'s settings)."""
    config = config or ExpressionConfig()
    build = model_factory("predixcan", n_lambdas=config.n_lambdas, l1_ratio=config.predixcan_l1_ratio,
                          seed=config.seed)
    fitted: list[Pipeline] = []

    def factory(inner_cv) -> Pipeline:  # keeps each outer fold's model (nested_cv fits them in fold order)
        fitted.append(build(inner_cv))
        return fitted[-1]

    result = nested_cv(dosage, y, folds, factory, covariates=covariates, inner_folds=config.inner_folds,
                       seed=config.seed, sample_ids=sample_ids)
    return result, [LinearBackground.from_pipeline(pipeline) for pipeline in fitted]
