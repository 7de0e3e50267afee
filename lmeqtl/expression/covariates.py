"""Covariates regressed out of expression inside each outer training fold.

GEUVADIS corrected expression for technical and ancestry factors (PEER factors,
genotype PCs). Here every covariate is *fitted on the training rows only*: fixed
covariates (sex, population dummies) enter an OLS fitted on the training fold, and PCA
covariates (genotype PCs, expression PCs as PEER-like factors) are PCs of the training
rows onto which the test rows are projected. The test fold never influences them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmeqtl.errors import InputError

COVARIATES = ("sex", "population", "genotype_pcs", "expression_pcs")


@dataclass
class Covariates:
    """Per-person covariates, rows in the order of the expression table.

    Attributes:
        fixed: ``(n, c)`` known values (e.g. sex, population dummies); ``c`` may be 0.
        pca_blocks: name -> (matrix ``(n, p)`` with named columns, number of PCs); PCs are
            fitted on the training rows of each fold.
    """

    fixed: pd.DataFrame
    pca_blocks: dict[str, tuple[pd.DataFrame, int]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def without(self, column: str) -> Covariates:
        """The same covariates with ``column`` dropped from every PCA block (e.g. the target gene
        from the expression PCs, so that a gene's own expression is never a covariate).

        The result shares this object's cache of fold PCs: blocks that did not change (the
        genotype PCs) are computed once per fold for all genes.
        """
        blocks = {name: (m.drop(columns=[column], errors="ignore"), k) for name, (m, k) in self.pca_blocks.items()}
        return Covariates(self.fixed, blocks, self._cache)

    def design(self, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Covariate matrices ``(n_train, d)`` and ``(n_test, d)`` fitted on ``train`` rows only."""
        fixed = self.fixed.to_numpy(dtype=np.float64)
        parts_train, parts_test = [fixed[train]], [fixed[test]]
        for name, (matrix, k) in self.pca_blocks.items():
            key = (name, hash(tuple(matrix.columns)), k, train.tobytes(), test.tobytes())
            if key not in self._cache:
                self._cache[key] = fold_pcs(matrix.to_numpy(dtype=np.float64), train, test, k)
            pcs_train, pcs_test = self._cache[key]
            parts_train.append(pcs_train)
            parts_test.append(pcs_test)
        return np.hstack(parts_train), np.hstack(parts_test)

    def for_folds(self, folds: np.ndarray) -> FoldDesigns:
        """The design of every outer fold, computed now (small enough to send to worker processes)."""
        designs = {}
        for k in np.unique(folds):
            train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
            designs[test.tobytes()] = self.design(train, test)
        return FoldDesigns(designs)


@dataclass
class FoldDesigns:
    """Covariate matrices already fitted per outer fold, looked up by the fold's test rows."""

    designs: dict[bytes, tuple[np.ndarray, np.ndarray]]

    def design(self, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            return self.designs[test.tobytes()]
        except KeyError:
            raise ValueError("no covariate design for these folds: build FoldDesigns from the same folds") from None


def fold_pcs(matrix: np.ndarray, train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` PCs of the standardised training rows, and the test rows projected onto them."""
    x_train, x_test = matrix[train], matrix[test]  # (n_tr, p), (n_te, p)
    mean = np.nanmean(x_train, axis=0)
    std = np.nanstd(x_train, axis=0)
    std[~(std > 0)] = 1.0
    z_train = np.nan_to_num((x_train - mean) / std)  # missing -> the training mean
    z_test = np.nan_to_num((x_test - mean) / std)
    k = min(k, *z_train.shape)
    # eigen-decomposition of the (n_tr, n_tr) Gram matrix: cheap when p >> n (genotypes)
    gram = z_train @ z_train.T  # (n_tr, n_tr)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:k]
    singular = np.sqrt(np.clip(eigenvalues[order], 1e-12, None))
    axes = z_train.T @ eigenvectors[:, order] / singular  # (p, k) unit loadings
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(k)])  # deterministic sign
    axes *= np.where(signs == 0, 1.0, signs)
    return z_train @ axes, z_test @ axes


def residualise(y: np.ndarray, design_train: np.ndarray, design_test: np.ndarray,
                train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of ``y`` after an OLS on the covariates (with intercept) fitted on ``train`` only."""
    a_train = np.hstack([np.ones((len(train), 1)), design_train])  # (n_tr, 1 + d)
    a_test = np.hstack([np.ones((len(test), 1)), design_test])
    beta, *_ = np.linalg.lstsq(a_train, y[train], rcond=None)
    return y[train] - a_train @ beta, y[test] - a_test @ beta


def build_covariates(samples: pd.DataFrame, *, sex: bool = False, population: bool = False,
                     genotypes: np.ndarray | pd.DataFrame | None = None, n_genotype_pcs: int = 3,
                     expression: pd.DataFrame | None = None, n_expression_pcs: int = 5) -> Covariates:
    """Covariates for the people of ``samples`` (rows in analysis order).

    ``sex`` uses the panel column ``gender``; ``population`` one-hot codes ``pop`` (first
    level dropped); ``genotypes`` is an ``(n, p)`` dosage matrix (e.g. all window SNPs)
    whose PCs become covariates; ``expression`` an ``(n, genes)`` table whose PCs act as
    PEER-like factors (the target gene is dropped per gene, see :meth:`Covariates.without`).
    With few genes (top10: several share the HLA region and its eQTLs), expression PCs can
    carry genetic signal and remove it: GEUVADIS computed PEER factors over ~20,000 genes.
    """
    fixed = pd.DataFrame(index=samples.index)
    for wanted, column in ((sex, "gender"), (population, "pop")):
        if wanted and column not in samples.columns:
            raise InputError(f"the sample table has no column {column!r}",
                             expected="the 1000 Genomes panel columns sample, pop, super_pop, gender")
    if sex:
        gender = samples["gender"].astype(str).str.lower()
        unknown = sorted(set(gender) - {"male", "female"})
        if unknown:
            raise InputError(f"gender values {unknown} are neither male nor female", where="column gender")
        fixed["sex_male"] = (gender == "male").astype(np.float64)
    if population:
        dummies = pd.get_dummies(samples["pop"].astype(str), prefix="pop", drop_first=True, dtype=np.float64)
        fixed = fixed.join(dummies)
    blocks: dict[str, tuple[pd.DataFrame, int]] = {}
    if genotypes is not None and n_genotype_pcs > 0:
        blocks["genotype_pcs"] = (_frame(genotypes, samples, "genotypes"), n_genotype_pcs)
    if expression is not None and n_expression_pcs > 0:
        blocks["expression_pcs"] = (_frame(expression, samples, "expression"), n_expression_pcs)
    return Covariates(fixed, blocks)


def covariates_for(names: tuple[str, ...] | list[str], samples: pd.DataFrame, *,
                   genotypes: np.ndarray | pd.DataFrame | None = None, n_genotype_pcs: int = 3,
                   expression: pd.DataFrame | None = None, n_expression_pcs: int = 5) -> Covariates | None:
    """:func:`build_covariates` from names (``ExpressionConfig.covariates``); None when there are none."""
    unknown = sorted(set(names) - set(COVARIATES))
    if unknown:
        raise ValueError(f"unknown covariates {unknown}; choose from {', '.join(COVARIATES)}")
    if not names:
        return None
    for name, given in (("genotype_pcs", genotypes), ("expression_pcs", expression)):
        if name in names and given is None:
            raise ValueError(f"covariate {name!r} needs the {name.split('_')[0]} matrix")
    return build_covariates(
        samples, sex="sex" in names, population="population" in names,
        genotypes=genotypes if "genotype_pcs" in names else None, n_genotype_pcs=n_genotype_pcs,
        expression=expression if "expression_pcs" in names else None, n_expression_pcs=n_expression_pcs,
    )


def _frame(matrix: np.ndarray | pd.DataFrame, samples: pd.DataFrame, what: str) -> pd.DataFrame:
    if isinstance(matrix, pd.DataFrame):
        missing = samples.index.difference(matrix.index)
        if len(missing):
            raise InputError(f"{what} lack samples {list(missing[:10])}")
        return matrix.loc[samples.index]
    if len(matrix) != len(samples):
        raise ValueError(f"{what} has {len(matrix)} rows for {len(samples)} samples")
    return pd.DataFrame(np.asarray(matrix), index=samples.index)
