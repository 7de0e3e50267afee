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
