"""What the RQ3 chapter needs besides fine-tuning: which checkpoint, RQ2's saved outputs, the truth.

The chapter fine-tunes the checkpoint given to the book (``--checkpoint``), else the one
step ``01_train_mlm`` saved in ``runs/<preset>/01_train_mlm/checkpoint/``. When neither
exists (a book without step 01, or the chapter run alone) it pretrains one with the
preset's settings into its own output directory, and says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmeqtl.book import steps
from lmeqtl.book.chapters import NO_TRUTH
from lmeqtl.book.chapters.names import WINDOW_MEAN, counted, describe_method
from lmeqtl.data.cohort import Cohort
from lmeqtl.errors import InputError
from lmeqtl.expression.features import genetic_value

if TYPE_CHECKING:
    from lmeqtl.book.run import NotebookRun
    from lmeqtl.data.truth import Truth



def pretrained_checkpoint(run: NotebookRun, progress: bool = True) -> tuple[Path, str]:
    """The checkpoint to fine-tune and where it comes from (a phrase for the prose)."""
    if run.checkpoint is not None:
        return run.checkpoint, "the checkpoint given to the book (--checkpoint)"
    trained = steps.output_path(run.run_dir, "checkpoint")
    if (trained / "checkpoint.json").is_file():
        return trained, f"the checkpoint of step {steps.MLM}"
    from lmeqtl.mlm.train import train_mlm

    result = train_mlm(run.load_cohort(panel=False), run.preset.model, run.preset.train, run.out_dir / "pretrained",
                       run.device, progress=progress)
    return result.checkpoint, (f"a checkpoint pretrained in this chapter with the preset's settings "
                               f"(no step {steps.MLM} in this book)")


def _single(directory: Path, name: str) -> Path | None:
    found = sorted(directory.rglob(name))
    if len(found) > 1:
        raise InputError(f"{len(found)} files named {name}: {[str(p) for p in found[:3]]}", path=directory,
                         expected=f"one {name} among step {steps.EXPRESSION}'s outputs")
    return found[0] if found else None


def rq2_outputs(run: NotebookRun) -> tuple[pd.Series | None, pd.DataFrame | None]:
    """RQ2's outer folds (``folds.csv``) and out-of-fold predictions (``predictions.parquet``) when
    step ``03_rq2_embeddings_expression`` has run in this book, else ``(None, None)``."""
    from lmeqtl.expression.prediction import load_folds

    directory = steps.output_path(run.run_dir, "rq2_outputs")
    if not directory.is_dir():
        return None, None
    folds, predictions = _single(directory, "folds.csv"), _single(directory, "predictions.parquet")
    return (load_folds(folds) if folds is not None else None,
            pd.read_parquet(predictions) if predictions is not None else None)


def true_genetic_values(truth: Truth, people: Cohort, genes: list[str]) -> dict[str, np.ndarray]:
    """The simulated genetic value per gene ``(n,)`` (additive effects + the cis interaction), up to a constant."""
    values = {}
    for gene in genes:
        causal = truth.causal_snps[truth.causal_snps["gene_id"] == gene]
        haplotypes = people.haplotypes[gene]  # (n, 2, L)
        seq_idx = causal["seq_idx"].to_numpy(dtype=np.int64)
        value = genetic_value(haplotypes[:, :, seq_idx].sum(axis=1), causal["effect"].to_numpy())
        row = truth.genes.set_index("gene_id").loc[gene]
        pair = [s for s in str(row.get("interaction_snps") or "").split(",") if s]
        if len(pair) == 2 and row["interaction_effect"] != 0:
            i, j = (int(causal.set_index("id").loc[s, "seq_idx"]) for s in pair)
            value = value + row["interaction_effect"] * (haplotypes[:, :, i] & haplotypes[:, :, j]).sum(axis=1)
        values[gene] = value
    return values


def attention_near_causal(snp_weights: pd.DataFrame, truth: Truth, reach: int = 7) -> pd.DataFrame:
    """Per gene and fold: the attention mass on SNPs within ``reach`` SNPs of a causal SNP, and
    the share of window SNPs there (what uniform weights would put there)."""
    rows = []
    for (gene, fold), group in snp_weights.groupby(["gene", "fold"], sort=False):
        causal = truth.causal_snps.loc[truth.causal_snps["gene_id"] == gene, "seq_idx"].to_numpy()
        near = (np.abs(group["seq_idx"].to_numpy()[:, None] - causal[None, :]) <= reach).any(axis=1)
        rows.append({"gene": gene, "fold": fold, "mass_near_causal": float(group["weight"].to_numpy()[near].sum()),
                     "share_near_causal": float(near.mean()), "n_causal_in_window": int(
                         ((causal >= group["seq_idx"].min()) & (causal <= group["seq_idx"].max())).sum())})
    table = pd.DataFrame(rows)
    table["fold_enrichment"] = table["mass_near_causal"] / table["share_near_causal"].where(table["share_near_causal"] > 0)
    return table


# --------------------------------------------------------------------------------------
# The comparison and the chapter's sentences
# --------------------------------------------------------------------------------------

BASELINE_ORDER = ("predixcan", "lead_snp_cv", "lead_snp", "oracle")


def quick_baselines(truth: bool = True) -> list:
    """RQ4's baselines without PrediXcan (its nested elastic net on every window SNP takes minutes per
    gene on a CPU): what the chapter computes itself when the book has no RQ2 step (``truth=False``:
    real data, without the oracle)."""
    from lmeqtl.expression import baseline_methods

    return [m for m in baseline_methods(truth) if m.name != "predixcan"]


def window_mean_predictions(result, expression: pd.DataFrame, folds: pd.Series, covariates, config) -> pd.DataFrame:
    """RQ2's ridge on the window mean of the frozen last-block states, on the same folds (empty when
    the trunk was trained: there is no fixed embedding then)."""
    from lmeqtl.expression import Method, run_comparison

    if not result.embeddings:
        return pd.DataFrame()
    genes = list(result.embeddings)
    return run_comparison(expression[genes], folds, embeddings=result.embeddings, covariates=covariates, config=config,
                          methods=[Method(WINDOW_MEAN, "embedding", "ridge", "sum")], progress=False).predictions


def methods_to_show(results: pd.DataFrame, summary: pd.DataFrame, method: str = "finetune") -> list[str]:
    """Fine-tuning, the window-mean control, RQ2's best embedding method and the RQ4 baselines that ran."""
    embedding = results.loc[(results["features"] == "embedding") & (results["method"] != WINDOW_MEAN), "method"]
    best = [m for m in summary["method"] if m in set(embedding)][:1]  # summary is sorted by mean r
    present = set(results["method"])
    return [m for m in (method, WINDOW_MEAN, *best, *BASELINE_ORDER) if m in present]


def _freeze_words(freeze: str, n_layers: int) -> str:
    from lmeqtl.finetune.model import frozen_stages

    frozen = frozen_stages(freeze, n_layers)
    if frozen == 0:
        return "the whole network and the head train (nothing is frozen)"
    if frozen == n_layers + 1:
        return "only the head trains: the whole pretrained network is frozen"
    trained = n_layers + 1 - frozen
    if frozen == 1:
        return f"all {n_layers} state-space blocks and the head train; the input stage (encoder, embeddings, ResNet) is frozen"
    first = "the first block is" if frozen == 2 else f"the first {frozen - 1} blocks are"
    last = "the last state-space block" if trained == 1 else f"the last {trained} state-space blocks"
    return f"{last} of {n_layers} and the head train; the input stage and {first} frozen"


def setup_text(checkpoint: Path, source: str, config, expression: pd.DataFrame, folds: pd.Series, cohort: Cohort,
               tss, truth: Truth | None, rq2_folds: bool) -> str:
    """The chapter's set-up paragraph: checkpoint, what trains, head, window, people and folds."""
    from lmeqtl.finetune.cv import tss_windows
    from lmeqtl.mlm.checkpoint import read_checkpoint_info

    info = read_checkpoint_info(checkpoint)
    model = info["model_config"]
    accuracy = (info.get("metrics") or {}).get("val_masked_accuracy")
    trained = f" (after {info.get('epoch')} epochs; validation masked accuracy {accuracy:.3f})" if accuracy else ""
    pooling = ("attention over the SNPs: a learned weight per SNP, starting from the plain mean that RQ2 uses"
               if config.pooling == "attention" else "the mean over the SNPs, RQ2's embedding")
    genes = list(expression.columns)
    windows = tss_windows(cohort, genes, config.window_snps, tss)
    lengths = [cohort.haplotypes[g].shape[2] for g in genes]
    if config.window_snps is None or all(b - a == n for (a, b), n in zip(windows, lengths, strict=True)):
        window = "the whole SNP window of each gene"
    else:
        window = f"the {config.window_snps:,} SNPs nearest each gene's TSS (of {max(lengths):,})"
        if truth is not None:
            causal = truth.causal_snps[truth.causal_snps["gene_id"].isin(genes)]
            span = dict(zip(genes, windows, strict=True))
            inside = sum(span[g][0] <= i < span[g][1] for g, i in zip(causal["gene_id"], causal["seq_idx"], strict=True))
            window += f"; {inside} of the {len(causal)} causal SNPs planted by the simulation lie inside"
    mlm = (f" The masked-LM loss on train-split haplotypes is added with weight {config.mlm_weight:g}, so that the "
           "trained blocks keep modelling haplotypes." if config.mlm_weight > 0 and config.freeze != "all" else "")
    fold_source = (f"RQ2's saved {folds.nunique()} outer folds" if rq2_folds else
                   f"the {folds.nunique()} outer folds of RQ2 (drawn by the same function with the same seed)")
    return (f"The model is {source}: d_model {model['d_model']}, {model['n_layers']} state-space blocks{trained}. "
            f"Here {_freeze_words(config.freeze, model['n_layers'])}. The head of each gene pools each haplotype's "
            f"last-block states by {pooling}, standardises them, combines the two haplotypes by their sum (so swapping "
            f"them cannot change a prediction) and maps the result linearly to expression. The model reads {window}. "
            f"It is trained on {len(expression):,} people and {counted(len(genes), 'gene')}, "
            f"one model per gene, on {fold_source}; "
            f"inside each training fold {config.val_fraction:.0%} of the people "
            f"are held out to choose the epoch (at most {config.epochs}, stopping after {config.patience} without "
            f"improvement).{mlm}")


def preset_text(config, preset: str) -> str:
    """What this preset fine-tunes, next to the GPU presets' settings (``FinetuneConfig``'s defaults)."""
    from lmeqtl.config import FinetuneConfig

    gpu = FinetuneConfig()
    if config == gpu:
        return (f"Preset {preset} uses the full fine-tuning settings: the last two state-space blocks and the head "
                f"train, on whole windows with mean pooling and the masked-LM regulariser, for up to {gpu.epochs} epochs.")
    differ = [f.name for f in dataclasses.fields(FinetuneConfig)
              if getattr(config, f.name) != getattr(gpu, f.name) and f.name not in ("seed", "cache_batch_size")]
    def value(v) -> str:  # noqa: ANN001 - a config field
        return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    words = ", ".join(f"{name} {value(getattr(config, name))} (GPU: {value(getattr(gpu, name))})" for name in differ)
    return (f"Preset {preset} reduces fine-tuning to fit its CPU budget: {words}. The GPU presets (top10-gpu, top100) "
            f"train the last two state-space blocks and the head on whole windows with mean pooling and the masked-LM "
            f"regulariser (weight {gpu.mlm_weight:g}), for up to {gpu.epochs} epochs; benchmarks/bench_finetune.py measures what trainable blocks cost per epoch "
            f"on a CPU.")


def _time_budget(counts: pd.Series) -> str:
    """Runs cut by a user's wall-clock budget (presets set none), in words; nothing when there were none."""
    return f", {counts['time']} on the time budget" if counts.get("time", 0) else ""


def training_text(result, config) -> str:
    """Cost and early stopping of the runs, in words."""
    folds = result.folds
    cache = sum(result.cache_seconds.values())
    counts = folds["stopped"].value_counts()
    at_zero = int((folds["best_epoch"] == 0).sum())
    return (f"Caching the frozen stages took {cache:.0f} s for all genes, and training {folds['seconds'].sum():.0f} s "
            f"({folds['seconds'].mean():.1f} s per gene and fold). {counts.get('patience', 0)} of {len(folds)} runs "
            f"stopped early{_time_budget(counts)}; the kept epoch was {folds['best_epoch'].median():.0f} "
            f"on median, and {at_zero} runs kept epoch 0 (no epoch predicted the validation people better than the "
            f"training mean, so those folds predict the mean).")


def _mean_r(summary: pd.DataFrame, method: str) -> float | None:
    row = summary[summary["method"] == method]
    return float(row["mean_r"].iloc[0]) if len(row) else None


def comparison_text(results: pd.DataFrame, summary: pd.DataFrame, from_rq2: bool, method: str = "finetune") -> str:
    """Mean r of fine-tuning and of each method shown, in words."""
    own = summary[summary["method"] == method].iloc[0]
    parts = [f"Fine-tuning reaches a mean Pearson r of {own['mean_r']:.3f} over the {own['n_genes']} genes (median "
             f"{own['median_r']:.3f}; r significantly above 0 at p < 0.05 in {counted(int(own['n_significant']), 'gene')})."]
    names = {WINDOW_MEAN: "a ridge regression on the mean of the same frozen states (RQ2's embedding, same window)",
             "predixcan": "PrediXcan's elastic net on all window SNPs", "lead_snp_cv": "the best single SNP of each training fold",
             "lead_snp": "the eQTL table's lead SNP (chosen on all people: optimistic)",
             "oracle": "the true genetic value (the ceiling, simulation only)"}
    shown = [(m, _mean_r(summary, m)) for m in methods_to_show(results, summary, method)[1:]]
    words = [f"{names.get(m, f'RQ2 best embedding model, {describe_method(m)},')} {r:.3f}" for m, r in shown
             if r is not None]
    if words:
        parts.append("Mean r of " + "; ".join(words) + ".")
    source = ("RQ2/RQ4's predictions come from step 03 on the same folds." if from_rq2 else
              "This book has no RQ2 step, so the single-SNP baselines and the oracle were computed here on the same "
              "folds (PrediXcan's elastic net is left to RQ2/RQ4: minutes per gene on a CPU); the comparison with "
              "RQ2's embedding models is in the summary chapter.")
    parts.append(source + " r is centred within outer folds (see RQ2); bars are bootstrap CIs over people.")
    return " ".join(parts)


def paired_text(paired: pd.DataFrame) -> str:
    """Fine-tuning against each method over genes (wins, Wilcoxon p, the smallest attainable p)."""
    if paired.empty:
        return "There is no other method to compare with."
    sentences = []
    for row in paired.itertuples():
        sentences.append(f"against {describe_method(row.method_a)}, fine-tuning wins on {row.wins_b} of {row.n_genes} genes (mean r "
                         f"difference {-row.mean_difference:+.3f}, Wilcoxon p = {row.wilcoxon_p:.2g})")
    floor = paired["min_attainable_p"].min()
    return ("Gene by gene, " + "; ".join(sentences) + f". With this few genes no paired test can reach p below "
            f"{floor:.2g}, so a non-significant difference is weak evidence either way.")


def attention_text(config, near: pd.DataFrame | None) -> str:
    """What the attention weights say about the causal SNPs (simulation) or why there are none."""
    if config.pooling != "attention":
        return "This run pools by the mean, so the head has no per-SNP weights to show; RQ5 attributes its predictions."
    if near is None:
        return (f"The figure shows each gene's learned weight per SNP. {NO_TRUTH} the causal SNPs are unknown, so "
                "the weights are not compared with them here; RQ5 compares attributions with the eQTL p-values.")
    usable = near[near["n_causal_in_window"] > 0]
    return (f"The learned weights (figure) put on average {usable['mass_near_causal'].mean():.1%} of their mass within "
            f"7 SNPs (the encoder's reach) of a causal SNP, where uniform weights would put "
            f"{usable['share_near_causal'].mean():.1%}: {usable['fold_enrichment'].median():.1f}-fold on median over "
            f"{counted(usable['gene'].nunique(), 'gene')} and their folds. The weights are a pooling, not an attribution: RQ5 "
            "measures which SNPs move the predictions.")
