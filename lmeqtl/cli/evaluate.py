"""``lmeqtl evaluate``: masked accuracy, recall and IQS of a trained model, by MAF bin."""

from __future__ import annotations

import argparse

import pandas as pd

from lmeqtl.cli.common import add_model_arguments
from lmeqtl.mlm.batches import cohort_fingerprint, kfold_samples
from lmeqtl.mlm.evaluate import evaluate_mlm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Score a trained MLM (a checkpoint directory, or an original lm-eqtl "
                          "*_weights_model.pt) on masked haplotypes: masked accuracy, per-allele "
                          "recall, IQS per SNP and pooled, by MAF bin.")
    add_model_arguments(parser)
    parser.add_argument("--split", default="test", choices=["test", "train", "validation"],
                        help="'validation' = the checkpoint's validation fold of the train split")
    parser.add_argument("--mask-rate", "--mask_rate", dest="mask_rate", type=float, default=0.2)
    parser.add_argument("--masking", default="uniform", choices=["uniform", "maf_stratified", "maf_balanced"])
    parser.add_argument("--edge-frame", dest="edge_frame", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1, help="seed of the (fixed) masks")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=16)
    parser.add_argument("--max-haplotypes", dest="max_haplotypes", type=int, help="score a seeded subset")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--output", help="write the MAF-bin table here (CSV)")
    parser.add_argument("--per-snp", dest="per_snp", help="write the per-SNP table here (CSV)")


def run(args: argparse.Namespace) -> int:
    from lmeqtl.cli.common import load_model_and_cohort
    from lmeqtl.data.io import atomic_path

    model, info, cohort = load_model_and_cohort(args)
    if info.get("data_fingerprint") not in (None, cohort_fingerprint(cohort)):
        print("note: this dataset differs from the one the model was trained on")
    samples = None
    split = args.split
    if split == "validation":
        train_cfg = info.get("train_config") or {}
        _, samples = kfold_samples(cohort.sample_ids[cohort.split_mask("train")],
                                   train_cfg.get("n_folds", 5), train_cfg.get("fold", 0), train_cfg.get("seed", 1))
    result = evaluate_mlm(model, cohort, samples, split if split != "validation" else "train",
                          mask_rate=args.mask_rate, mask_strategy=args.masking, edge_frame=args.edge_frame,
                          seed=args.seed, batch_size=args.batch_size, max_haplotypes=args.max_haplotypes,
                          device=args.device)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result.by_maf.round(4).to_string(index=False))
    for path, table in ((args.output, result.by_maf), (args.per_snp, result.per_snp)):
        if path:
            with atomic_path(path) as tmp:
                table.to_csv(tmp, index=False)
    return 0
