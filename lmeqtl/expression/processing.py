"""Expression tables in the GEUVADIS ``GD660.GeneQuantRPKM`` layout -> one value per person and gene.

The raw table has one row per gene (index ``TargetID``, a versioned Ensembl id), the
annotation columns ``Gene_Symbol, Chr, Coord`` and then one RPKM column per sequencing
library, named ``<sample>.<n>.<lane...>`` (e.g. ``HG00096.1.M_111124_6``). Some people were
sequenced more than once: their libraries are averaged (in RPKM, as GEUVADIS did), then
each gene is log2(RPKM + 1) transformed and, by default, rank-based inverse-normal
transformed across the people analysed.

The transform is applied once, to the people of the analysis, before cross-validation: it
uses no genotype or prediction, only the ranks of each gene's own values (the usual
GEUVADIS / PrediXcan practice). Everything fitted (scaling, covariates, models) is fitted
inside the folds (see :mod:`lmeqtl.expression.prediction`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import rankdata

from lmeqtl.errors import InputError

ANNOTATION_COLUMNS = ("Gene_Symbol", "Chr", "Coord")
TRANSFORMS = ("inverse_normal", "log2", "none")

PathLike = str | os.PathLike[str] | None


def library_sample_ids(libraries: Sequence[str]) -> np.ndarray:
    """Sample id of each library column: the text before the first ``.``."""
    return pd.Index(libraries, dtype=object).astype(str).str.split(".", n=1).str[0].to_numpy()


def strip_version(gene_ids: Sequence[str]) -> np.ndarray:
    """``ENSG00000176681.9`` -> ``ENSG00000176681`` (ids without a version are kept)."""
    return pd.Index(gene_ids, dtype=object).astype(str).str.split(".", n=1).str[0].to_numpy()


def library_columns(raw: pd.DataFrame, path: PathLike = None) -> list[str]:
    """The RPKM columns of a raw table, checked to be numeric, finite and non-negative."""
    libraries = [c for c in raw.columns if c not in ANNOTATION_COLUMNS]
    if not libraries:
        raise InputError("no library columns", path=path,
                         expected="columns like HG00096.1.M_111124_6 after Gene_Symbol, Chr, Coord")
    values = raw[libraries]
    not_numeric = [c for c in libraries if not pd.api.types.is_numeric_dtype(values[c])]
    if not_numeric:
        raise InputError(f"library columns {not_numeric[:5]} are not numeric", path=path,
                         expected="RPKM values")
    matrix = values.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(matrix) | (matrix < 0)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise InputError(f"RPKM {matrix[row, col]:g}", path=path,
                         where=f"gene {raw.index[row]}, column {libraries[col]}", expected="finite non-negative RPKM")
    return libraries


def replicate_counts(raw: pd.DataFrame, path: PathLike = None) -> pd.Series:
    """Number of sequencing libraries per person (index ``sample_id``)."""
    ids = library_sample_ids(library_columns(raw, path))
    counts = pd.Series(ids).value_counts(sort=False)
    counts.index.name = "sample_id"
    return counts.rename("n_libraries")


def average_replicates(raw: pd.DataFrame, path: PathLike = None) -> pd.DataFrame:
    """``(genes, libraries)`` RPKM -> ``(genes, samples)`` mean RPKM over each person's libraries.

    Columns are the sample ids in order of first appearance; the index is kept.
    """
    libraries = library_columns(raw, path)
    values = raw[libraries].astype(np.float64)
    values.columns = library_sample_ids(libraries)
    averaged = values.T.groupby(level=0, sort=False).mean().T  # (genes, samples)
    averaged.columns.name = "sample_id"
    return averaged


def select_genes(expression: pd.DataFrame, genes: Sequence[str], path: PathLike = None) -> pd.DataFrame:
    """Rows of ``genes`` (the dataset's ids), matched exactly or else by unversioned Ensembl id.

    The result is indexed by the requested ids, in their order. Raises :class:`InputError`
    listing every gene that is absent or matches more than one row.
    """
    available = pd.Index(expression.index.astype(str))
    unversioned = pd.Series(available, index=strip_version(available))
    rows, missing, ambiguous = [], [], []
    for gene in genes:
        if gene in available:
            rows.append(gene)
            continue
        candidates = unversioned.get(strip_version([gene])[0])
        if candidates is None:
            missing.append(gene)
        elif isinstance(candidates, pd.Series):
            ambiguous.append(f"{gene} ({', '.join(candidates)})")
        else:
            rows.append(candidates)
    if missing or ambiguous:
        problems = []
        if missing:
            problems.append(f"{len(missing)} genes absent: {', '.join(missing[:10])}")
        if ambiguous:
            problems.append(f"{len(ambiguous)} genes ambiguous: {'; '.join(ambiguous[:10])}")
        raise InputError("; ".join(problems), path=path, where="column TargetID",
                         expected="one row per gene of the dataset (versions may differ)")
    selected = expression.loc[rows].copy()
    selected.index = pd.Index(list(genes), name="gene_id")
    return selected


def match_samples(expression: pd.DataFrame, sample_ids: Sequence[str], path: PathLike = None) -> pd.DataFrame:
    """Columns of ``expression`` in the order of ``sample_ids``; every one must be present.

    The error lists the missing samples, and any that differ only in letter case or by a
    suffix (``HG00096`` vs ``HG00096.1``), which usually means mismatched naming.
    """
    sample_ids = [str(s) for s in sample_ids]
    duplicated = pd.Index(sample_ids)[pd.Index(sample_ids).duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"sample ids requested twice: {list(duplicated[:10])}")
    columns = pd.Index(expression.columns.astype(str))
    missing = [s for s in sample_ids if s not in columns]
    if missing:
        near = {c.upper().split(".")[0]: c for c in columns}
        hints = [f"{s}~{near[s.upper().split('.')[0]]}" for s in missing if s.upper().split(".")[0] in near]
        message = f"{len(missing)} of {len(sample_ids)} samples have no expression: {', '.join(missing[:10])}"
        if len(missing) > 10:
            message += ", ..."
        if hints:
            message += f"; named differently? {', '.join(hints[:10])}"
        raise InputError(message, path=path, expected="an expression column for every sample analysed")
    return expression.loc[:, sample_ids]


def samples_with_expression(expression: pd.DataFrame, samples: pd.DataFrame, split: str | None = "test",
                            path: PathLike = None) -> list[str]:
    """Ids of cohort ``samples`` (optionally one ``split``) that have expression, in cohort order.

    Raises :class:`InputError` when none match, showing ids from both sides.
    """
    cohort_ids = samples.index.astype(str)
    if split is not None:
        cohort_ids = cohort_ids[(samples["split"] == split).to_numpy()]
    have = set(expression.columns.astype(str))
    ids = [s for s in cohort_ids if s in have]
    if not ids:
        raise InputError(
            f"no {split or 'cohort'} sample has expression; cohort ids look like {list(cohort_ids[:3])}, "
            f"expression ids like {list(expression.columns[:3])}", path=path,
            expected="expression columns named by 1000 Genomes sample id")
    return ids


def inverse_normal(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rank-based inverse-normal transform (Blom offsets, ties share their mean rank)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    ranks = rankdata(values, axis=axis)
    return ndtri((ranks - 0.375) / (n + 0.25))


def transform_expression(rpkm: pd.DataFrame, transform: str = "inverse_normal") -> pd.DataFrame:
    """``(genes, samples)`` RPKM -> log2(RPKM + 1), then per-gene inverse-normal (default)."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")
    values = rpkm.to_numpy(dtype=np.float64)  # (genes, samples)
    if transform != "none":
        values = np.log2(values + 1.0)
    if transform == "inverse_normal":
        values = inverse_normal(values, axis=1)
    return pd.DataFrame(values, index=rpkm.index, columns=rpkm.columns)


def prepare_expression(raw: pd.DataFrame, genes: Sequence[str], sample_ids: Sequence[str],
                       transform: str = "inverse_normal", path: PathLike = None) -> pd.DataFrame:
    """The analysis table: ``(samples, genes)`` transformed expression, rows in ``sample_ids`` order.

    Replicates averaged -> ``genes`` kept -> ``sample_ids`` matched -> transformed across
    exactly these people.
    """
    averaged = average_replicates(raw, path)
    table = match_samples(select_genes(averaged, genes, path), sample_ids, path)
    out = transform_expression(table, transform).T  # (samples, genes)
    out.index.name, out.columns.name = "sample_id", "gene_id"
    return out
