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

A notebook's flow (``cfg`` = ``preset.expression``)::

    from lmeqtl import expression as ex
    raw = read_geuvadis_expression(gd660_path)                      # lmeqtl.data.io
    ids = ex.samples_with_expression(ex.average_replicates(raw), cohort.samples, split="test")
    table = ex.prepare_expression(raw, cohort.genes, ids, cfg.transform)  # (people, genes)
    folds = ex.outer_folds(ids, cfg.outer_folds, cfg.seed)
    ex.save_folds(out / "folds.csv", folds)                          # RQ3 reuses them
    people = cohort.subset(ids)
    dosages = {g: people.dosage(g) for g in cohort.genes}            # (n, L)
    lead = ex.lead_snps(read_eqtl_table(eqtl_path), cohort.meta, cohort.genes)
    lead_dosage = {r.gene_id: dosages[r.gene_id][:, r.seq_idx] for r in lead.itertuples() if r.seq_idx >= 0}
    embeddings = {g: ex.align_rows(E[g], E_ids, ids, "embeddings") for g in cohort.genes}  # (n, 2, H)
    covariates = ex.covariates_for(cfg.covariates, people.samples, genotypes=np.hstack(list(dosages.values())),
                                   n_genotype_pcs=cfg.n_genotype_pcs, expression=table,
                                   n_expression_pcs=cfg.n_expression_pcs)
    comparison = ex.run_comparison(table, folds, embeddings=embeddings, dosages=dosages,
                                   lead_dosage=lead_dosage, genetic_values=truth, covariates=covariates,
                                   config=cfg)
    results = ex.add_ceiling(pd.concat([
        ex.gene_results(comparison.predictions, n_bootstrap=cfg.n_bootstrap, level=cfg.ci_level),
        ex.rvalue_results(lead, n_samples=len(ids))]))
    ex.summarise(results); ex.compare_to(results, "predixcan"); ex.paired_test_power(len(cohort.genes), 0.8)
"""

from lmeqtl.expression.comparison import (
    Comparison,
    Method,
    baseline_methods,
    embedding_methods,
    run_comparison,
)
from lmeqtl.expression.covariates import Covariates, build_covariates, covariates_for
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
    "average_replicates", "baseline_methods", "bootstrap_ci", "build_covariates", "combine_haplotypes", "covariates_for",
    "compare_to", "embedding_methods", "flatten_pairs", "gene_results", "genetic_value", "inverse_normal",
    "lead_snps", "load_folds", "model_factory", "nested_cv", "outer_folds", "paired_comparison",
    "paired_test_power", "prepare_expression", "run_comparison", "rvalue_results", "samples_with_expression",
    "save_folds", "summarise",
]
