import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from lmeqtl.config import EmbedConfig, ExplainConfig, FinetuneConfig, ModelConfig
from lmeqtl.data.truth import Truth
from lmeqtl.explain import model_attributions, scoring
from lmeqtl.finetune.checkpoints import save_finetuned
from lmeqtl.finetune.model import ExpressionModel
from lmeqtl.mlm.checkpoint import load_checkpoint, save_checkpoint
from lmeqtl.mlm.embed import embed_haplotypes
from lmeqtl.mlm.model import HaplotypeMLM
from tests.mlm_fixtures import founder_cohort

TINY = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8, dropout=0.0, snp_embedding=True)
GENES = {"ENSG01.1": 30, "ENSG02.1": 24}
CAUSAL = {"ENSG01.1": 11, "ENSG02.1": 5}
CONFIG = ExplainConfig(n_individuals=6, ig_steps=8, ism_max_snps=4, susie_effects=3, enet_folds=3, enet_alphas=5,
                       seed=3)
SINGLE = EmbedConfig(mode="single", pooling="mean")

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


@pytest.fixture(scope="module")
def setup():
    """24 people, expression driven by one SNP per gene, a random tiny MLM and its embeddings."""
    people = founder_cohort(n_samples=24, genes=GENES, n_founders=5, seed=2)
    rng = np.random.default_rng(0)
    expression = pd.DataFrame({g: people.dosage(g)[:, s] + rng.normal(0, 0.5, 24) for g, s in CAUSAL.items()},
                              index=pd.Index(people.sample_ids, name="sample_id"))
    eqtl = pd.DataFrame({"GENE_ID": ["ENSG01.1", "ENSG02.1"], "SNP_ID": ["rs111", "nope"],
                         "SNPpos": [0, 1_000_000 + 100 * 5], "pvalue": [1e-6, 1e-3]})
    torch.manual_seed(0)
    mlm = HaplotypeMLM(TINY, 2, list(GENES.values())).eval()
    torch.nn.init.normal_(mlm.snp_embedding.weight)
    embeddings = {g: embed_haplotypes(mlm, people.haplotypes[g].reshape(-1, n), i).reshape(24, 2, -1)  # (n, 2, H)
                  for i, (g, n) in enumerate(GENES.items())}
    return people, expression, eqtl, mlm, embeddings


def test_baseline_scores_by_gene_one_score_per_snp_and_the_eqtl_table(setup):
    people, expression, eqtl, _, _ = setup
    scores = scoring.baseline_scores_by_gene(people, expression, eqtl, CONFIG)
    assert list(scores) == list(GENES)
    for gene, length in GENES.items():
        assert set(scores[gene]) == {"marginal_eqtl", "elastic_net", "susie_pip", "eqtl_table"}
        assert all(v.shape == (length,) for v in scores[gene].values())
        assert np.nanargmax(scores[gene]["marginal_eqtl"]) == CAUSAL[gene] or np.isclose(  # founder LD: ties
            scores[gene]["marginal_eqtl"][CAUSAL[gene]], np.nanmax(scores[gene]["marginal_eqtl"]))
    table = scores["ENSG01.1"]["eqtl_table"]
    assert table[11] == pytest.approx(6.0) and np.isnan(np.delete(table, 11)).all()  # matched on id
    assert scores["ENSG02.1"]["eqtl_table"][5] == pytest.approx(3.0)  # matched on position
    again = scoring.baseline_scores_by_gene(people, expression, eqtl, CONFIG, n_jobs=2)  # 2 processes: the same
    for gene in GENES:  # (SuSiE's BLAS sums may run in another order on one thread: rounding only)
        for method, values in scores[gene].items():
            np.testing.assert_allclose(values, again[gene][method], rtol=0, atol=1e-8)


def test_ridge_attributions_shapes_fits_and_seed(setup):
    people, expression, _, mlm, embeddings = setup
    gene_map = {g: i for i, g in enumerate(GENES)}
    scores, fits = model_attributions.ridge_attributions(mlm, gene_map, people, expression, embeddings, CONFIG, SINGLE)
    assert list(fits.index) == list(GENES) and list(fits.columns) == ["alpha", "in_sample_r"]
    assert (fits["in_sample_r"] > 0).all()
    for gene, length in GENES.items():
        ig, ism = scores[gene]["ridge_ig"], scores[gene]["ridge_ism"]
        assert ig.shape == ism.shape == (length,) and np.isfinite(ig).all() and ig.max() > 0
        assert np.isfinite(ism).sum() == CONFIG.ism_max_snps  # ISM only on IG's top SNPs
    again, _ = model_attributions.ridge_attributions(mlm, gene_map, people, expression, embeddings, CONFIG, SINGLE)
    np.testing.assert_array_equal(scores["ENSG01.1"]["ridge_ig"], again["ENSG01.1"]["ridge_ig"])
    other, _ = model_attributions.ridge_attributions(mlm, gene_map, people, expression, embeddings,
                                      dataclasses.replace(CONFIG, seed=4), SINGLE)  # another draw of people
    assert not np.allclose(scores["ENSG01.1"]["ridge_ig"], other["ENSG01.1"]["ridge_ig"])


def test_finetuned_attributions_load_each_gene_model(setup, tmp_path):
    people, _, _, mlm, _ = setup
    save_checkpoint(tmp_path / "pretrained", mlm, genes=list(GENES), data_fingerprint=None)
    sha = load_checkpoint(tmp_path / "pretrained")[1]["weights_sha256"]
    torch.manual_seed(1)
    model = ExpressionModel(load_checkpoint(tmp_path / "pretrained")[0], ["ENSG02.1"], [1], [(0, GENES["ENSG02.1"])],
                            FinetuneConfig(freeze="all", pooling="mean"))
    torch.nn.init.normal_(model.head.weight)  # a fresh head predicts a constant: nothing to attribute
    save_finetuned(tmp_path / "tuned", model, pretrained=tmp_path / "pretrained", pretrained_sha256=sha)
    scores = model_attributions.finetuned_attributions({"ENSG02.1": tmp_path / "tuned"}, tmp_path / "pretrained", people, CONFIG)
    assert list(scores) == ["ENSG02.1"]  # genes without a model are absent
    ig = scores["ENSG02.1"]["finetuned_ig"]
    assert ig.shape == scores["ENSG02.1"]["finetuned_ism"].shape == (GENES["ENSG02.1"],) and ig.max() > 0
    again = model_attributions.finetuned_attributions({"ENSG02.1": tmp_path / "tuned"}, tmp_path / "pretrained", people, CONFIG)
    np.testing.assert_array_equal(ig, again["ENSG02.1"]["finetuned_ig"])


def test_merge_methods_causal_masks_and_snp_table(setup):
    people, _, _, _, _ = setup
    one = {g: {"marginal_eqtl": np.arange(n, dtype=float), "eqtl_table": np.zeros(n)} for g, n in GENES.items()}
    tuned = {"ENSG02.1": {"finetuned_ig": np.ones(GENES["ENSG02.1"])}}
    scores = scoring.merge_scores(one, tuned)
    assert list(scores["ENSG02.1"]) == ["marginal_eqtl", "eqtl_table", "finetuned_ig"]
    assert scoring.scored_methods(scores, list(GENES)) == ["marginal_eqtl"]  # ENSG01.1 has no fine-tuned model
    truth = Truth(causal_snps=pd.DataFrame({"gene_id": list(CAUSAL), "seq_idx": list(CAUSAL.values())}),
                  **{f.name: None for f in dataclasses.fields(Truth) if f.name != "causal_snps"})
    is_causal = scoring.causal_masks(truth, people)
    assert scoring.causal_masks(None, people) is None
    assert [np.flatnonzero(is_causal[g]).tolist() for g in GENES] == [[11], [5]]
    snps = scoring.snp_scores(people, scoring.merge_scores(one), is_causal, {"ENSG01.1": 1_000_500})
    assert len(snps) == sum(GENES.values()) and snps["is_causal"].sum() == 2
    assert snps.loc[snps["GENE_ID"] == "ENSG01.1", "tss_distance"].iloc[0] == -500
    second = snps[snps["GENE_ID"] == "ENSG02.1"]  # no TSS: the window's median position
    assert second["tss_distance"].abs().min() <= 50


def test_agreement_by_gene_averages_over_genes():
    reference = np.array([5.0, 4.0, 3.0, np.nan, np.nan, np.nan])  # the table lists three SNPs
    scores = {"g1": {"same": np.arange(6, 0, -1.0), "reversed": np.arange(6.0), "eqtl_table": reference},
              "g2": {"same": np.arange(6, 0, -1.0), "reversed": np.arange(6, 0, -1.0), "eqtl_table": reference}}
    mean = scoring.agreement_by_gene(scores, ["same", "reversed"], k=3)
    assert list(mean.index) == ["same", "reversed"] and list(mean.columns) == ["spearman", "top_3_overlap"]
    assert mean.loc["same", "spearman"] == pytest.approx(1.0) and mean.loc["same", "top_3_overlap"] == 1.0
    assert mean.loc["reversed", "spearman"] == pytest.approx(0.0)  # -1 on g1, +1 on g2
    assert mean.loc["reversed", "top_3_overlap"] == pytest.approx(0.5)
