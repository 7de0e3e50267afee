"""Nested cross-validation per gene, with outer folds shared by every model and baseline.

The outer folds are drawn once per analysis (:func:`outer_folds`), saved next to the
results (:func:`save_folds`) and reused by every model, every baseline and RQ3's
fine-tuning. Inside each outer training fold, covariates are regressed out of expression
(fitted on the training rows; the test rows get the training coefficients), then the
model pipeline chooses its hyper-parameters by an inner K-fold CV on the same training
rows and predicts the test fold. The reported r and R² compare the out-of-fold
predictions with the out-of-fold (covariate-adjusted) expression.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold

from lmeqtl.data.io import atomic_path
from lmeqtl.errors import InputError
from lmeqtl.expression.covariates import Covariates, FoldDesigns, residualise
from lmeqtl.expression.models import Factory, chosen_hyperparameters, model_factory


def outer_folds(sample_ids, n_folds: int = 5, seed: int = 1) -> pd.Series:
    """Fold number (0..n_folds-1) of each sample, shuffled with ``seed``; sizes differ by at most 1."""
    sample_ids = pd.Index(sample_ids, dtype=object, name="sample_id")
    if sample_ids.has_duplicates:
        raise ValueError(f"duplicated sample ids: {list(sample_ids[sample_ids.duplicated()][:10])}")
    fold = np.empty(len(sample_ids), dtype=np.int64)
    for k, (_, test) in enumerate(KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(fold)))):
        fold[test] = k
    return pd.Series(fold, index=sample_ids, name="fold")


def save_folds(path: str | os.PathLike[str], folds: pd.Series) -> None:
    """Write the folds as CSV (``sample_id,fold``), atomically."""
    with atomic_path(path) as tmp:
        folds.rename("fold").rename_axis("sample_id").to_csv(tmp)


def load_folds(path: str | os.PathLike[str]) -> pd.Series:
    """Read folds written by :func:`save_folds`, checking ids are unique and folds are integers."""
    try:
        table = pd.read_csv(path, dtype={"sample_id": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read as CSV ({err})", path=path) from None
    if list(table.columns) != ["sample_id", "fold"]:
        raise InputError(f"columns are {list(table.columns)}", path=path, expected="sample_id,fold")
    if not pd.api.types.is_integer_dtype(table["fold"]):
        raise InputError("fold is not an integer", path=path, where="column fold", expected="0, 1, ...")
    duplicated = table["sample_id"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise InputError(f"sample {table.sample_id.iloc[row]} listed twice", path=path, where=f"line {row + 2}")
    return table.set_index("sample_id")["fold"]


def fold_labels(folds: pd.Series, sample_ids) -> np.ndarray:
    """``folds`` in the order of ``sample_ids`` (every sample must have a fold)."""
    missing = pd.Index(sample_ids).difference(folds.index)
    if len(missing):
        raise InputError(f"{len(missing)} samples have no fold: {', '.join(map(str, missing[:10]))}",
                         expected="the same folds for every sample analysed")
    return folds.loc[list(sample_ids)].to_numpy(dtype=np.int64)


@dataclass
class CVResult:
    """Out-of-fold results of one model on one gene."""

    predictions: pd.DataFrame  # one row per sample: sample_id, fold, observed, predicted
    hyperparameters: list[dict]  # per outer fold: what the inner CV chose
    converged: bool  # False if any fit warned that its solver did not converge


def nested_cv(features: np.ndarray, y: np.ndarray, folds: np.ndarray, model: str | Factory, *,
              covariates: Covariates | FoldDesigns | None = None, inner_folds: int = 5, seed: int = 1,
              sample_ids=None) -> CVResult:
    """Out-of-fold predictions of ``y`` ``(n,)`` from ``features`` ``(n, p)`` by nested CV.

    ``folds`` ``(n,)`` gives each row's outer fold; ``model`` is a name of
    :mod:`lmeqtl.expression.models` or a factory ``inner_cv -> estimator``. Each outer fold's
    inner splits are seeded with ``seed + fold``, so reruns are bit-identical.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = np.asarray(y, dtype=np.float64)
    folds = np.asarray(folds)
    if not (len(x) == len(y) == len(folds)):
        raise ValueError(f"features, y and folds have {len(x)}, {len(y)} and {len(folds)} rows")
    if np.isnan(y).any():
        raise ValueError("expression contains NaN; drop those samples before cross-validation")
    factory = model_factory(model) if isinstance(model, str) else model
    observed, predicted = np.full(len(y), np.nan), np.full(len(y), np.nan)
    chosen, converged = [], True
    for k in np.unique(folds):
        train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        if covariates is not None:
            design_train, design_test = covariates.design(train, test)
            y_train, observed[test] = residualise(y, design_train, design_test, train, test)
        else:
            y_train, observed[test] = y[train], y[test]
        estimator = factory(KFold(inner_folds, shuffle=True, random_state=seed + int(k)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(x[train], y_train)
        for w in caught:  # count non-convergence; pass every other warning on
            if issubclass(w.category, ConvergenceWarning):
                converged = False
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        predicted[test] = estimator.predict(x[test])
        chosen.append({"fold": int(k), **chosen_hyperparameters(estimator)})
    ids = np.arange(len(y)) if sample_ids is None else np.asarray(sample_ids)
    table = pd.DataFrame({"sample_id": ids, "fold": folds, "observed": observed, "predicted": predicted})
    return CVResult(table, chosen, bool(converged))
