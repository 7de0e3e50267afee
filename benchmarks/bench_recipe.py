"""Training recipes for the top10 CPU model, compared under the same fixed number of optimiser steps.

Each variant starts from the top10 preset's model and training settings, changes one thing,
trains for exactly ``--steps`` optimiser steps (the cosine schedule is fitted to that length)
with :func:`lmeqtl.mlm.train.train_mlm`, and is scored on the same fixed-mask haplotypes of
the test split (:func:`lmeqtl.mlm.evaluate.evaluate_mlm`): masked accuracy, per-SNP and pooled
IQS, per-SNP IQS by MAF bin, and the training throughput. Each variant runs in its own
process with the same number of torch threads, one after the other, so the ratios of the
throughputs are measured side by side; the accuracies do not depend on the machine's load.

    python -m benchmarks.bench_recipe --data-dir runs/top10/00_data/cohort [--steps 300] \
        [--curve lmeqtl/weights/top10] [--out benchmarks/RESULTS-recipe.md]
    python -m benchmarks.bench_recipe --quick      # a tiny synthetic cohort, 4 steps (smoke test)
    python -m benchmarks.bench_recipe --curve lmeqtl/weights/top10 --variants   # only the curve

``--curve DIR`` adds the validation curve of a finished training run (the shipped weights'
``history.csv`` and ``provenance.json``): masked accuracy and IQS against CPU-hours.

The data directory holds a prepared ``dataset.parquet`` + ``meta.csv.gz`` (``lmeqtl book
--preset top10 --only 00`` writes one into ``runs/top10/00_data/cohort``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time

from benchmarks.common import load_average, markdown

# variant -> (what changes, ModelConfig overrides, TrainConfig overrides)
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "preset": ("top10 preset: d 64 x 4 layers, crops of 1000, lr 6e-3, MAF-stratified masks", {}, {}),
    "bf16": ("bf16 autocast on the CPU", {}, {"amp": "bf16"}),
    "lr-1e-2": ("peak learning rate 1e-2", {}, {"learning_rate": 1e-2}),
    "lr-3e-3": ("peak learning rate 3e-3", {}, {"learning_rate": 3e-3}),
    "uniform-mask": ("uniform masks (no MAF stratification)", {}, {"mask_strategy": "uniform"}),
    "maf-balanced": ("MAF-balanced masks", {}, {"mask_strategy": "maf_balanced"}),
    "crop-2000": ("crops of 2000 SNPs, batch 16 (same SNPs per step)", {}, {"crop_length": 2000, "batch_size": 16}),
    "wide-96": ("d_model 96", {"d_model": 96}, {}),
    "deep-6": ("6 state-space layers", {"n_layers": 6}, {}),
}
DEFAULT_VARIANTS = ("preset", "bf16", "lr-1e-2", "maf-balanced", "crop-2000", "wide-96", "deep-6")


def _case(variant: str, data_dir: str | None, steps: int, threads: int, test_haplotypes: int, quick: bool) -> dict:
    import torch

    from lmeqtl.config import get_preset
    from lmeqtl.mlm.evaluate import evaluate_mlm
    from lmeqtl.mlm.model import count_parameters
    from lmeqtl.mlm.train import train_mlm

    torch.set_num_threads(threads)
    _, model_over, train_over = VARIANTS[variant]
    preset = get_preset("top10")
    model_cfg = dataclasses.replace(preset.model, **model_over)
    train_cfg = dataclasses.replace(preset.train, max_minutes=None, **train_over)
    if quick:
        from benchmarks.common import synthetic_cohort

        cohort = synthetic_cohort(64, [300, 300])
        train_cfg = dataclasses.replace(train_cfg, crop_length=min(train_cfg.crop_length, 128), warmup_steps=1)
    else:
        from lmeqtl.data.cohort import load_cohort

        cohort = load_cohort(f"{data_dir}/dataset.parquet", f"{data_dir}/meta.csv.gz")
    steps_per_epoch = max(1, min(steps, train_cfg.epoch_size // train_cfg.batch_size))
    epochs = max(1, round(steps / steps_per_epoch))
    train_cfg = dataclasses.replace(train_cfg, epochs=epochs, epoch_size=steps_per_epoch * train_cfg.batch_size,
                                    validate_every=10**6, val_max_haplotypes=16)
    with tempfile.TemporaryDirectory(prefix="bench_recipe_") as out:
        started = time.monotonic()
        result = train_mlm(cohort, model_cfg, train_cfg, out, "cpu", progress=False)
        train_s = time.monotonic() - started
    history = result.history
    test = evaluate_mlm(result.model, cohort, split="test", device="cpu", progress=False,
                        max_haplotypes=test_haplotypes, seed=1)
    by_bin = test.by_maf.set_index("maf_bin")["iqs_snp_mean"].to_dict()
    return {"variant": variant, "parameters": count_parameters(result.model), "steps": epochs * steps_per_epoch,
            "train_s": train_s, "haplotypes_per_s": float(history["haplotypes_per_s"].median()),
            **{k: test.summary[k] for k in ("masked_accuracy", "iqs_snp_mean", "iqs_pooled")},
            "iqs_by_bin": {str(k): float(v) for k, v in by_bin.items()}}


def curve(weights_dir: str) -> str:
    """The validation curve of a finished run (shipped weights): metrics against cumulative CPU-hours."""
    import pandas as pd

    from lmeqtl.mlm.weights import read_provenance

    history = pd.read_csv(f"{weights_dir}/history.csv")
    provenance = read_provenance(weights_dir) or {}
    sittings = provenance.get("sittings") or [{}]
    threads = sittings[-1].get("hardware", {}).get("torch_threads", 1)
    # the median epoch, not each epoch's own seconds: a run paused (SIGSTOP) or crowded now and then
    # would otherwise count the pauses as training; all epochs run the same number of steps
    history["cpu_hours"] = history["seconds"].median() * history["epoch"] * threads / 3600
    rows = history.dropna(subset=["val_masked_accuracy"])
    table = [{"epoch": int(r.epoch), "train steps": int(r.epoch) * 125, "CPU-hours": f"{r.cpu_hours:.2f}",
              "val masked acc.": f"{r.val_masked_accuracy:.4f}", "val per-SNP IQS": f"{r.val_iqs_snp_mean:.4f}",
              "val pooled IQS": f"{r.val_iqs_pooled:.4f}"} for r in rows.itertuples()]
    cpu = sittings[-1].get("hardware", {}).get("cpu", "?")
    return (f"### Training curve of the shipped weights ({weights_dir})\n\n{markdown(table)}\n\n"
            f"CPU-hours = epochs x the median epoch's training-step seconds "
            f"({history['seconds'].median():.1f} s) x {threads} torch threads ({cpu}); validation on "
            f"{provenance.get('train', {}).get('val_max_haplotypes', '?')} fixed whole haplotypes, uniform masks; "
            f"training steps assume the top10 preset's 125 steps per epoch; "
            f"{provenance.get('wall_seconds', float('nan')) / 3600:.2f} h of wall time in all (pauses included).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="runs/top10/00_data/cohort",
                        help="a prepared cohort (dataset.parquet + meta.csv.gz) of the top10 preset")
    parser.add_argument("--steps", type=int, default=400, help="optimiser steps per variant (batch of the variant)")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(DEFAULT_VARIANTS),
                        help="recipes to train (none: only --curve)")
    parser.add_argument("--curve", help="also show the validation curve of this finished run (weights directory)")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per variant")
    parser.add_argument("--test-haplotypes", type=int, default=400, help="fixed-mask test haplotypes scored")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic cohort, 4 steps (a smoke test)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    steps = 4 if args.quick else args.steps
    if args.case:
        print(json.dumps(_case(args.case, args.data_dir, steps, args.threads, args.test_haplotypes, args.quick)))
        return 0

    parts = [_variants_table(args, steps)] if args.variants else []
    if args.curve:
        parts.append(curve(args.curve))
    text = "\n\n".join(parts)
    print(text)
    if args.out:
        from lmeqtl.data.io import atomic_path

        with atomic_path(args.out) as tmp:
            tmp.write_text(f"# MLM training recipes\n\n`python -m benchmarks.bench_recipe {' '.join(argv or sys.argv[1:])}`"
                           f"\n\n{text}\n")
    return 0


def _variants_table(args: argparse.Namespace, steps: int) -> str:
    """Train every variant in its own process; the markdown table."""
    load_before = load_average()
    rows = []
    for variant in args.variants:
        command = [sys.executable, "-m", "benchmarks.bench_recipe", "--case", variant, "--data-dir", args.data_dir,
                   "--steps", str(steps), "--threads", str(args.threads),
                   "--test-haplotypes", str(args.test_haplotypes)] + (["--quick"] if args.quick else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"variant {variant} failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"<!-- {variant}: {json.dumps(row)} -->", file=sys.stderr, flush=True)
        rows.append(row)
    bins = [b for b in rows[0]["iqs_by_bin"] if b != "all"]
    base = rows[0]["haplotypes_per_s"]
    for row in rows:
        row["what"] = VARIANTS[row["variant"]][0]
        row["speed"] = f"{row['haplotypes_per_s'] / base:.2f}x"
        for key in ("masked_accuracy", "iqs_snp_mean", "iqs_pooled"):
            row[key] = f"{row[key]:.4f}"
        row.update({f"bin {b}": f"{row['iqs_by_bin'][b]:.3f}" for b in bins})
        row["train_s"] = round(row["train_s"])
        row["haplotypes_per_s"] = f"{row['haplotypes_per_s']:.3g}"
    columns = {"variant": "variant", "what": "what changes", "parameters": "parameters", "steps": "steps",
               "masked_accuracy": "test masked acc.", "iqs_snp_mean": "per-SNP IQS", "iqs_pooled": "pooled IQS",
               **{f"bin {b}": f"per-SNP IQS, MAF {b}" for b in bins},
               "haplotypes_per_s": "train haplotypes/s", "speed": "speed vs preset", "train_s": "train s"}
    return (f"### MLM training recipes, {steps} optimiser steps requested (whole epochs of 125 steps) "
            f"(top10 cohort, CPU, {args.threads} torch thread(s))\n\n{markdown(rows, columns)}\n\n"
            f"scored on {args.test_haplotypes} fixed-mask test haplotypes (uniform 20 % masks, seed 1); "
            "cosine schedule fitted to the step budget; haplotypes/s count crops (crop-2000's are twice as long); "
            f"load average before {load_before:.2f}, after {load_average():.2f}")


if __name__ == "__main__":
    sys.exit(main())
