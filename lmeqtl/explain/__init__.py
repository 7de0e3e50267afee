"""RQ5: which SNPs drive the expression predictions, and do they sit in active chromatin?

========================  ===========================================================================
module                    concept
========================  ===========================================================================
``attribution``           Integrated Gradients (captum), in-silico mutagenesis, linear coefficients -> per-SNP scores
``ranking``               average precision, recall@k, LD-proxy recall; the marginal eQTL scan; eQTL-table scores
``finemap``               SuSiE (IBSS, Wang et al. 2020) posterior inclusion probabilities
``chromatin``             one column per mark: SNPs in its peaks (files and overlap: ``lmeqtl.data.peaks``)
``enrichment``            odds ratio + Fisher's exact test, matched-background permutation test, per mark
``predictors``            RQ2's embedding + ridge pipeline and its contextual method as differentiable predictors
``scoring``               every method's per-SNP scores, per gene and over a cohort's genes; their evaluation
``model_attributions``    IG and ISM of the book's models (ridge, contextual, fine-tuned) over a cohort's genes
``plots``                 locus plot, enrichment forest plot, ranking metric plot
========================  ===========================================================================
"""

from lmeqtl.explain.attribution import (
    aggregate,
    coefficient_scores,
    converged_integrated_gradients,
    elastic_net_scores,
    embedding_ridge_predictor,
    haplotype_ism,
    haplotype_onehot,
    in_silico_mutagenesis,
    integrated_gradients,
    reference_baseline,
    relative_delta,
    select_snps,
)
from lmeqtl.explain.chromatin import annotate_snps
from lmeqtl.explain.enrichment import (
    enrichment_table,
    fisher_enrichment,
    permutation_enrichment,
    top_per_group,
)
from lmeqtl.explain.finemap import SusieFit, susie
from lmeqtl.explain.model_attributions import (
    contextual_attributions,
    finetuned_attributions,
    finetuned_full_attributions,
    ridge_attributions,
)
from lmeqtl.explain.plots import plot_enrichment_forest, plot_locus, plot_ranking_metric
from lmeqtl.explain.ranking import (
    average_precision,
    eqtl_table_scores,
    evaluate_methods,
    marginal_association,
    proxy_recall_at_k,
    ranking_agreement,
    recall_at_k,
)
from lmeqtl.explain.scoring import (
    agreement_by_gene,
    attribution_scores,
    baseline_scores,
    baseline_scores_by_gene,
    causal_masks,
    choose_individuals,
    enrichment_by_method,
    evaluate_genes,
    full_attribution,
    merge_scores,
    scored_methods,
    snp_scores,
    snp_table,
)

__all__ = [
    "aggregate", "agreement_by_gene", "annotate_snps", "attribution_scores", "average_precision",
    "baseline_scores", "baseline_scores_by_gene", "causal_masks", "choose_individuals", "coefficient_scores",
    "contextual_attributions",
    "converged_integrated_gradients", "elastic_net_scores", "embedding_ridge_predictor", "enrichment_by_method",
    "enrichment_table", "eqtl_table_scores", "evaluate_genes", "evaluate_methods", "finetuned_attributions",
    "finetuned_full_attributions", "fisher_enrichment", "full_attribution", "haplotype_ism", "haplotype_onehot",
    "in_silico_mutagenesis", "integrated_gradients", "marginal_association",
    "merge_scores", "permutation_enrichment", "plot_enrichment_forest", "plot_locus", "plot_ranking_metric",
    "proxy_recall_at_k", "ranking_agreement", "recall_at_k", "reference_baseline", "relative_delta",
    "ridge_attributions",
    "scored_methods", "select_snps", "snp_scores", "snp_table", "susie", "SusieFit", "top_per_group",
]
