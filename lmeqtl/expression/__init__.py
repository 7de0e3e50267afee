"""RQ2/RQ4: can haplotype embeddings predict gene expression, and do they beat eQTL baselines?

Modules, in the order a notebook uses them:

- :mod:`~lmeqtl.expression.processing`: GEUVADIS RPKM table -> people x genes expression.
- :mod:`~lmeqtl.expression.covariates`: covariates regressed out inside each training fold.
- :mod:`~lmeqtl.expression.features`: combining the two haplotypes; lead SNPs; truth.
- :mod:`~lmeqtl.expression.models`: the models, each with its inner-CV grid.
- :mod:`~lmeqtl.expression.prediction`: outer folds, nested CV of one model on one gene.
- :mod:`~lmeqtl.expression.comparison`: every method on every gene, on the same folds.
- :mod:`~lmeqtl.expression.evaluation`: r, R², bootstrap CIs, paired tests across genes.
- :mod:`~lmeqtl.expression.plots`: the figures.

Plots are not imported here (matplotlib is slow to import); use ``lmeqtl.expression.plots``.
"""

from lmeqtl.expression.comparison import (
    Comparison,
    Method,
    baseline_methods,
    embedding_methods,
    run_comparison,
)
from lmeqtl.expression.covariates import Covariates, build_covariates
from lmeqtl.expression.evaluation import (
    add_ceiling,
    bootstrap_ci,
    compare_to,
    gene_results,
    paired_comparison,
    paired_test_power,
    rvalue_results,
    summarise,
)
from lmeqtl.expression.features import (
    COMBINATIONS,
    align_rows,
    combine_haplotypes,
    flatten_pairs,
    genetic_value,
    lead_snps,
)
from lmeqtl.expression.models import EMBEDDING_MODELS, model_factory
from lmeqtl.expression.prediction import load_folds, nested_cv, outer_folds, save_folds
from lmeqtl.expression.processing import (
    average_replicates,
    inverse_normal,
    prepare_expression,
    samples_with_expression,
)

__all__ = [
    "COMBINATIONS", "EMBEDDING_MODELS", "Comparison", "Covariates", "Method", "add_ceiling", "align_rows",
    "average_replicates", "baseline_methods", "bootstrap_ci", "build_covariates", "combine_haplotypes",
    "compare_to", "embedding_methods", "flatten_pairs", "gene_results", "genetic_value", "inverse_normal",
    "lead_snps", "load_folds", "model_factory", "nested_cv", "outer_folds", "paired_comparison",
    "paired_test_power", "prepare_expression", "run_comparison", "rvalue_results", "samples_with_expression",
    "save_folds", "summarise",
]
