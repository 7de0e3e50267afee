import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from mlm_fixtures import founder_cohort

from lmeqtl import cli
from lmeqtl import expression as ex
from lmeqtl.config import FinetuneConfig, ModelConfig
from lmeqtl.data.encoding import decode_haplotypes
from lmeqtl.data.formats import write_geuvadis_expression
from lmeqtl.data.io import write_dataset, write_meta
from lmeqtl.errors import InputError
from lmeqtl.finetune import (
    ExpressionModel,
    allele_tokens,
    finetune_expression,
    finetuned_checkpoints,
    fit_fold,
    frozen_stages,
    inner_split,
    load_finetuned,
    tss_windows,
)
from lmeqtl.mlm.checkpoint import save_checkpoint
from lmeqtl.mlm.masking import N_TOKENS
from lmeqtl.mlm.model import HaplotypeMLM

TINY = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8, dropout=0.0, snp_embedding=True)
GENES = {"ENSG01.1": 40, "ENSG02.1": 32}
CAUSAL = {"ENSG01.1": 20, "ENSG02.1": 9}  # the SNP whose dosage drives each gene's expression
QUICK = FinetuneConfig(freeze="all", pooling="attention", epochs=30, batch_size=16, head_learning_rate=0.05,
                       weight_decay=0.0, patience=30, mlm_weight=0.0, cache_batch_size=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Founder haplotypes, expression = one causal SNP's dosage per gene + noise, a random-weight checkpoint."""
    cohort = founder_cohort(n_samples=150, genes=GENES, n_founders=6, seed=3, test_fraction=0.2)
    rng = np.random.default_rng(0)
    values = {}
    for gene, snp in CAUSAL.items():
        dosage = cohort.haplotypes[gene][:, :, snp].sum(1).astype(float)
        values[gene] = (dosage - dosage.mean()) / dosage.std() + rng.normal(0, 0.6, len(dosage))
    expression = pd.DataFrame(values, index=pd.Index(cohort.sample_ids, name="sample_id"))
    folds = ex.outer_folds(expression.index, 3, seed=1)
    directory = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(0)
    save_checkpoint(directory, HaplotypeMLM(TINY, 2, list(GENES.values())), genes=list(GENES), data_fingerprint=None)
    return cohort, expression, folds, directory


def _model(config: FinetuneConfig, seed: int = 0) -> ExpressionModel:
    torch.manual_seed(seed)
    mlm = HaplotypeMLM(TINY, 2, list(GENES.values())).eval()
    return ExpressionModel(mlm, ["ENSG02.1"], [1], [(4, 28)], config)


def test_freeze_specs_count_frozen_stages():
    assert [frozen_stages(s, 4) for s in ("none", "encoder", "all_but_last_1", "all_but_last_4", "all")] == [0, 1, 4, 1, 5]
    with pytest.raises(ValueError, match="asks for 5 trainable blocks"):
        frozen_stages("all_but_last_5", 4)
    with pytest.raises(ValueError, match="unknown freeze spec 'last_2'"):
        frozen_stages("last_2", 4)
    model = _model(FinetuneConfig(freeze="all_but_last_1"))
    trainable = {name for name, p in model.mlm.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("layers.1.", "norms.1.")) for name in trainable)
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        _model(FinetuneConfig(pooling="max"))


def test_swapping_haplotypes_gives_the_same_prediction():
    model = _model(FinetuneConfig(freeze="none", pooling="attention"))
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_()
    tokens = allele_tokens(np.random.default_rng(1).integers(0, 2, size=(5, 2, 24), dtype=np.uint8))
    same = model(tokens, 0), model(tokens.flip(1), 0)
    assert torch.allclose(*same, atol=1e-6) and same[0].std() > 0


@pytest.mark.parametrize("config", [FinetuneConfig(freeze="all_but_last_1", pooling="mean"),
                                    FinetuneConfig(freeze="encoder", pooling="attention"),
                                    FinetuneConfig(freeze="all", pooling="attention"),
                                    FinetuneConfig(freeze="all", pooling="mean")])
def test_cached_frozen_path_equals_the_whole_model(config):
    model = _model(config)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_()
    haplotypes = np.random.default_rng(2).integers(0, 2, size=(6, 2, 32), dtype=np.uint8)
    cached = model.cache(haplotypes, 0, batch_size=4)
    full = model(allele_tokens(haplotypes[..., 4:28]), 0)
    assert torch.allclose(model.forward_cached(cached, 0), full, atol=1e-5)
    onehot = torch.nn.functional.one_hot(allele_tokens(haplotypes), N_TOKENS).float().movedim(-1, -2)  # (n, 2, V, L)
    expected = model.head.to_expression(full, 0)
    assert torch.allclose(model.predictor("ENSG02.1")(onehot), expected, atol=1e-5)


def test_freezing_keeps_frozen_weights_and_trains_the_rest(planted):
    cohort, expression, _, _ = planted
    config = FinetuneConfig(freeze="all_but_last_1", epochs=2, batch_size=32, learning_rate=1e-2, patience=5,
                            mlm_weight=0.5, mlm_batch_size=4, mlm_crop_length=16, cache_batch_size=64)
    model = _model(config)
    model.mlm_genes = [1]
    before = {k: v.clone() for k, v in model.mlm.state_dict().items()}
    inputs = [model.cache(cohort.haplotypes["ENSG02.1"], 0, 64)]
    from lmeqtl.finetune.cv import _mlm_stream

    stream = _mlm_stream(cohort, ["ENSG02.1"], [1], config, fold=0)
    fit, val = inner_split(np.arange(150), 0.2, seed=0)
    result = fit_fold(model, inputs, expression[["ENSG02.1"]].to_numpy(), fit, val, config, fold=0, cached=True,
                      mlm_batches=stream)
    model.load_finetuned_state(result.state)
    after = model.mlm.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("layers.1.", "norms.1.")) for k in changed)
    assert "layers.1.output_linear.weight" in changed and "decoder.weight" not in changed
    assert result.state["head.weight"].abs().sum() > 0 and len(result.history) == 3


def test_tss_windows_take_the_snps_nearest_the_tss():
    cohort = founder_cohort(n_samples=4, genes={"ENSG01.1": 50}, seed=0)
    pos = cohort.gene_meta("ENSG01.1")["pos"]  # 100 bp apart
    assert tss_windows(cohort, ["ENSG01.1"], 10, {"ENSG01.1": int(pos[20]) + 10}) == [(16, 26)]
    assert tss_windows(cohort, ["ENSG01.1"], 10, {"ENSG01.1": int(pos[48])}) == [(40, 50)]
    assert tss_windows(cohort, ["ENSG01.1"], 10) == [(20, 30)]
    assert tss_windows(cohort, ["ENSG01.1"], None) == [(0, 50)]


def test_learns_a_planted_signal_on_the_rq2_folds_with_the_same_numbers_for_the_same_seed(planted, tmp_path):
    cohort, expression, folds, pretrained = planted
    runs = [finetune_expression(pretrained, cohort, expression, folds, QUICK, output_dir=tmp_path / name,
                                progress=False) for name in ("a", "b")]
    predictions = runs[0].predictions
    assert list(predictions.columns) == ["gene", "method", "features", "model", "combine", "sample_id", "fold",
                                         "observed", "predicted"]
    by_sample = predictions.drop_duplicates("sample_id").set_index("sample_id")["fold"]
    pd.testing.assert_series_equal(by_sample.sort_index(), folds.sort_index(), check_names=False,
                                   check_index_type=False)
    pd.testing.assert_frame_equal(predictions, runs[1].predictions)
    baseline = ex.run_comparison(expression, folds, dosages={g: cohort.dosage(g) for g in GENES}, progress=False,
                                 methods=[m for m in ex.baseline_methods() if m.name == "lead_snp_cv"])
    scores = ex.gene_results(pd.concat([predictions, baseline.predictions]), n_bootstrap=20).set_index(["method", "gene"])
    assert (scores.loc["finetune", "r"] > 0.5).all(), scores.loc["finetune", "r"]
    weights = runs[0].snp_weights.groupby(["gene", "fold"])["weight"]  # founder LD: the SNP is not identifiable
    assert np.allclose(weights.sum(), 1.0) and (weights.max() > 1.2 * weights.mean()).all()  # moved from the mean
    other = finetune_expression(pretrained, cohort, expression, folds, dataclasses.replace(QUICK, seed=2),
                                progress=False)
    assert not np.allclose(other.predictions["predicted"], predictions["predicted"])


def test_checkpoints_load_back_and_finished_folds_resume(planted, tmp_path):
    cohort, expression, folds, pretrained = planted
    config = dataclasses.replace(QUICK, epochs=3)
    first = finetune_expression(pretrained, cohort, expression, folds, config, genes=["ENSG01.1"],
                                output_dir=tmp_path, progress=False)
    listed = finetuned_checkpoints(tmp_path)
    assert list(listed["fold"]) == sorted(set(first.predictions["fold"])) and set(listed["gene"]) == {"ENSG01.1"}
    unit = tmp_path / "units" / "ENSG01.1" / "fold_1"
    assert listed.loc[listed["fold"] == 1, "path"].item() == str(unit)
    model, info = load_finetuned(unit)
    rows = first.predictions[first.predictions["fold"] == 1]
    people = cohort.subset(list(rows["sample_id"]))
    onehot = torch.nn.functional.one_hot(allele_tokens(people.haplotypes["ENSG01.1"]), N_TOKENS).float().movedim(-1, -2)
    with torch.no_grad():
        again = model.predictor("ENSG01.1")(onehot).numpy()
    assert np.allclose(again, rows["predicted"], atol=1e-5) and info["fold"] == 1
    resumed = finetune_expression(pretrained, cohort, expression, folds, config, genes=["ENSG01.1"],
                                  output_dir=tmp_path, progress=False)
    assert resumed.cache_seconds == {}  # nothing recomputed
    pd.testing.assert_frame_equal(resumed.predictions, first.predictions, check_dtype=False)
    assert (tmp_path / "finetune_predictions.parquet").is_file() and (tmp_path / "history.csv").is_file()
    assert not (tmp_path / "predictions.parquet").exists()  # RQ2's file name, which chapter 04 searches for


def test_bad_inputs_give_clear_errors(planted, tmp_path):
    cohort, expression, folds, pretrained = planted
    other = tmp_path / "other"
    save_checkpoint(other, HaplotypeMLM(TINY, 2, [40, 30]), genes=list(GENES), data_fingerprint=None)
    with pytest.raises(InputError, match=r"SNP windows differ.*ENSG02.1: 30 vs 32"):
        finetune_expression(other, cohort, expression, folds, QUICK, progress=False)
    elsewhere = tmp_path / "elsewhere"
    save_checkpoint(elsewhere, HaplotypeMLM(TINY, 2, [40, 32]), genes=["ENSG01.1", "ENSG09.1"], data_fingerprint=None)
    with pytest.raises(InputError, match=r"trained without genes \['ENSG02.1'\]"):
        finetune_expression(elsewhere, cohort, expression, folds, QUICK, progress=False)
    with pytest.raises(InputError, match=r"without genotypes \['ENSG07.1'\]"):
        finetune_expression(pretrained, cohort, expression.assign(**{"ENSG07.1": 0.0}), folds, QUICK, progress=False)
    with pytest.raises(InputError, match="samples have no fold"):
        finetune_expression(pretrained, cohort, expression, folds.iloc[5:], QUICK, progress=False)
    with pytest.raises(InputError, match="not an lmeqtl checkpoint"):
        finetune_expression(tmp_path, cohort, expression, folds, QUICK, progress=False)


def test_cli_finetunes_from_files(planted, tmp_path, capsys):
    cohort, expression, folds, pretrained = planted
    rows = [{"split": split, "sample_id": sample, "gene_id": gene, "seq": seq}
            for gene in GENES
            for sample, split, seq in zip(cohort.sample_ids, cohort.samples["split"],
                                          decode_haplotypes(cohort.haplotypes[gene]), strict=True)]
    write_dataset(tmp_path / "dataset.parquet", pd.DataFrame(rows))
    write_meta(tmp_path / "meta.csv.gz", cohort.meta)
    rpkm = pd.DataFrame(np.exp(expression.T.to_numpy()), index=pd.Index(list(GENES), name="TargetID"),
                        columns=[f"{s}.1.M_1" for s in expression.index])
    write_geuvadis_expression(tmp_path / "gd660.txt.gz", pd.concat(
        [pd.DataFrame({"Gene_Symbol": list(GENES), "Chr": "6", "Coord": 1_000_000}, index=rpkm.index), rpkm], axis=1))
    code = cli.main(["finetune", "--checkpoint", str(pretrained), "--dataset", str(tmp_path / "dataset.parquet"),
                     "--expression", str(tmp_path / "gd660.txt.gz"), "--output-dir", str(tmp_path / "out"),
                     "--preset", "smoke", "--split", "train", "--genes", "ENSG02.1", "--freeze", "all",
                     "--pooling", "mean", "--mlm-weight", "0", "--epochs", "2", "--quiet"])
    assert code == 0
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert list(scores["gene"]) == ["ENSG02.1"] and scores["n"].iloc[0] == int((cohort.samples["split"] == "train").sum())
    assert (tmp_path / "out" / "outer_folds.csv").is_file() and "ENSG02.1" in capsys.readouterr().out


def test_chapter_finds_the_checkpoint_and_rq2_outputs(tmp_path):
    from lmeqtl.book.chapters import finetune as chapter
    from lmeqtl.book.run import NotebookRun
    from lmeqtl.config import get_preset

    run = NotebookRun("04_rq3_finetuning", get_preset("smoke"), tmp_path, None, tmp_path / "given", "cpu")
    assert chapter.pretrained_checkpoint(run) == (tmp_path / "given", "the checkpoint given to the book (--checkpoint)")
    trained = tmp_path / "01_train_mlm" / "checkpoint"
    trained.mkdir(parents=True)
    (trained / "checkpoint.json").write_text("{}")
    run = NotebookRun("04_rq3_finetuning", get_preset("smoke"), tmp_path, None, None, "cpu")
    assert chapter.pretrained_checkpoint(run)[0] == trained
    assert chapter.rq2_outputs(run) == (None, None)
    rq2 = tmp_path / "03_rq2_embeddings_expression" / "comparison"
    ex.save_folds(rq2 / "folds.csv", ex.outer_folds(["HG1", "HG2", "HG3"], 3, seed=1))
    pd.DataFrame({"gene": ["G"], "method": ["ridge:sum"]}).to_parquet(rq2 / "predictions.parquet")
    folds, predictions = chapter.rq2_outputs(run)
    assert sorted(folds.index) == ["HG1", "HG2", "HG3"] and list(predictions["method"]) == ["ridge:sum"]


def test_true_genetic_values_and_attention_near_causal_snps():
    from lmeqtl.book.chapters import finetune as chapter
    from lmeqtl.data.truth import Truth

    people = founder_cohort(n_samples=30, genes={"ENSG01.1": 20}, seed=1)
    causal = pd.DataFrame({"gene_id": "ENSG01.1", "id": ["rs1", "rs2"], "seq_idx": [3, 12], "effect": [0.5, -1.0]})
    genes = pd.DataFrame({"gene_id": ["ENSG01.1"], "interaction_snps": ["rs1,rs2"], "interaction_effect": [2.0]})
    truth = Truth(genes=genes, causal_snps=causal, enrichment=pd.DataFrame())
    h = people.haplotypes["ENSG01.1"]
    expected = 0.5 * h[:, :, 3].sum(1) - h[:, :, 12].sum(1) + 2.0 * (h[:, :, 3] & h[:, :, 12]).sum(1)
    assert np.allclose(chapter.true_genetic_values(truth, people, ["ENSG01.1"])["ENSG01.1"], expected)
    weights = pd.DataFrame({"gene": "ENSG01.1", "fold": 0, "seq_idx": np.arange(20), "weight": np.eye(20)[12]})
    near = chapter.attention_near_causal(weights, truth, reach=1).iloc[0]
    assert near["mass_near_causal"] == 1.0 and near["share_near_causal"] == 6 / 20 and near["n_causal_in_window"] == 2


def test_settings_of_removed_options_load_only_as_the_behaviour_that_is_left(tmp_path):
    from lmeqtl.finetune.checkpoints import finetune_config_from

    raw = {"freeze": "all", "pooling": "attention"}
    assert finetune_config_from({**raw, "mode": "per_gene", "combine": "sum"}, tmp_path) == FinetuneConfig(**raw)
    with pytest.raises(InputError, match="mode='joint' is no longer supported"):
        finetune_config_from({**raw, "mode": "joint"}, tmp_path)
    with pytest.raises(InputError, match="combine='sum_absdiff' is no longer supported"):
        finetune_config_from({**raw, "combine": "sum_absdiff"}, tmp_path)
    with pytest.raises(InputError, match="unknown fine-tuning settings"):
        finetune_config_from({**raw, "heads": 2}, tmp_path)


def test_preset_text_names_what_the_cpu_preset_reduces():
    from lmeqtl.book.chapters import finetune as chapter
    from lmeqtl.config import get_preset

    top10 = chapter.preset_text(get_preset("top10").finetune, "top10")
    assert "freeze all (GPU: all_but_last_2)" in top10 and "window_snps 1000 (GPU: none)" in top10
    assert "uses the full fine-tuning settings" in chapter.preset_text(get_preset("top10-gpu").finetune, "top10-gpu")
    assert chapter._freeze_words("all_but_last_1", 2).startswith("the last state-space block of 2 and the head")
    assert {m.name for m in chapter.quick_baselines()} == {"lead_snp", "lead_snp_cv", "oracle"}
    assert chapter._freeze_words("all_but_last_2", 4).startswith("the last 2 state-space blocks of 4")


def test_snp_weight_plot_keeps_to_the_window_and_counts_causal_snps_outside():
    import matplotlib

    matplotlib.use("Agg")
    from lmeqtl.finetune.plots import plot_snp_weights, plot_training_curves

    weights = pd.DataFrame({"gene": "G", "fold": 0, "seq_idx": np.arange(100, 120), "weight": 1 / 20})
    fig = plot_snp_weights(weights, ["G"], {"G": [105, 400]})
    ax = fig.axes[0]
    assert ax.get_xlim() == (100, 119) and "1 causal SNP outside the window" in ax.get_title()
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] < 1 < ax.get_ylim()[1]  # relative to uniform
    positions = {"G": np.arange(0, 500) * 100 + 1}  # SNP k at 100 k + 1; TSS at 11_001 (SNP 110)
    fig = plot_snp_weights(weights, ["G"], {"G": [105]}, positions=positions, tss={"G": 11_001})
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((-1.0, 0.9)) and "TSS (kb)" in ax.get_xlabel()
    assert fig.get_size_inches()[0] <= 7.5
    history = pd.DataFrame({"unit": "G", "fold": 0, "epoch": [0, 1, 2], "val_loss": [1.0, 0.9, 0.95],
                            "best": [False, True, False]})
    curves = plot_training_curves(history)
    assert all(float(t).is_integer() for t in curves.axes[0].get_xticks())
