"""RQ5 end to end from library calls on two tiny simulated genes, and the figures."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from explain_fixtures import ld_haplotypes

from lmeqtl.config import get_preset
from lmeqtl.explain.chromatin import annotate_snps
from lmeqtl.explain.plots import plot_enrichment_forest, plot_locus, plot_ranking_metric
from lmeqtl.explain.scoring import (
    attribution_scores,
    baseline_scores,
    choose_individuals,
    enrichment_by_method,
    evaluate_genes,
    snp_table,
)

matplotlib.use("Agg")
CONFIG = get_preset("smoke").explain
GENES = {"ENSG_A.1": (40, 1_000_000), "ENSG_B.1": (90, 2_000_000)}  # causal SNP, TSS
L = 120


@pytest.fixture(scope="module")
def study():
    """Per gene: meta, haplotypes, expression from one causal SNP, and an 'oracle' linear predictor."""
    rng = np.random.default_rng(0)
    out = {}
    for k, (gene, (causal, tss)) in enumerate(GENES.items()):
        haplotypes = ld_haplotypes(150, L, seed=k, copy=0.7)
        dosage = haplotypes.sum(1).astype(float)
        expression = 0.7 * dosage[:, causal] + rng.normal(size=150)
        meta = pd.DataFrame({"chrom": "6", "pos": tss - 60_000 + 1000 * np.arange(L), "id": [f"rs{k}_{j}" for j in range(L)],
                             "AF": haplotypes.mean((0, 1)), "GENE_ID": gene, "seq_idx": np.arange(L)})
        beta = torch.zeros(L)
        beta[causal] = 0.7

        def predictor(onehot, beta=beta):  # (B, 2, V, L) -> (B,)
            return torch.tanh((onehot[:, :, 1] * beta).sum((1, 2)))

        out[gene] = {"meta": meta, "haplotypes": haplotypes, "dosage": dosage, "expression": expression,
                     "predictor": predictor, "is_causal": np.arange(L) == causal, "tss": tss}
    return out


@pytest.fixture(scope="module")
def scores(study):
    return {gene: {**attribution_scores(d["predictor"], d["haplotypes"], config=CONFIG),
                   **baseline_scores(d["dosage"], d["expression"], CONFIG)} for gene, d in study.items()}


def test_scores_rank_the_causal_snp_first_for_every_method(study, scores, tmp_path):
    for gene in study:
        assert set(scores[gene]) == {"integrated_gradients", "ism", "marginal_eqtl", "elastic_net", "susie_pip"}
        assert np.isnan(scores[gene]["ism"]).sum() == L - CONFIG.ism_max_snps
    metrics = evaluate_genes(scores, {g: d["is_causal"] for g, d in study.items()},
                             {g: d["dosage"] for g, d in study.items()}, CONFIG)
    assert len(metrics) == 2 * 5 and list(metrics.columns[:2]) == ["gene", "method"]
    assert (metrics["recall_at_1"] == 1.0).all(), metrics[["gene", "method", "recall_at_1"]]
    assert (metrics["proxy_recall_at_1"] == 1.0).all()
    plot_ranking_metric(metrics).savefig(tmp_path / "average_precision.png")


def test_enrichment_across_genes_and_figures(study, scores, tmp_path):
    snps = pd.concat([snp_table(d["meta"], {**scores[g], "is_causal": d["is_causal"]}, d["tss"])
                      for g, d in study.items()], ignore_index=True)
    causal_pos = snps.loc[snps.is_causal, "pos"].to_numpy()
    peaks = {"H3K27ac": pd.DataFrame({"chrom": "chr6", "start": causal_pos - 3000, "end": causal_pos + 3000}),
             "H3K9me3": pd.DataFrame({"chrom": "chr6", "start": [990_000], "end": [1_010_000]})}
    annotation = annotate_snps(snps, peaks)
    table = enrichment_by_method(snps, annotation, ["is_causal", "susie_pip"], config=CONFIG,
                                 planted={"H3K27ac": np.inf})
    assert list(table.columns[:2]) == ["method", "mark"] and len(table) == 4
    truth = table[(table.method == "is_causal") & (table.mark == "H3K27ac")].iloc[0]
    assert truth.n_top == 2 and truth.n_top_in_peak == 2 and truth.odds_ratio > 1
    fig = plot_enrichment_forest(table)
    fig.savefig(tmp_path / "forest.png")
    assert fig.axes[0].get_xscale() == "log"
    d = study["ENSG_A.1"]
    fig = plot_locus(d["meta"]["pos"], scores["ENSG_A.1"], chrom="6", eqtl_minus_log10_p=scores["ENSG_A.1"]["marginal_eqtl"],
                     peaks=peaks, is_causal=d["is_causal"], tss=d["tss"], title="ENSG_A.1")
    fig.savefig(tmp_path / "locus.png")
    assert len(fig.axes) == 5 + 1 + 1  # methods, eQTL, peak tracks
    assert "position (Mb)" in fig.axes[-1].get_xlabel()


def test_individuals_are_a_seeded_subset():
    assert list(choose_individuals(5, 8, seed=1)) == [0, 1, 2, 3, 4]
    first = choose_individuals(100, 8, seed=1)
    assert len(first) == 8 and np.array_equal(first, choose_individuals(100, 8, seed=1))
