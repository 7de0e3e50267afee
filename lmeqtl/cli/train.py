"""``lmeqtl train``: train the haplotype masked language model (resumable; DDP via torchrun)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.mlm.train import train_mlm

_TRAIN_FLAGS = {
    "epochs": ("--epochs", "--tot_epochs", int), "batch_size": ("--batch-size", "--batch_size", int),
    "learning_rate": ("--learning-rate", "--learning_rate", float),
    "weight_decay": ("--weight-decay", "--weight_decay", float),
    "n_folds": ("--n-folds", "--Nfolds", int), "fold": ("--fold", None, int), "seed": ("--seed", None, int),
    "crop_length": ("--crop-length", None, int), "epoch_size": ("--epoch-size", None, int),
    "mask_rate": ("--mask-rate", "--mask_rate", float), "edge_frame": ("--edge-frame", None, int),
    "max_minutes": ("--max-minutes", None, float), "validate_every": ("--validate-every", "--validate_every", int),
    "val_max_haplotypes": ("--val-max-haplotypes", None, int), "lr_schedule": ("--lr-schedule", None, str),
    "grad_clip": ("--grad-clip", None, float), "amp": ("--amp", None, str),
}
_MODEL_FLAGS = {
    "d_model": ("--d-model", "--d_model", int), "n_layers": ("--n-layers", "--n_layers", int),
    "d_state": ("--d-state", None, int), "n_resnet_blocks": ("--n-resnet-blocks", None, int),
    "dropout": ("--dropout", None, float), "dss_kernel": ("--dss-kernel", None, str),
}
_MASKING_ALIASES = {"none": "uniform", "stratified_maf": "maf_stratified"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Train the haplotype masked language model. Settings come from --preset "
                          "(default: the original's full size), explicit flags override them. "
                          "Resumes from OUTPUT_DIR when it holds an unfinished run. DDP: "
                          "torchrun --nproc_per_node=K -m lmeqtl.cli train ...")
    parser.add_argument("--dataset", required=True, help="dataset.parquet")
    parser.add_argument("--meta", help="meta.csv.gz (default: next to the dataset)")
    parser.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True,
                        help="checkpoint, train state and history go here")
    parser.add_argument("--preset", help="take model/train settings from this preset (lmeqtl presets)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--masking", help="uniform, maf_stratified or maf_balanced (original: none, stratified_maf)")
    parser.add_argument("--model-weight", "--model_weight", dest="model_weight",
                        help="initialise from a checkpoint directory or an original *_weights_model.pt")
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="start over in OUTPUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    for field, (flag, alias, kind) in {**_TRAIN_FLAGS, **_MODEL_FLAGS}.items():
        names = [flag] + ([alias] if alias else [])
        parser.add_argument(*names, dest=field, type=kind, default=None,
                            help=f"{field} (default: from the preset)")


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """Preset (or defaults) with the explicitly given flags on top."""
    from lmeqtl.config import get_preset

    model_cfg, train_cfg = ModelConfig(), TrainConfig()
    if args.preset:
        preset = get_preset(args.preset)
        model_cfg, train_cfg = preset.model, preset.train
    train_over = {f: getattr(args, f) for f in _TRAIN_FLAGS if getattr(args, f) is not None}
    if args.masking:
        train_over["mask_strategy"] = _MASKING_ALIASES.get(args.masking, args.masking)
    model_over = {f: getattr(args, f) for f in _MODEL_FLAGS if getattr(args, f) is not None}
    return dataclasses.replace(model_cfg, **model_over), dataclasses.replace(train_cfg, **train_over)


def run(args: argparse.Namespace) -> int:
    from lmeqtl.data.cohort import load_cohort

    model_cfg, train_cfg = configs_from_args(args)
    meta = args.meta or str(Path(args.dataset).parent / "meta.csv.gz")
    genes = None
    if args.model_weight and Path(args.model_weight).is_file():  # original weights: the original's gene order
        from lmeqtl.mlm.checkpoint import original_gene_order

        genes = original_gene_order(args.dataset)
    cohort = load_cohort(args.dataset, meta, genes=genes)
    result = train_mlm(cohort, model_cfg, train_cfg, args.output_dir, args.device, resume=args.resume,
                       init_from=args.model_weight, progress=not args.quiet)
    last = result.history.iloc[-1].to_dict() if len(result.history) else {}
    shown = {k: round(v, 4) for k, v in last.items() if k.startswith("val_") and isinstance(v, float)}
    print(f"checkpoint: {result.checkpoint}  {shown}")
    return 0
