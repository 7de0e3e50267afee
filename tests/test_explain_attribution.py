import numpy as np
import pytest
import torch
from explain_fixtures import PlantedSnpModel, TinyPersonModel, ld_haplotypes

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
    scatter_scores,
    select_snps,
)
from lmeqtl.explain.ranking import average_precision, recall_at_k


def test_onehot_and_reference_baseline():
    haplotypes = np.array([[[0, 1, 1], [1, 0, 0]]], dtype=np.uint8)
    onehot = haplotype_onehot(haplotypes, n_tokens=3)
    assert onehot.shape == (1, 2, 3, 3)
    assert torch.equal(onehot[0, 0, 1], torch.tensor([0.0, 1.0, 1.0]))  # alt channel
    assert torch.equal(onehot.sum(2), torch.ones(1, 2, 3))
    base = reference_baseline(onehot)
    assert torch.equal(base[:, :, 0], torch.ones(1, 2, 3)) and base[:, :, 1:].sum() == 0
    with pytest.raises(ValueError, match="0 \\(ref\\) / 1 \\(alt\\)"):
        haplotype_onehot(np.full((1, 2, 3), 2, dtype=np.uint8))


def test_integrated_gradients_completeness_on_a_nonlinear_model():
    model = TinyPersonModel(n_tokens=3)
    onehot = haplotype_onehot(ld_haplotypes(6, 40, seed=1), n_tokens=3)
    attribution, delta = integrated_gradients(model, onehot, n_steps=64)
    assert attribution.shape == (6, 2, 40)
    with torch.no_grad():
        difference = (model(onehot) - model(reference_baseline(onehot))).numpy()
    assert np.abs(difference).max() > 1e-2  # the test is not vacuous
    np.testing.assert_allclose(attribution.sum(axis=(1, 2)), difference, atol=2e-3 * np.abs(difference).max())
    assert np.abs(delta).max() < 2e-3 * np.abs(difference).max()
    reference_haplotypes = onehot[:, :, 1].numpy() == 0  # IG from the reference baseline is 0 there
    assert np.all(attribution[reference_haplotypes] == 0)


def test_integrated_gradients_of_a_linear_model_is_coefficient_times_allele():
    beta = torch.linspace(-1, 1, 10)
    onehot = haplotype_onehot(ld_haplotypes(4, 10, seed=2))
    attribution, _ = integrated_gradients(lambda x: (x[:, :, 1] * beta).sum((1, 2)), onehot, n_steps=4)
    np.testing.assert_allclose(attribution, (onehot[:, :, 1] * beta).numpy(), atol=1e-6)


def test_ism_ranks_the_planted_causal_snp_first_and_batching_does_not_change_it():
    haplotypes = ld_haplotypes(8, 30, seed=3)
    model = PlantedSnpModel(causal=17, length=30)
    onehot = haplotype_onehot(haplotypes)
    effect = in_silico_mutagenesis(model, onehot, batch_size=7)
    assert effect.shape == (8, 2, 30)
    score = aggregate(effect)
    assert np.argmax(score) == 17
    np.testing.assert_allclose(in_silico_mutagenesis(model, onehot, batch_size=1000), effect, atol=1e-6)
    # the faint SNPs' effect is the linear coefficient, whichever allele the person carries
    np.testing.assert_allclose(effect[:, :, 3], model.faint[3].item(), atol=1e-6)


def test_ism_on_a_subset_and_on_single_haplotype_inputs():
    haplotypes = ld_haplotypes(5, 30, seed=4)
    model = PlantedSnpModel(causal=9, length=30)
    subset = np.array([2, 9, 20])
    effect = in_silico_mutagenesis(model, haplotype_onehot(haplotypes), snps=subset)
    assert effect.shape == (5, 2, 3)
    single = in_silico_mutagenesis(model, haplotype_onehot(haplotypes)[:, 0], snps=subset)  # (B, V, L)
    assert single.shape == (5, 1, 3)
    full = scatter_scores(aggregate(effect), subset, 30)
    assert np.nanargmax(full) == 9 and np.isnan(full[0])


def test_extra_arguments_follow_the_batch():
    model = PlantedSnpModel(causal=4, length=12)

    def predictor(onehot, scale):
        return model(onehot) * scale

    onehot = haplotype_onehot(ld_haplotypes(3, 12, seed=5))
    scale = torch.tensor([1.0, 0.0, 2.0])
    effect = in_silico_mutagenesis(predictor, onehot, scale, batch_size=5)
    assert np.all(effect[1] == 0) and np.abs(effect[2]).sum() > 0
    attribution, _ = integrated_gradients(predictor, onehot, scale, n_steps=4)
    assert np.all(attribution[1] == 0)


def test_aggregate_and_select():
    values = np.array([[[1.0, -2.0, 0.0]], [[-1.0, 0.0, 0.0]]])  # (n=2, 1, L=3)
    alt = np.array([[[1, 1, 0]], [[1, 0, 0]]])
    np.testing.assert_allclose(aggregate(values), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(aggregate(values, "mean"), [0.0, -1.0, 0.0])
    np.testing.assert_allclose(aggregate(values, "carrier_mean_abs", alt=alt), [1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(values, "median")
    assert list(select_snps(np.array([0.1, np.nan, 0.9, 0.5]), 2)) == [2, 3]
    assert list(select_snps(np.array([0.1, 0.2]), None)) == [0, 1]


def test_linear_coefficients_map_back_to_snps():
    np.testing.assert_allclose(coefficient_scores([-2.0, 1.0], snps=[4, 1], n_snps=5), [0, 1, 0, 0, 2])
    rng = np.random.default_rng(0)
    dosage = ld_haplotypes(200, 40, seed=6).sum(1).astype(float)
    expression = 0.8 * dosage[:, 25] + rng.normal(scale=0.5, size=200)
    score = elastic_net_scores(dosage, expression, seed=1)
    assert score.shape == (40,) and np.argmax(score) == 25
    np.testing.assert_array_equal(score, elastic_net_scores(dosage, expression, seed=1))


def test_embedding_ridge_pipeline_is_a_differentiable_predictor():
    torch.manual_seed(0)
    projection = torch.randn(20, 6)

    def embedder(onehot):  # (B, V, L) -> (B, H), linear in the alt channel
        return onehot[:, 1] @ projection

    weight = np.linspace(-1, 1, 6)
    predictor = embedding_ridge_predictor(embedder, weight, bias=0.5)
    onehot = haplotype_onehot(ld_haplotypes(3, 20, seed=7))
    expected = ((onehot[:, 0, 1] + onehot[:, 1, 1]) @ projection) @ torch.as_tensor(weight, dtype=torch.float32) + 0.5
    torch.testing.assert_close(predictor(onehot), expected)
    attribution, _ = integrated_gradients(predictor, onehot, n_steps=4)
    per_snp = (projection @ torch.as_tensor(weight, dtype=torch.float32)).numpy()  # exact for a linear map
    np.testing.assert_allclose(attribution, onehot[:, :, 1].numpy() * per_snp, atol=1e-5)
    with pytest.raises(ValueError, match="linear"):
        embedding_ridge_predictor(embedder, weight, combine="concat_sorted")


class TwoSnpHaplotypeModel(torch.nn.Module):
    """A sum of one term per haplotype: two planted SNPs (one in a same-haplotype interaction) + a faint conv context."""

    def __init__(self, causal: tuple[int, int], seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.causal = causal
        self.conv = torch.nn.Conv1d(2, 3, 9, padding=4)

    def haplotype_term(self, onehot: torch.Tensor) -> torch.Tensor:  # (B, V, L) -> (B,)
        alt = onehot[:, 1]  # (B, L)
        a, b = self.causal
        context = 0.1 * torch.tanh(self.conv(onehot)).mean((1, 2))
        return 1.5 * alt[:, a] * (1 + 0.5 * alt[:, a + 1]) - alt[:, b] + context

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:  # (B, 2, V, L) -> (B,)
        return self.haplotype_term(onehot.flatten(0, 1)).reshape(-1, 2).sum(1)


def test_ism_over_every_snp_ranks_the_planted_snps_first_and_batching_and_haplotype_terms_change_nothing():
    length, causal = 300, (4, 290)
    model = TwoSnpHaplotypeModel(causal)
    haplotypes = ld_haplotypes(6, length, seed=8)
    onehot = haplotype_onehot(haplotypes)
    with torch.no_grad():
        person = in_silico_mutagenesis(model, onehot, batch_size=64)  # every SNP: 6 x 2 x 300 flips
        by_haplotype = haplotype_ism(model.haplotype_term, onehot, batch_size=97)
        unbatched = haplotype_ism(model.haplotype_term, onehot, batch_size=1)
    assert person.shape == by_haplotype.shape == (6, 2, length)
    np.testing.assert_allclose(by_haplotype, person, atol=1e-5)
    np.testing.assert_allclose(unbatched, by_haplotype, atol=1e-6)
    assert np.abs(person[:, :, 100]).max() > 0  # the context term moves every SNP a little
    score = aggregate(person)
    truth = np.isin(np.arange(length), causal)
    assert average_precision(score, truth) == 1.0 and recall_at_k(score, truth, 2) == 1.0
    # the interaction partner (a + 1) is third: its effect exists only on haplotypes carrying a
    assert np.argsort(-score)[2] == causal[0] + 1


def test_ig_convergence_delta_is_reported_and_shrinks_as_steps_grow():
    model = TinyPersonModel(n_tokens=3)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # more curvature along the path than the fixture's
    onehot = haplotype_onehot(ld_haplotypes(6, 40, seed=1), n_tokens=3)
    with torch.no_grad():
        moved = (model(onehot) - model(reference_baseline(onehot))).numpy()
    relative = {}
    for steps in (1, 2, 4, 8):
        attribution, delta = integrated_gradients(model, onehot, n_steps=steps)
        np.testing.assert_allclose(delta, attribution.sum(axis=(1, 2)) - moved, atol=1e-5)  # captum's definition
        relative[steps] = relative_delta(attribution, delta)
        assert relative[steps] == pytest.approx(np.abs(delta).mean() / np.abs(moved).mean(), rel=1e-4, abs=1e-7)
    assert relative[1] > relative[2] > relative[4] > relative[8] and relative[1] > 0.1 and relative[8] < 1e-4
    converged = converged_integrated_gradients(model, onehot, n_steps=1, max_steps=64, tolerance=0.01)
    assert converged.steps == 4 and list(converged.tried) == [1, 2, 4] and converged.relative_delta <= 0.01
    capped = converged_integrated_gradients(model, onehot, n_steps=1, max_steps=2, tolerance=1e-9)
    assert capped.steps == 2 and capped.relative_delta > 0.01  # stops at max_steps and says how far off it is
