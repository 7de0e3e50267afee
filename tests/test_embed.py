import numpy as np
import pandas as pd
import pytest
import torch

from lmeqtl import cli
from lmeqtl.config import EmbedConfig, ModelConfig
from lmeqtl.data.encoding import decode_haplotypes
from lmeqtl.data.io import write_dataset, write_meta
from lmeqtl.mlm.checkpoint import save_checkpoint
from lmeqtl.mlm.embed import (
    describe,
    embed_cohort,
    embed_haplotypes,
    gene_file,
    load_embeddings,
    mode_agreement,
    tss_window_index,
)
from lmeqtl.mlm.masking import MASK
from lmeqtl.mlm.model import HaplotypeMLM
from tests.mlm_fixtures import founder_cohort

TINY = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


def tiny_model(n_genes: int = 2, snp_lengths: list[int] | None = None) -> HaplotypeMLM:
    torch.manual_seed(0)
    config = TINY if snp_lengths is None else ModelConfig(**{**TINY.__dict__, "snp_embedding": True})
    model = HaplotypeMLM(config, n_genes, snp_lengths).eval()
    if snp_lengths is not None:  # non-zero SNP embeddings, so that they matter
        torch.nn.init.normal_(model.snp_embedding.weight)
    return model


def rolling_reference(model: HaplotypeMLM, alleles: np.ndarray, gene: int, copies: int, layer: int) -> np.ndarray:
    """The definition, one copy at a time: position i's state from the copy i % k that masks it; mean."""
    out = []
    for haplotype in alleles:
        length = len(haplotype)
        states = torch.zeros(length, model.config.d_model)
        for c in range(copies):
            tokens = torch.as_tensor(haplotype, dtype=torch.long).clone()
            masked = torch.arange(length) % copies == c
            tokens[masked] = MASK
            with torch.no_grad():
                hidden = model.hidden_states(tokens[None], torch.tensor([gene]))[layer][0]  # (L, H)
            states[masked] = hidden[masked]
        out.append(states.mean(0).numpy())
    return np.stack(out)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 40])
def test_batched_rolling_equals_the_one_copy_at_a_time_definition(batch_size):
    cohort = founder_cohort(n_samples=3, genes={"ENSG01.1": 60, "ENSG02.1": 50})
    model = tiny_model(2, [60, 50])
    alleles = cohort.haplotypes["ENSG02.1"].reshape(-1, 50)  # (6, 50)
    config = EmbedConfig(mode="rolling", rolling_copies=4, batch_size=batch_size)
    batched = embed_haplotypes(model, alleles, 1, config)
    reference = rolling_reference(model, alleles, 1, copies=4, layer=-1)
    assert batched.shape == (6, 16) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, reference, atol=1e-6, rtol=0)
    # with one copy per position the rolling embedding differs from the unmasked one
    single = embed_haplotypes(model, alleles, 1, EmbedConfig(mode="single"))
    assert not np.allclose(single, batched, atol=1e-3)


def test_modes_pooling_and_layers_are_what_they_say():
    cohort = founder_cohort(n_samples=4, genes={"ENSG01.1": 80})
    model = tiny_model(1)
    alleles = cohort.haplotypes["ENSG01.1"].reshape(-1, 80)
    tokens = torch.as_tensor(alleles, dtype=torch.long)
    with torch.no_grad():
        hidden = model.hidden_states(tokens, torch.zeros(8, dtype=torch.long))
    single = embed_haplotypes(model, alleles, 0, EmbedConfig(batch_size=3))
    np.testing.assert_allclose(single, hidden[-1].mean(1).numpy(), atol=1e-6)
    first = embed_haplotypes(model, alleles, 0, EmbedConfig(layer=0))
    np.testing.assert_allclose(first, hidden[0].mean(1).numpy(), atol=1e-6)
    window = tss_window_index(np.arange(80) * 100, 10, tss=2_000)
    assert window.tolist() == list(range(15, 25))
    windowed = embed_haplotypes(model, alleles, 0, EmbedConfig(pooling="tss_window"), window=window)
    np.testing.assert_allclose(windowed, hidden[-1][:, 15:25].mean(1).numpy(), atol=1e-6)
    # masked mode: seeded per haplotype key, independent of batching; another seed differs
    keys = [(7, i) for i in range(8)]
    masked = embed_haplotypes(model, alleles, 0, EmbedConfig(mode="masked", batch_size=8), keys=keys)
    again = embed_haplotypes(model, alleles[2:4], 0, EmbedConfig(mode="masked", batch_size=1), keys=keys[2:4])
    np.testing.assert_allclose(masked[2:4], again, atol=1e-6)
    other = embed_haplotypes(model, alleles, 0, EmbedConfig(mode="masked", seed=2), keys=keys)
    assert not np.allclose(masked, other) and not np.allclose(masked, single)
    with pytest.raises(ValueError, match="unknown embedding mode"):
        embed_haplotypes(model, alleles, 0, EmbedConfig(mode="rolled"))
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        embed_haplotypes(model, alleles, 0, EmbedConfig(pooling="max"))


def test_embed_cohort_shapes_ids_and_a_second_call_skips_finished_genes(tmp_path, monkeypatch):
    cohort = founder_cohort(n_samples=8, genes={"ENSG01.1": 40, "ENSG02.1": 30}, test_fraction=0.5)
    model = tiny_model(2)
    out = tmp_path / "emb"
    result = embed_cohort(model, cohort, split="test", out_dir=out, device="cpu", progress=False)
    test_ids = cohort.sample_ids[cohort.split_mask("test")]
    assert result.sample_ids.tolist() == test_ids.tolist() and set(result.splits) == {"test"}
    assert result["ENSG01.1"].shape == (4, 2, 16) and result["ENSG02.1"].shape == (4, 2, 16)
    # haplotype 1 of person 2 is the mean state of that haplotype alone
    alleles = cohort.subset(test_ids).haplotypes["ENSG02.1"][2, 1][None]
    np.testing.assert_allclose(result["ENSG02.1"][2, 1], embed_haplotypes(model, alleles, 1)[0], atol=1e-6)
    frame = result.to_frame()
    assert len(frame) == 4 * 2 * 2 and list(frame.columns[:4]) == ["sample_id", "gene_id", "haplotype", "split"]
    row = frame[(frame.sample_id == test_ids[2]) & (frame.gene_id == "ENSG02.1") & (frame.haplotype == 1)]
    np.testing.assert_allclose(row.filter(regex=r"^e\d+$").to_numpy(dtype=float)[0], result["ENSG02.1"][2, 1])

    # resumable: finished genes are read back, not recomputed; a changed setting recomputes
    mtime = gene_file(out, "ENSG01.1").stat().st_mtime_ns
    calls = []
    original = HaplotypeMLM.hidden_states
    monkeypatch.setattr(HaplotypeMLM, "hidden_states", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = embed_cohort(model, cohort, split="test", out_dir=out, device="cpu", progress=False)
    assert calls == [] and gene_file(out, "ENSG01.1").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again["ENSG01.1"], result["ENSG01.1"])
    embed_cohort(model, cohort, split="test", out_dir=out, config=EmbedConfig(layer=0), device="cpu",
                 progress=False)
    assert calls and gene_file(out, "ENSG01.1").stat().st_mtime_ns != mtime
    loaded = load_embeddings(out)
    assert loaded.genes == ["ENSG01.1", "ENSG02.1"] and loaded.config["layer"] == 0
    assert loaded.sample_ids.tolist() == test_ids.tolist()


def test_cli_embed_writes_npz_and_parquet(tmp_path, capsys):
    cohort = founder_cohort(n_samples=6, genes={"ENSG01.1": 40, "ENSG02.1": 30}, test_fraction=0.5)
    rows = [{"split": cohort.samples.loc[s, "split"], "sample_id": s, "gene_id": g, "seq": seq}
            for g in cohort.genes for s, seq in zip(cohort.sample_ids, decode_haplotypes(cohort.haplotypes[g]),
                                                    strict=True)]
    write_dataset(tmp_path / "dataset.parquet", pd.DataFrame(rows))
    write_meta(tmp_path / "meta.csv.gz", cohort.meta)
    save_checkpoint(tmp_path / "ckpt", tiny_model(2), genes=["ENSG02.1", "ENSG01.1"], data_fingerprint=None)
    code = cli.main(["embed", "--checkpoint", str(tmp_path / "ckpt"), "--dataset", str(tmp_path / "dataset.parquet"),
                     "--out", str(tmp_path / "emb"), "--mode", "rolling", "--rolling-copies", "3", "--parquet",
                     "--device", "cpu"])
    assert code == 0 and "embedded 3 samples x 2 genes" in capsys.readouterr().out
    table = pd.read_parquet(tmp_path / "emb" / "embeddings.parquet")
    assert len(table) == 3 * 2 * 2 and table["gene_id"].tolist()[0] == "ENSG02.1"  # the checkpoint's gene order
    assert load_embeddings(tmp_path / "emb")["ENSG01.1"].shape == (3, 2, 16)


def test_mode_agreement_cosine_and_pearson():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5))
    table = mode_agreement({"single": x, "same": x.copy(), "scaled": 3 * x + 1, "noise": rng.normal(size=(30, 5))})
    rows = table.set_index("modes")
    assert rows.loc["single vs same", ["cosine_mean", "cosine_min", "pearson_per_dim_mean"]].tolist() == \
        pytest.approx([1.0, 1.0, 1.0])
    assert rows.loc["single vs scaled", "pearson_per_dim_mean"] == pytest.approx(1.0)  # r ignores scale and shift
    assert rows.loc["single vs scaled", "cosine_mean"] < 1.0  # cosine does not ignore the shift
    assert abs(rows.loc["single vs noise", "pearson_per_dim_mean"]) < 0.3 and len(table) == 6


def test_describe_says_which_state_pooling_and_mode():
    assert describe(EmbedConfig(), 4) == "the mean over the SNPs of the output of block 4 of 4, from one unmasked pass"
    text = describe(EmbedConfig(layer=0, pooling="tss_window", tss_window=100, mode="rolling", rolling_copies=7), 4)
    assert text == "the mean over the 100 SNPs nearest the TSS of the input of block 1, from a rolling mask over 7 copies"
