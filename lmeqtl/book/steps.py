"""The book's steps and the outputs later steps read: the one place that names them.

A step is a notebook ``notebooks/NN_name.ipynb``; it writes into ``run_dir/NN_name/``.
Chapters never spell a step's name or an output's path themselves: they ask
:meth:`lmeqtl.book.run.NotebookRun.output` (or :func:`output_path` given a run directory).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = "00_data"
MLM = "01_train_mlm"
GENOTYPES = "02_rq1_genotypes"
EXPRESSION = "03_rq2_embeddings_expression"
FINETUNE = "04_rq3_finetuning"
BASELINES = "05_rq4_single_snp"
EXPLAIN = "06_rq5_explainability"
SUMMARY = "07_summary"

# output name -> (the step that writes it, its path inside that step's directory)
OUTPUTS: dict[str, tuple[str, str]] = {
    "cohort": (DATA, "cohort"),  # simulated or prepared cohort (DataPaths.from_dir layout)
    "checkpoint": (MLM, "checkpoint"),  # the trained MLM (lmeqtl.mlm.checkpoint)
    "mlm_comparison": (MLM, "evaluation/comparison.csv"),  # model vs baselines, test split
    "rq1_table": (GENOTYPES, "rq1/rq1_table.csv"),  # method x MAF bin
    "embeddings": (GENOTYPES, "embeddings"),  # lmeqtl.mlm.embed_store directory
    "rq2_outputs": (EXPRESSION, ""),  # folds.csv + predictions.parquet, somewhere below
    "rq2_scores": (EXPRESSION, "scores.csv"),
    "finetuned": (FINETUNE, "finetune"),  # fine-tuned checkpoints (lmeqtl.finetune)
    "rq3_scores": (FINETUNE, "scores.csv"),
    "rq4_scores": (BASELINES, "scores.csv"),
    "rq5_ranking": (EXPLAIN, "ranking.csv"),
    "rq5_enrichment": (EXPLAIN, "enrichment.csv"),
    "answers": (SUMMARY, "answers.json"),  # the five answers, in Markdown; the intro page shows them
    "rq2_shuffled_control": (EXPRESSION, "shuffled_control.csv"),  # the leakage control, per gene
    "rq2_context_selections": (EXPRESSION, "contextual_selections.csv"),  # the SNPs each fold chose (contextual)
    "rq2_context_weights": (EXPRESSION, "contextual_snp_weights.csv"),  # each fold's fitted weight of those SNPs
    "rq2_context_heads": (EXPRESSION, "contextual_heads"),  # the headline's first-fold model per gene (npz)
    "rq2_truth_split": (EXPRESSION, "truth_split.csv"),  # mean r per method in additive / interaction genes
    "rq4_headline": (BASELINES, "headline.csv"),  # the headline LM method vs the elastic net, per gene group
    "rq4_truth_split": (BASELINES, "truth_split.csv"),
}
SCORE_OUTPUTS = ("rq2_scores", "rq3_scores", "rq4_scores")  # per gene and method, stacked by the summary


def output_path(run_dir: str | os.PathLike[str], name: str) -> Path:
    """Where output ``name`` (a key of :data:`OUTPUTS`) lives in ``run_dir`` (it may not exist yet)."""
    step, relative = OUTPUTS[name]
    return Path(run_dir) / step / relative


def step_of(name: str) -> str:
    """The step that writes output ``name``."""
    return OUTPUTS[name][0]
