"""RQ5: which SNPs drive the expression predictions, and do they sit in active chromatin?

=================  ===========================================================================
module             concept
=================  ===========================================================================
``attribution``    Integrated Gradients (captum), in-silico mutagenesis, linear coefficients -> per-SNP scores
``ranking``        average precision, recall@k, LD-proxy recall; the marginal eQTL scan; eQTL-table scores
``finemap``        SuSiE (IBSS, Wang et al. 2020) posterior inclusion probabilities
``chromatin``      one column per mark: SNPs in its peaks (files and overlap: ``lmeqtl.data.peaks``)
``enrichment``     odds ratio + Fisher's exact test, matched-background permutation test, per mark
``plots``          locus plot, enrichment forest plot, ranking metric plot
``analysis``       the chapter's library calls: scores per gene, evaluation, enrichment per method
``rq5``            the chapter's per-gene loops: baselines, embedding + ridge and fine-tuned attributions
``chapter``        earlier steps' outputs (fine-tuned models, embeddings), summaries and prose
=================  ===========================================================================
"""

from lmeqtl.explain.analysis import (
    attribution_scores,
    baseline_scores,
    choose_individuals,
    enrichment_by_method,
    evaluate_genes,
    snp_table,
)
from lmeqtl.explain.attribution import (
    aggregate,
    coefficient_scores,
    elastic_net_scores,
    embedding_ridge_predictor,
    haplotype_onehot,
    in_silico_mutagenesis,
    integrated_gradients,
    reference_baseline,
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

__all__ = [
    "SusieFit", "aggregate", "annotate_snps", "attribution_scores", "average_precision", "baseline_scores",
    "choose_individuals", "coefficient_scores", "elastic_net_scores", "embedding_ridge_predictor",
    "enrichment_by_method", "enrichment_table", "eqtl_table_scores", "evaluate_genes", "evaluate_methods",
    "fisher_enrichment", "haplotype_onehot", "in_silico_mutagenesis", "integrated_gradients",
    "marginal_association", "permutation_enrichment", "plot_enrichment_forest", "plot_locus",
    "plot_ranking_metric", "proxy_recall_at_k", "ranking_agreement", "recall_at_k", "reference_baseline",
    "select_snps", "snp_table", "susie", "top_per_group",
]
