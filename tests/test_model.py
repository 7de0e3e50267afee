import pytest
import torch

from benchmarks.original_dss import use_original_path
from lmeqtl.config import ModelConfig
from lmeqtl.mlm.dss import DSSKernel
from lmeqtl.mlm.masking import MASK, N_TOKENS
from lmeqtl.mlm.model import HaplotypeMLM, count_parameters

TINY = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


def tiny_model(config: ModelConfig = TINY, n_genes: int = 3, seed: int = 0) -> HaplotypeMLM:
    torch.manual_seed(seed)
    return HaplotypeMLM(config, n_genes).eval()


def test_shapes_of_logits_hidden_states_and_onehot_forward():
    model = tiny_model()
    tokens = torch.randint(0, N_TOKENS, (4, 70))
    gene = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        logits = model(tokens, gene)
        hidden = model.hidden_states(tokens, gene)
        soft = model.forward_onehot(model.onehot(tokens), gene)
    assert logits.shape == (4, 70, 2)
    assert len(hidden) == TINY.n_layers + 1 and all(h.shape == (4, 70, 16) for h in hidden)
    torch.testing.assert_close(soft, logits)


def test_default_size_matches_the_original_parameter_count():
    model = HaplotypeMLM(ModelConfig(), n_genes=10)
    # the original DSSResNetEmb (3 input/output channels) has ~5.96 M parameters for 10 genes
    assert abs(count_parameters(model) - 5.96e6) < 0.01e6


def test_mask_token_is_its_own_input_channel():
    model = tiny_model()
    onehot = model.onehot(torch.tensor([[0, 1, MASK]]))
    assert onehot[0, :, 2].tolist() == [0.0, 0.0, 1.0]  # not the all-zero vector of padding


@pytest.mark.parametrize("version", ["exp", "softmax"])
def test_fast_kernel_equals_the_direct_original_computation(version):
    torch.manual_seed(1)
    kernel = DSSKernel(d_model=8, d_state=16, version=version)
    with torch.no_grad():
        kernel.log_dt[:, 1] += 0.5  # separate steps for real and imaginary parts
    for length in (1, 7, 100, 1001):
        dt_lam, w, offset = kernel._modes(length)  # (H, N), (C, H, N), (H, N)
        powers = (dt_lam[..., None] * torch.arange(length) - offset[..., None]).exp()  # (H, N, L): H*N*L exps
        direct = torch.einsum("chn,hnl->chl", w, powers).real  # (C, H, L)
        torch.testing.assert_close(kernel(length), direct, atol=2e-5, rtol=1e-4)


def test_exp_kernels_do_not_depend_on_the_sequence_length():
    kernel = DSSKernel(d_model=4, d_state=8, version="exp")
    torch.testing.assert_close(kernel(300)[..., :120], kernel(120))


def test_cached_fast_path_equals_the_uncached_original_path():
    model = tiny_model()
    tokens, gene = torch.randint(0, 3, (2, 90)), torch.tensor([0, 2])
    with torch.no_grad():
        fast = model(tokens, gene)
        cached = model(tokens, gene)
        slow = use_original_path(model)(tokens, gene)
    torch.testing.assert_close(fast, cached, rtol=0, atol=0)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)


def test_kernel_cache_is_invalidated_by_weight_changes_and_by_train():
    model = tiny_model()
    layer = model.layers[0]
    with torch.no_grad():
        layer.spectrum(50, 100)
        first = layer._cache[1]
        assert layer.spectrum(50, 100) is first  # reused
        layer.kernel.W.mul_(2.0)  # e.g. an optimiser step
        updated = layer.spectrum(50, 100)
        assert updated is not first
        torch.testing.assert_close(updated, torch.fft.rfft(layer.two_sided_kernel(50, 100), n=100))
        layer.D.add_(1.0)
        assert layer.spectrum(50, 100) is not updated
    model.train()
    assert layer._cache is None


def test_frozen_kernels_use_the_cache_in_train_mode_and_still_pass_gradients():
    model = tiny_model().train()
    layer = model.layers[0]
    tokens, gene = torch.randint(0, 3, (2, 40)), torch.tensor([0, 1])
    expected = model(tokens, gene)
    assert layer._cache is None  # trainable kernels: computed with gradients, not cached
    layer.kernel.requires_grad_(False)
    layer.D.requires_grad_(False)
    frozen = model(tokens, gene)
    assert layer._cache is not None and layer._cache[0][0] == 40
    torch.testing.assert_close(frozen, expected, atol=1e-5, rtol=1e-5)
    frozen.square().mean().backward()
    assert layer.output_linear.weight.grad.abs().sum() > 0 and layer.kernel.W.grad is None


def test_training_gets_kernel_gradients_and_input_gradients_for_attribution():
    model = tiny_model().train()
    tokens, gene = torch.randint(0, 3, (3, 40)), torch.tensor([0, 1, 2])
    model(tokens, gene).sum().backward()
    assert model.layers[0].kernel.W.grad is not None and model.layers[0].kernel.W.grad.abs().sum() > 0
    model.eval().requires_grad_(False)  # captum: gradients to the input only, cached kernels
    onehot = model.onehot(tokens).requires_grad_(True)
    model.forward_onehot(onehot, gene)[:, :, 1].sum().backward()
    assert onehot.grad.shape == (3, N_TOKENS, 40) and onehot.grad.abs().sum() > 0
    baseline = HaplotypeMLM.reference_onehot(3, 40)
    assert baseline[:, 0].eq(1).all() and baseline[:, 1:].eq(0).all()


def test_bad_shapes_are_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"expected gene \(B,\)"):
        model(torch.zeros(2, 10, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected tokens \(B, L\)"):
        model(torch.zeros(10, dtype=torch.long), torch.zeros(1, dtype=torch.long))


def test_fft_convolution_gradients_are_exact():
    from lmeqtl.mlm.dss import FFTConv

    torch.manual_seed(2)
    n_fft = 24
    u = torch.randn(3, 10, 4, dtype=torch.float64, requires_grad=True)
    kernel = torch.randn(4, n_fft, dtype=torch.float64, requires_grad=True)

    def conv(u, kernel):
        return FFTConv.apply(u, kernel, torch.fft.rfft(kernel.detach(), n=n_fft), n_fft)

    assert torch.autograd.gradcheck(conv, (u, kernel))


def test_mode_sum_gradients_are_exact():
    from lmeqtl.mlm.dss import ModeSum

    torch.manual_seed(4)
    z_re, z_im = -torch.rand(3, 2, dtype=torch.float64) * 0.3, torch.randn(3, 2, dtype=torch.float64)
    w_re, w_im = torch.randn(2, 3, 2, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64)
    offset = torch.randn(2, 3, 2, dtype=torch.float64) * 0.1
    inputs = [t.requires_grad_(True) for t in (z_re, z_im, w_re, w_im)]

    def mode_sum(z_re, z_im, w_re, w_im):
        return ModeSum.apply(z_re, z_im, w_re, w_im, offset[0], offset[1], 4, 3)  # L = 12

    assert torch.autograd.gradcheck(mode_sum, inputs)
    exponents = (torch.complex(z_re, z_im)[..., None] * torch.arange(12, dtype=torch.float64)
                 - torch.complex(offset[0], offset[1])[..., None])  # (H, N, L)
    direct = torch.einsum("chn,hnl->chl", torch.complex(w_re, w_im), exponents.exp()).real
    torch.testing.assert_close(mode_sum(*inputs), direct)


def test_fast_training_gradients_equal_the_original_paths():
    grads = []
    for fast in (True, False):
        model = tiny_model().train()
        use_original_path(model, original=not fast)
        tokens, gene = torch.randint(0, 3, (2, 60), generator=torch.Generator().manual_seed(3)), torch.tensor([0, 1])
        model(tokens, gene).square().mean().backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
    for key in grads[0]:
        torch.testing.assert_close(grads[0][key], grads[1][key], atol=1e-4, rtol=1e-3)


def test_matmul_encoder_and_decoder_equal_the_convolutions():
    from lmeqtl.mlm.model import conv_decode, conv_encode

    torch.manual_seed(4)
    encoder, decoder = torch.nn.Conv1d(3, 8, 15, padding=7), torch.nn.Conv1d(8, 2, 15, padding=7)
    onehot, x = torch.rand(2, 3, 40), torch.randn(2, 40, 8)
    torch.testing.assert_close(conv_encode(onehot, encoder), encoder(onehot).transpose(1, 2))
    torch.testing.assert_close(conv_decode(x, decoder), decoder(x.transpose(1, 2)).transpose(1, 2))


def test_snp_embedding_knows_where_a_crop_lies_in_its_gene():
    import dataclasses

    config = dataclasses.replace(TINY, snp_embedding=True)
    torch.manual_seed(0)
    model = HaplotypeMLM(config, n_genes=2, gene_lengths=[80, 30]).eval()
    with torch.no_grad():
        model.snp_embedding.weight.normal_()
        tokens = torch.randint(0, 3, (1, 80))
        whole = model.hidden_states(tokens, torch.tensor([0]))[0]  # input of the first DSS block
        crop = model.hidden_states(tokens[:, 20:60], torch.tensor([0]), offset=torch.tensor([20]))[0]
        unplaced = model.hidden_states(tokens[:, 20:60], torch.tensor([0]))[0]
    # the convolutions reach 13 positions: inside that margin a placed crop sees what the whole sequence sees
    torch.testing.assert_close(crop[:, 13:27], whole[:, 33:47])
    assert not torch.allclose(unplaced[:, 13:27], whole[:, 33:47])
    with pytest.raises(ValueError, match="exceed a gene's SNP count"):
        model(torch.zeros(1, 40, dtype=torch.long), torch.tensor([1]))
    with pytest.raises(ValueError, match="needs gene_lengths"):
        HaplotypeMLM(config, n_genes=2)
