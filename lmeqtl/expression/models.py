"""The regression models of RQ2/RQ4, each a pipeline whose hyper-parameters an inner CV chooses.

:func:`model_factory` returns ``inner_cv -> estimator``; the estimator is fitted on one
outer training fold and does everything there: combining haplotypes, scaling, optional
PCA and the inner cross-validation over its grid (``*CV`` estimators with warm-started
regularisation paths, or :class:`GridSearchCV`). Nothing is fitted on the outer test fold.

Grids are chosen for speed on 2 CPU cores (see ``benchmarks/bench_expression.py``).
Features are standardised, then divided by ``sqrt(p)`` before an SVR so that its ``C``
and ``gamma`` grids mean the same for 256 or 512 features.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNetCV, LassoCV, LinearRegression
from sklearn.model_selection import GridSearchCV, check_cv
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVR

from lmeqtl.expression.features import HaplotypeCombiner, LeadSnpSelector

EMBEDDING_MODELS = ("ols", "ridge", "lasso", "elasticnet", "svr_rbf", "svr_linear")
BASELINE_MODELS = ("predixcan", "lead_snp", "lead_snp_cv", "oracle")
RIDGE_ALPHAS = np.logspace(-1, 6, 36)
ELASTICNET_L1_RATIOS = (0.1, 0.5, 0.9)
SVR_RBF_GRID = {"C": [0.3, 1.0, 3.0, 10.0], "gamma": [0.1, 1.0]}  # gamma in units of 1/p
SVR_LINEAR_GRID = {"C": [0.01, 0.1, 1.0, 10.0]}  # kernel x.x'/p
# Lasso / elastic-net paths stop at lambda_max / 100 (glmnet's default when n < p) and use a
# duality-gap tolerance of 1e-3: on collinear embeddings this is ~10x faster than sklearn's
# defaults and chose the same penalty in our measurements.
PATH_OPTIONS = {"eps": 1e-2, "tol": 1e-3, "max_iter": 5000}

Factory = Callable[[object], BaseEstimator]


def _per_feature(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(x.shape[1])


class RidgePathCV(RegressorMixin, BaseEstimator):
    """Ridge regression whose penalty is chosen by K-fold CV, all penalties from one SVD per fold."""

    def __init__(self, alphas=RIDGE_ALPHAS, cv=5):
        self.alphas = alphas
        self.cv = cv

    @staticmethod
    def _path(x: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients ``(A, p)`` and intercepts ``(A,)`` for each penalty."""
        x_mean, y_mean = x.mean(axis=0), y.mean()
        u, s, vt = np.linalg.svd(x - x_mean, full_matrices=False)  # (n, k), (k,), (k, p)
        shrink = s / (s**2 + alphas[:, None])  # (A, k)
        coefs = (shrink * (u.T @ (y - y_mean))) @ vt  # (A, p)
        return coefs, y_mean - coefs @ x_mean

    def fit(self, X, y):  # noqa: N803 - sklearn names
        x, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        alphas = np.asarray(self.alphas, dtype=np.float64)
        errors = np.zeros(len(alphas))
        for train, val in check_cv(self.cv).split(x):
            coefs, intercepts = self._path(x[train], y[train], alphas)
            errors += ((x[val] @ coefs.T + intercepts - y[val, None]) ** 2).sum(axis=0)  # (A,)
        self.alpha_ = float(alphas[np.argmin(errors)])
        coefs, intercepts = self._path(x, y, np.array([self.alpha_]))
        self.coef_, self.intercept_ = coefs[0], float(intercepts[0])
        return self

    def predict(self, X):  # noqa: N803
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_


def _regressor(name: str, inner_cv, n_lambdas: int, l1_ratio: float):
    """The last pipeline steps of model ``name`` (after scaling)."""
    if name in ("ols", "lead_snp", "lead_snp_cv", "oracle"):
        return [("ols", LinearRegression())]
    if name == "ridge":
        return [("ridge", RidgePathCV(RIDGE_ALPHAS, cv=inner_cv))]
    if name == "lasso":
        return [("lasso", LassoCV(alphas=n_lambdas, cv=inner_cv, **PATH_OPTIONS))]
    if name in ("elasticnet", "predixcan"):
        ratios = list(ELASTICNET_L1_RATIOS) if name == "elasticnet" else l1_ratio
        return [("elasticnet", ElasticNetCV(l1_ratio=ratios, alphas=n_lambdas, cv=inner_cv, **PATH_OPTIONS))]
    if name in ("svr_rbf", "svr_linear"):
        kernel, grid = ("rbf", SVR_RBF_GRID) if name == "svr_rbf" else ("linear", SVR_LINEAR_GRID)
        search = GridSearchCV(SVR(kernel=kernel), grid, cv=inner_cv, scoring="neg_mean_squared_error")
        return [("per_feature", FunctionTransformer(_per_feature)), ("svr", search)]
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(EMBEDDING_MODELS + BASELINE_MODELS)}")


def build_model(name: str, inner_cv, *, combine: str | None = None, pca: int | None = None,
                n_lambdas: int = 30, l1_ratio: float = 0.5, seed: int = 1) -> Pipeline:
    """Pipeline for one outer training fold: [combine] -> impute -> scale -> [PCA] -> model(inner CV).

    ``combine`` expects flattened haplotype pairs ``(n, 2H)``; ``lead_snp_cv`` picks its
    SNP from ``(n, L)`` dosages on the training rows; the others take features as given.
    """
    steps = []
    if combine is not None:
        steps.append(("combine", HaplotypeCombiner(combine)))
    steps.append(("impute", SimpleImputer(strategy="mean", keep_empty_features=True)))
    if name == "lead_snp_cv":
        steps.append(("select", LeadSnpSelector()))
    steps.append(("scale", StandardScaler()))
    if pca is not None:
        steps.append(("pca", PCA(n_components=pca, svd_solver="full", random_state=seed)))
    steps.extend(_regressor(name, inner_cv, n_lambdas, l1_ratio))
    return Pipeline(steps)


def prescaled_model(name: str, inner_cv, *, n_lambdas: int = 30, l1_ratio: float = 0.5, n_jobs: int = 1) -> Pipeline:
    """:func:`build_model` for features the caller has scaled itself (its scaling off), an elastic net's or
    lasso's inner CV folds on ``n_jobs`` threads (the same fit on any number, to rounding)."""
    pipeline = build_model(name, inner_cv, n_lambdas=n_lambdas, l1_ratio=l1_ratio)
    pipeline.set_params(scale="passthrough")
    if "n_jobs" in pipeline[-1].get_params():  # ElasticNetCV / LassoCV
        pipeline[-1].set_params(n_jobs=n_jobs)
    return pipeline


def model_factory(name: str, **options) -> Factory:
    """``inner_cv -> unfitted pipeline`` for :func:`lmeqtl.expression.prediction.nested_cv`."""
    _regressor(name, 5, 2, 0.5)  # fail now on an unknown name, not inside the folds
    return partial(build_model, name, **options)


def chosen_hyperparameters(estimator: BaseEstimator) -> dict[str, float]:
    """What the inner CV chose in a fitted pipeline (penalty, l1 ratio, SVR grid point, SNP index).

    ``alpha_at_edge`` is 1 when the chosen penalty is the smallest of its grid: the grid may
    have been too short (larger penalties are the grid's other end, where a model predicts
    the mean).
    """
    steps = estimator.steps if isinstance(estimator, Pipeline) else [("model", estimator)]
    chosen: dict[str, float] = {}
    for _, step in steps:
        chosen.update({k: float(v) for k, v in getattr(step, "best_params_", {}).items()})
        for attribute in ("alpha_", "l1_ratio_", "index_"):
            if hasattr(step, attribute):
                chosen[attribute.rstrip("_")] = float(getattr(step, attribute))
        grid = getattr(step, "alphas_", getattr(step, "alphas", None)) if hasattr(step, "alpha_") else None
        if grid is not None:
            chosen["alpha_at_edge"] = float(np.isclose(step.alpha_, np.min(grid)))
    return chosen
