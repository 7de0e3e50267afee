"""Chapter 01's tables: the model in numbers, its training, and its scores next to the baselines.

The chapter trains (or is given) the haplotype MLM, scores it on masked test haplotypes
(:func:`lmeqtl.mlm.evaluate.evaluate_mlm`) and next to the baselines of
:mod:`lmeqtl.mlm.baselines`; these functions turn the results into the tables and numbers
the prose cites. :data:`ORIGINAL_REPORTED` are the original lm-eqtl's published numbers
(design notes §1): its full-size model after 100 epochs on the real 1000 Genomes top10 genes,
scored on its validation fold — context, not a result of this run.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.mlm.evaluate import (
    LABELS,
    METRICS,
    ORIGINAL_LABEL,
    ORIGINAL_REPORTED,
    MLMEvaluation,
    short_bin,
)
from lmeqtl.mlm.model import HaplotypeMLM, count_parameters

_PARTS = {"encoder": "encoder", "gene_embedding": "gene embedding", "snp_embedding": "SNP embedding",
          "resnet": "ResNet blocks", "layers": "state-space blocks", "norms": "state-space blocks",
          "decoder": "decoder"}


def parameter_counts(model: nn.Module) -> pd.Series:
    """Parameters per part of a :class:`~lmeqtl.mlm.model.HaplotypeMLM` (plus ``total``)."""
    counts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        part = _PARTS.get(name.split(".")[0], "other")
        counts[part] = counts.get(part, 0) + parameter.numel()
    order = [p for p in dict.fromkeys(_PARTS.values()) if p in counts] + (["other"] if "other" in counts else [])
    return pd.Series({**{p: counts[p] for p in order}, "total": count_parameters(model)}, name="parameters")


def full_size_parameters(n_genes: int) -> int:
    """Parameters of the original's full-size model (``ModelConfig()``) for ``n_genes`` genes."""
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return count_parameters(HaplotypeMLM(ModelConfig(), n_genes))


def checkpoint_history(checkpoint: str | os.PathLike[str]) -> pd.DataFrame | None:
    """The ``history.csv`` of the training run that wrote a checkpoint directory, if it is still next to it.

    ``lmeqtl train`` writes ``OUTPUT_DIR/checkpoint/`` and ``OUTPUT_DIR/history.csv``; the book
    copies the checkpoint to ``01_train_mlm/checkpoint/`` next to ``01_train_mlm/training/``;
    shipped weights (``lmeqtl/weights/PRESET``) keep it inside the checkpoint directory.
    """
    path = Path(checkpoint)
    for candidate in (path / "history.csv", path.parent / "history.csv", path.parent / "training" / "history.csv"):
        if path.is_dir() and candidate.is_file():
            return pd.read_csv(candidate)
    return None


def train_config_from(info: dict[str, Any], default: TrainConfig) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint was trained with (fields it does not know: ``default``'s)."""
    saved = info.get("train_config") or {}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return dataclasses.replace(default, **{k: v for k, v in saved.items() if k in known})


def training_summary(history: pd.DataFrame, config: TrainConfig, wall_seconds: float | None = None) -> dict[str, Any]:
    """What a training run did: epochs run of planned, why it stopped, time, throughput, first/last validation."""
    history = history.sort_values("epoch")
    last = history.iloc[-1]
    seconds = float(history["seconds"].sum())
    summary = {
        "epochs_run": int(last["epoch"]), "epochs_planned": int(config.epochs),
        "stopped_early": bool(last["stopped_early"]), "max_minutes": config.max_minutes,
        "train_minutes": seconds / 60, "wall_minutes": (wall_seconds / 60) if wall_seconds is not None else math.nan,
        "haplotypes_seen": int(history["train_haplotypes"].sum()),
        # the median epoch's rate: an epoch that waited (a paused or crowded run) does not lower it
        "haplotypes_per_s": float((history["train_haplotypes"] / history["seconds"].clip(lower=1e-9)).median()),
        "crop_length": config.crop_length,
    }
    for key in ("val_masked_accuracy", "val_iqs_snp_mean", "val_iqs_pooled"):
        if key in history.columns:
            values = history[key].dropna()
            summary[f"first_{key}"] = float(values.iloc[0]) if len(values) else math.nan
            summary[f"last_{key}"] = float(values.iloc[-1]) if len(values) else math.nan
            # gain over the last validated epoch: is the curve still rising?
            summary[f"last_gain_{key}"] = float(values.diff().iloc[-1]) if len(values) > 1 else math.nan
    return summary


def model_summary(model: HaplotypeMLM, training: dict[str, Any] | None = None,
                  device: str | None = None) -> pd.DataFrame:
    """One table of the model: sizes, parameters by part and (when it trained here) the training run."""
    config = model.config
    rows: dict[str, Any] = {
        "d_model (channels)": config.d_model, "state-space blocks": config.n_layers,
        "state size N": config.d_state, "ResNet blocks": config.n_resnet_blocks,
        "kernels (encoder / ResNet / decoder)": f"{config.encoder_kernel} / {config.resnet_kernel} / "
                                                f"{config.decoder_kernel}",
        "state-space kernel": config.dss_kernel, "dropout": config.dropout,
        "SNP embedding": "yes" if config.snp_embedding else "no", "genes": model.n_genes,
    }
    rows.update({f"parameters: {part}": f"{count:,}" for part, count in parameter_counts(model).items()})
    if training is not None:
        epochs = (f"stopped in epoch {training['epochs_run']} of {training['epochs_planned']} (time budget of "
                  f"{training['max_minutes']:g} min)" if training["stopped_early"]
                  else f"{training['epochs_run']} of {training['epochs_planned']}")
        rows.update({
            "epochs": epochs,
            "training wall time (min, with validation)": (f"{training['wall_minutes']:.1f}"
                                                          if math.isfinite(training["wall_minutes"]) else "not recorded"),
            "training steps time (min)": f"{training['train_minutes']:.1f}",
            "haplotypes seen": f"{training['haplotypes_seen']:,}"
                               + (f" (crops of {training['crop_length']} SNPs)" if training["crop_length"] else ""),
            "training haplotypes/s": f"{training['haplotypes_per_s']:.1f}",
        })
    if device is not None:
        rows["device"] = device
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


def split_maf(cohort: Cohort, split: str) -> np.ndarray:
    """Minor allele frequency of every SNP (``cohort.meta`` rows) among the haplotypes of ``split``."""
    rows = cohort.split_mask(split)
    values = []
    for gene in cohort.genes:
        haplotypes = cohort.haplotypes[gene][rows]  # (n, 2, L)
        known = haplotypes <= 1
        af = (haplotypes == 1).sum(axis=(0, 1)) / np.maximum(known.sum(axis=(0, 1)), 1)
        values.append(np.minimum(af, 1 - af))
    return np.concatenate(values) if values else np.zeros(0)


def comparison_table(model: MLMEvaluation, baselines: dict[str, MLMEvaluation], model_label: str = "this model",
                     validation: dict[str, float] | None = None,
                     original: dict[str, float] | None = None) -> pd.DataFrame:
    """Rows: the model and each baseline on the same masked test haplotypes; then, when given, the
    model's last validation scores (``val_*`` of the history) and the original's reported numbers."""
    rows = {model_label: model.summary, **{name: result.summary for name, result in baselines.items()}}
    table = pd.DataFrame({label: {m: summary.get(m, math.nan) for m in METRICS} for label, summary in rows.items()}).T
    table["scored_on"] = "test"
    if validation is not None:
        table.loc[f"{model_label}, validation"] = [validation.get(f"val_{m}", math.nan) for m in METRICS] + [
            "validation"]
    if original is not None:
        table.loc[ORIGINAL_LABEL] = [original.get(m, math.nan) for m in METRICS] + ["validation, real data"]
    table.index.name = "predictor"
    return table


def readable(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A metrics table for the page: column names in words, counts as integers, values rounded."""
    counts = [c for c in ("n_snps", "n_masked", "n_snps_iqs") if c in table.columns]
    shown = table.astype({c: int for c in counts}).round(digits)
    if "maf_bin" in shown.columns:
        shown = shown.assign(maf_bin=shown["maf_bin"].map(short_bin)).set_index("maf_bin")
    shown = shown.drop(columns=[c for c in ("loss", "n_snps_iqs") if c in shown.columns])
    return shown.rename(columns=LABELS).rename_axis(index=LABELS.get(shown.index.name, shown.index.name))


def headline_numbers(test: MLMEvaluation, baselines: dict[str, MLMEvaluation]) -> dict[str, Any]:
    """The numbers the chapter's prose cites (glue keys -> values) from the test and baseline scores."""
    major, tag = baselines["major allele"], baselines["LD tag SNP"]
    bins = test.by_maf[test.by_maf["maf_bin"] != "all"].set_index("maf_bin")
    tag_bins = tag.by_maf.set_index("maf_bin")
    return {
        "test_acc": test.summary["masked_accuracy"], "test_iqs": test.summary["iqs_snp_mean"],
        "test_iqs_pooled": test.summary["iqs_pooled"], "n_snps_iqs": int(test.summary["n_snps_iqs"]),
        "n_snps": len(test.per_snp), "recall_ref": test.summary["recall_ref"],
        "recall_alt": test.summary["recall_alt"],
        "major_acc": major.summary["masked_accuracy"], "major_iqs_pooled": major.summary["iqs_pooled"],
        "tag_acc": tag.summary["masked_accuracy"], "tag_iqs": tag.summary["iqs_snp_mean"],
        "rare_bin": short_bin(bins.index[0]), "common_bin": short_bin(bins.index[-1]),
        "rare_iqs": bins["iqs_snp_mean"].iloc[0], "common_iqs": bins["iqs_snp_mean"].iloc[-1],
        "rare_tag_iqs": tag_bins.loc[bins.index[0], "iqs_snp_mean"],
        "common_tag_iqs": tag_bins.loc[bins.index[-1], "iqs_snp_mean"],
        "rare_recall_alt": bins["recall_alt"].iloc[0],
        "copies_per_snp": float(test.per_snp["n_masked"].mean()),
    }


def is_full_size(config: ModelConfig) -> bool:
    """Whether the architecture has the original's sizes (SNP embedding and dropout aside)."""
    sizes = ("d_model", "n_layers", "n_resnet_blocks", "d_state", "encoder_kernel", "resnet_kernel", "decoder_kernel")
    default = ModelConfig()
    return all(getattr(config, f) == getattr(default, f) for f in sizes)



def setup_text(config: TrainConfig, n_fit: int, n_validation: int, why: str = "") -> str:
    """The prose on how the model trains: data, crops, masking, optimiser, budget (from the preset).

    ``why``: why this run trains instead of using shipped weights (a clause, e.g. ``"this run
    was asked to retrain"``).
    """
    crops = (f"random crops of {config.crop_length:,} SNPs" if config.crop_length else "whole sequences")
    epoch = (f"{config.epoch_size:,} haplotypes drawn afresh each epoch" if config.epoch_size
             else "every haplotype once per epoch")
    validation = (f"{config.val_max_haplotypes:,} fixed whole haplotypes" if config.val_max_haplotypes
                  else "every whole haplotype")
    budget = (f", stopping early when {config.max_minutes:g} minutes are spent" if config.max_minutes else "")
    because = f"This run trains the model from scratch because {why}. " if why else ""
    return (f"{because}The model learns from the haplotypes of {n_fit:,} people of the train split, on {crops} in batches "
            f"of {config.batch_size} ({epoch}). In each haplotype {100 * config.mask_rate:.0f} % of the positions "
            f"outside an edge frame of {config.edge_frame} are selected ({config.mask_strategy.replace('_', '-')} "
            f"masking) and the loss is the cross-entropy of their alleles. Adam with a learning rate of "
            f"{config.learning_rate:g} ({config.lr_schedule} schedule after {config.warmup_steps} warm-up steps) "
            f"runs for up to {config.epochs} epochs{budget}. Fold {config.fold} of {config.n_folds} of the train "
            f"split's people ({n_validation:,}) is held out for validation, scored after each epoch on "
            f"{validation} with uniform masks fixed by the seed, so that the epochs are comparable.")


def shipped_text(checkpoint: str, provenance: dict[str, Any] | None, recipe: str) -> str:
    """The prose when the run uses the weights lmeqtl ships (``recipe``: :func:`setup_text` of their settings)."""
    made = "how they were made is not recorded"
    if provenance:
        hours = provenance.get("wall_seconds", math.nan) / 3600
        sittings = provenance.get("sittings") or [{}]
        machine = sittings[-1].get("hardware", {})
        where = machine.get("gpu") or f"{machine.get('cpu', 'an unrecorded CPU')}, {machine.get('torch_threads', '?')} threads"
        made = (f"`{provenance.get('command', 'lmeqtl weights')}` (`make weights`) made them at commit "
                f"`{str(provenance.get('git_commit'))[:10]}` in {hours:.1f} hours of training ({len(sittings)} "
                f"sitting(s), last on {where})")
        notes = [s["note"] for s in sittings if s.get("note")]  # e.g. a sitting paused while other work ran
        made += "".join(f" ({note})" for note in notes)
    shown = Path(checkpoint)
    shown = Path(*shown.parts[-3:]) if shown.parent.name == "weights" else shown  # lmeqtl/weights/PRESET
    return (f"This run uses the pretrained weights that lmeqtl ships for this preset (`{shown}`): they were "
            "trained on this very cohort (the data fingerprint matches) with the model and training settings of "
            f"the preset, so nothing is trained here; {made}. Their stored training history gives the curves "
            "below. `lmeqtl book --retrain` trains the same recipe from scratch instead, and any change of "
            f"the cohort or of those settings does so by itself.\n\nThe recipe: {recipe}")


def pretrained_text(checkpoint: str, has_history: bool) -> str:
    """The prose when the run was given a checkpoint instead of training one."""
    curves = ("its training history, found next to it, gives the curves below" if has_history
              else "no training history was found next to it, so there are no training curves")
    return (f"This run was given a pretrained checkpoint (`{checkpoint}`), so nothing was trained here: the "
            f"chapter evaluates that model; {curves}.")


def last_validation(history: pd.DataFrame | None) -> dict[str, float] | None:
    """The ``val_*`` scores of the last validated epoch (None without any)."""
    if history is None or "val_masked_accuracy" not in history.columns:
        return None
    rows = history.dropna(subset=["val_masked_accuracy"])
    return None if rows.empty else {k: v for k, v in rows.iloc[-1].items() if str(k).startswith("val_")}


def training_text(training: dict[str, Any] | None) -> str:
    """The prose on the training run: epochs, time, throughput and the validation curve."""
    if training is None:
        return "There is no training history to describe."
    stop = (f"in epoch {training['epochs_run']} of {training['epochs_planned']}, when its time budget of "
            f"{training['max_minutes']:g} minutes ran out" if training["stopped_early"]
            else f"after all {training['epochs_planned']} planned epochs")
    spent = (f"{training['wall_minutes']:.1f} minutes in all, validation included"
             if math.isfinite(training["wall_minutes"]) else f"{training['train_minutes']:.1f} minutes of training steps")
    text = (f"Training stopped {stop}: {spent}, at {training['haplotypes_per_s']:.0f} haplotypes per second in "
            "the training steps of the median epoch.")
    if math.isfinite(training.get("last_val_masked_accuracy", math.nan)):
        gain = training["last_gain_val_masked_accuracy"]
        trend = ("still rising when training stopped, so more time would give a better model"
                 if math.isfinite(gain) and gain > 5e-4 else "nearly flat by the end")
        text += (f" Validation masked accuracy went from {training['first_val_masked_accuracy']:.3f} after the "
                 f"first epoch to {training['last_val_masked_accuracy']:.3f}, per-SNP IQS from "
                 f"{training['first_val_iqs_snp_mean']:.2f} to {training['last_val_iqs_snp_mean']:.2f}; "
                 f"the curves were {trend}.")
    return text


def scale_text(config: ModelConfig, counts: pd.Series, full_parameters: int) -> str:
    """The prose on the model's size next to the original's (``counts``: :func:`parameter_counts`)."""
    table = counts.get("SNP embedding", 0)
    of_which = f", {table:,} of them the per-SNP embedding (a lookup table, cheap to run)" if table else ""
    if is_full_size(config):
        return (f"This is the original's full size: d_model {config.d_model} and {config.n_layers} state-space "
                f"blocks, {counts['total']:,} parameters{of_which}.")
    return (f"This is a reduced model that trains on a CPU in minutes: d_model {config.d_model} and "
            f"{config.n_layers} state-space blocks, {counts['total']:,} parameters{of_which}, against the "
            f"original's d_model 256 and 16 blocks ({full_parameters:,} parameters for these genes). The "
            "`top10-gpu` preset trains the full size; on a GPU the original needed about 7 minutes per epoch, "
            "for 100 epochs.")


def subset_text(n_scored: int, n_total: int, n_people: int, n_genes: int) -> str:
    """The prose on which test haplotypes were scored (all, or a seeded subset to save time)."""
    if n_scored >= n_total:
        return (f"All {n_total:,} test haplotypes are scored ({n_people:,} people × 2 haplotypes × "
                f"{n_genes} genes).")
    return (f"To keep this step short on a CPU, a seeded random subset of {n_scored:,} of the {n_total:,} test "
            f"haplotypes ({n_people:,} people × 2 × {n_genes} genes) is scored (`train.test_max_haplotypes` "
            "of the preset; unset, every haplotype is scored).")


def baseline_verdict(model: dict[str, float], tag: dict[str, float], margin: float = 0.005) -> str:
    """One sentence: does the model beat the single best LD tag SNP on per-SNP IQS?"""
    gain = model["iqs_snp_mean"] - tag["iqs_snp_mean"]
    if gain > margin:
        return (f"the model does better than the best single neighbour, by {gain:.3f} in per-SNP IQS, so it uses "
                "more than pairwise LD.")
    if gain < -margin:
        return (f"the model does worse than the best single neighbour, by {-gain:.3f} in per-SNP IQS: at this "
                "size and training time it has not yet learned what one well-chosen neighbouring SNP tells.")
    return ("the model is about as good as the best single neighbour (within "
            f"{margin} in per-SNP IQS): at this size and training time it has learned little beyond pairwise LD.")


def original_text(test: dict[str, float], validation: dict[str, float] | None, full_size: bool) -> str:
    """The prose that puts this run next to the original's reported numbers, saying what differs."""
    text = (f"The original lm-eqtl reported a validation masked accuracy of {ORIGINAL_REPORTED['masked_accuracy']} "
            f"and an IQS of {ORIGINAL_REPORTED['iqs_pooled']} — a pooled IQS — for its full-size model after 100 "
            "epochs on the real 1000 Genomes top10 genes. Those numbers are context, not a result of this run: "
            "they come from real rather than simulated haplotypes, from the validation fold of the train split "
            "rather than the European test people")
    text += "." if full_size else ", and from a wider and deeper model (d_model 256, 16 blocks) trained on a GPU."
    ours = f"masked accuracy {test['masked_accuracy']:.3f} and pooled IQS {test['iqs_pooled']:.3f}"
    if validation is not None and math.isfinite(validation.get("val_masked_accuracy", math.nan)):
        return text + (f" On its own validation fold, the same kind of people as the original's, this run's model "
                       f"reached masked accuracy {validation['val_masked_accuracy']:.3f} and pooled IQS "
                       f"{validation['val_iqs_pooled']:.3f}; on the European test people, {ours}.")
    return text + f" On the European test people this run's model reached {ours}."
