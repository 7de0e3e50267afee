import numpy as np
import pytest
import torch

from lmeqtl.config import EmbedConfig, ExplainConfig, ModelConfig
from lmeqtl.explain import attribution_scores
from lmeqtl.explain.attribution import haplotype_onehot, integrated_gradients, reference_baseline
from lmeqtl.explain.predictors import EmbeddingRidge, fit_embedding_ridge, mlm_embedder
from lmeqtl.mlm.embed import embed_haplotypes
from lmeqtl.mlm.masking import N_TOKENS
from lmeqtl.mlm.model import HaplotypeMLM
from tests.explain_fixtures import ld_haplotypes

TINY = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8, dropout=0.0, snp_embedding=True)
N, L = 24, 40


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = HaplotypeMLM(TINY, 2, [30, L]).eval()
    torch.nn.init.normal_(model.snp_embedding.weight)
    haplotypes = ld_haplotypes(N, L, seed=3)  # (n, 2, L)
    embeddings = embed_haplotypes(model, haplotypes.reshape(-1, L), 1).reshape(N, 2, -1)  # (n, 2, H)
    expression = haplotypes.sum(1)[:, 7] + 0.3 * np.random.default_rng(0).normal(size=N)
    return model, haplotypes, embeddings, expression


def test_embedder_matches_embed_haplotypes(setup):
    model, haplotypes, embeddings, _ = setup
    onehot = haplotype_onehot(haplotypes, N_TOKENS)  # (n, 2, V, L)
    with torch.no_grad():
        ours = mlm_embedder(model, 1)(onehot.flatten(0, 1)).reshape(N, 2, -1).numpy()
    np.testing.assert_allclose(ours, embeddings, atol=1e-5)


@pytest.mark.parametrize("combine", ["sum", "mean"])
def test_predictor_equals_ridge_predict_on_embed_embeddings(setup, combine):
    model, haplotypes, embeddings, expression = setup
    fit = fit_embedding_ridge(embeddings, expression, combine=combine, folds=3, seed=1)
    pipeline = EmbeddingRidge(model, 1, fit)
    with torch.no_grad():
        predicted = pipeline(haplotype_onehot(haplotypes, N_TOKENS)).numpy()
    expected = fit.predict(embeddings)
    assert np.std(expected) > 1e-3  # the ridge did not shrink to the mean: the check means something
    np.testing.assert_allclose(predicted, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_ig_completeness_and_scores_through_the_pipeline(setup):
    model, haplotypes, embeddings, expression = setup
    fit = fit_embedding_ridge(embeddings, expression, folds=3)
    predictor = EmbeddingRidge(model, 1, fit).predictor()
    onehot = haplotype_onehot(haplotypes[:3], N_TOKENS)
    attribution, delta = integrated_gradients(predictor, onehot, n_steps=64)
    assert attribution.shape == (3, 2, L)
    with torch.no_grad():
        total = predictor(onehot) - predictor(reference_baseline(onehot))  # (3,)
    np.testing.assert_allclose(attribution.sum(axis=(1, 2)), total.numpy(), atol=0.05 * np.abs(total.numpy()).max()
                               + 1e-3)
    assert np.abs(delta).max() < 0.05 * np.abs(total.numpy()).max() + 1e-3
    scores = attribution_scores(predictor, haplotypes, config=ExplainConfig(n_individuals=3, ig_steps=4,
                                                                           ism_max_snps=5), n_tokens=N_TOKENS)
    assert scores["integrated_gradients"].shape == (L,) and np.isfinite(scores["ism"]).sum() == 5


def test_refuses_nonlinear_combination_and_masked_mode(setup):
    model, _, embeddings, expression = setup
    with pytest.raises(ValueError, match="combine"):
        fit_embedding_ridge(embeddings, expression, combine="concat_sorted")
    with pytest.raises(ValueError, match="single"):
        mlm_embedder(model, 1, EmbedConfig(mode="rolling"))


def test_full_window_attribution_of_a_finetuned_selecting_head_finds_its_gated_snps(tmp_path):
    """Trunk + the SNP-selecting head of RQ3, saved and loaded as step 04 saves it: IG and ISM over every SNP."""
    import dataclasses

    import pandas as pd

    from lmeqtl.config import FinetuneConfig
    from lmeqtl.data.cohort import Cohort
    from lmeqtl.explain import evaluate_genes, finetuned_full_attributions, full_attribution
    from lmeqtl.finetune import ExpressionModel, save_finetuned
    from lmeqtl.mlm.checkpoint import load_checkpoint, save_checkpoint

    gene, length, causal = "ENSG01.1", 300, (6, 285)
    torch.manual_seed(0)
    mlm = HaplotypeMLM(TINY, 1, [length]).eval()
    with torch.no_grad():  # identity-like encoder: each SNP's state starts from its own allele
        centre = mlm.encoder.weight[:, :, TINY.encoder_kernel // 2].clone()
        mlm.encoder.weight.zero_()
        mlm.encoder.weight[:, :, TINY.encoder_kernel // 2] = 3.0 * centre
    save_checkpoint(tmp_path / "pretrained", mlm, genes=[gene], data_fingerprint=None)
    mlm, info = load_checkpoint(tmp_path / "pretrained")
    config = FinetuneConfig(freeze="all", pooling="select", window_snps=None, select_dim=4)
    model = ExpressionModel(mlm, [gene], [0], [(0, length)], config)
    haplotypes = ld_haplotypes(40, length, seed=9)
    model.head.set_statistics(model.cache(haplotypes, 0), 0)  # fits the projection, then per-SNP statistics
    with torch.no_grad():
        model.head.gates[0][list(causal)] = torch.tensor([1.0, -0.8])
    save_finetuned(tmp_path / "finetuned", model, pretrained=tmp_path / "pretrained",
                   pretrained_sha256=info.get("weights_sha256"))
    samples = pd.DataFrame({"split": "train"}, index=pd.Index([f"HG{i:05d}" for i in range(40)], name="sample_id"))
    people = Cohort(samples=samples, meta=pd.DataFrame({"GENE_ID": [gene] * length, "seq_idx": range(length)}),
                    genes=[gene], haplotypes={gene: haplotypes})
    explain = ExplainConfig(n_individuals=6, ig_steps=2, ig_max_steps=64, ig_tolerance=0.01, ism_max_snps=5,
                            ism_batch_size=128)  # ism_max_snps does not apply: every SNP is flipped
    scores, diagnostics = finetuned_full_attributions({gene: tmp_path / "finetuned"}, tmp_path / "pretrained",
                                                      people, explain)
    row = diagnostics.iloc[0]
    assert row["ism_flips"] == 6 * 2 * length and row["n_people"] == 6 and row["ism_flips_per_s"] > 0
    assert row["ig_relative_delta"] <= 0.01 and row["ig_steps"] in (2, 4, 8, 16, 32, 64)
    assert set(scores[gene]) == {"finetuned_ig", "finetuned_ism", "finetuned_gate"}
    assert np.isfinite(scores[gene]["finetuned_ism"]).all()
    truth = np.isin(np.arange(length), causal)
    metrics = evaluate_genes(scores, {gene: truth}, config=explain).set_index("method")
    assert metrics.loc["finetuned_gate", "average_precision"] == 1.0
    assert metrics.loc["finetuned_ism", "average_precision"] == 1.0 and metrics.loc["finetuned_ism", "recall_at_5"] == 1
    assert metrics.loc["finetuned_ig", "average_precision"] > 0.9  # measured: 1.0 (8 steps, relative delta 0.009)
    # the person-level predictor (both haplotypes per flip) gives the same ISM as the haplotype terms
    person_level, _ = full_attribution(model.predictor(gene), haplotypes, config=dataclasses.replace(explain, ig_steps=1,
                                       ig_max_steps=1), n_tokens=N_TOKENS)
    np.testing.assert_allclose(person_level["ism"], scores[gene]["finetuned_ism"], rtol=1e-4, atol=1e-6)
