"""Training throughput and peak memory per model size: the real training loop, one process per size.

Each size runs :func:`lmeqtl.mlm.train.train_mlm` (masking, batching, forward, backward, Adam,
clipping; no validation) for 2 short epochs on a synthetic cohort and reports the second
epoch's haplotypes per second (the first one also pays for start-up) and the process's
peak RSS (``--device cuda``: peak GPU memory allocated too). Sizes:

- ``smoke``: the smoke preset's model (d_model 32, 2 layers) on 256-SNP crops, batch 32;
- ``top10``: the top10 CPU preset's model (d_model 64, 4 layers) on 1000-SNP crops, batch 32;
- ``full``: the original's size (d_model 256, 16 layers) on whole 5000-SNP sequences, batch 4
  on CPU (the original used batch 32 on a GPU; ``--device cuda`` uses 32).

    python -m benchmarks.bench_training [--threads 1] [--device cpu]
    python -m benchmarks.bench_training --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile

from benchmarks.common import load_average, markdown, peak_rss_mb, synthetic_cohort

# size -> (preset whose model it is, training crop length, gene length, CPU batch, GPU batch, CPU haplotypes/epoch)
SIZES = {"smoke": ("smoke", 256, 500, 32, 32, 256), "top10": ("top10", 1000, 5000, 32, 32, 128),
         "full": ("top10-gpu", None, 5000, 4, 32, 4)}


def _case(size: str, device: str, threads: int, quick: bool) -> dict:
    import torch

    from lmeqtl.config import TrainConfig, get_preset
    from lmeqtl.mlm.model import count_parameters
    from lmeqtl.mlm.train import train_mlm

    torch.set_num_threads(threads)
    preset, crop, length, cpu_batch, gpu_batch, cpu_epoch = SIZES[size]
    batch = gpu_batch if device.startswith("cuda") else cpu_batch
    epoch_size = 8 * batch if device.startswith("cuda") else cpu_epoch
    if quick:
        crop, length, epoch_size = (None if crop is None else min(crop, 128)), min(length, 256), 2 * batch
    model_config = get_preset(preset).model
    cohort = synthetic_cohort(max(epoch_size, 64), [length, length])
    config = TrainConfig(epochs=2, batch_size=batch, crop_length=crop, epoch_size=epoch_size, n_folds=1,
                         warmup_steps=1, amp="off")
    with tempfile.TemporaryDirectory(prefix="bench_training_") as out:
        result = train_mlm(cohort, model_config, config, out, device, progress=False)
    last = result.history.iloc[-1]
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {"size": size, "d_model": model_config.d_model, "n_layers": model_config.n_layers,
            "parameters": count_parameters(result.model), "length": crop or length, "batch": batch,
            "haplotypes_per_s": float(last["haplotypes_per_s"]), "epoch_s": float(last["seconds"]),
            "snps_per_s": float(last["haplotypes_per_s"]) * (crop or length), "peak_rss_mb": peak_rss_mb(),
            "gpu_mb": gpu_mb, "threads": torch.get_num_threads(), "config": dataclasses.asdict(config)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short sequences, 2 batches per epoch (a smoke test)")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per case")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_case(args.case, args.device, args.threads, args.quick)))
        return 0

    load_before = load_average()
    rows = []
    for size in args.sizes:
        command = [sys.executable, "-m", "benchmarks.bench_training", "--case", size, "--device", args.device,
                   "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"case {size} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for row in rows:
        row["haplotypes_per_s"] = f"{row['haplotypes_per_s']:.3g}"
        row["snps_per_s"] = f"{row['snps_per_s']:.3g}"
        row["peak_rss_mb"] = round(row["peak_rss_mb"])
        row["epoch_s"] = round(row["epoch_s"], 2)
    columns = {"size": "model", "d_model": "d_model", "n_layers": "layers", "parameters": "parameters",
               "length": "SNPs per sequence", "batch": "batch", "haplotypes_per_s": "haplotypes/s",
               "snps_per_s": "SNP positions/s", "epoch_s": "epoch s", "peak_rss_mb": "peak RSS MB"}
    if args.device.startswith("cuda"):
        columns["gpu_mb"] = "peak GPU MB"
    print(f"### MLM training throughput per model size (train_mlm, epoch 2 of 2, device {args.device}, "
          f"{rows[0]['threads']} torch thread(s))\n")
    print(markdown(rows, columns))
    per_epoch = ", ".join(f"{r['size']} {r['config']['epoch_size']}" for r in rows)
    print(f"\nhaplotypes per epoch: {per_epoch}; "
          f"full precision (amp off); peak RSS includes the interpreter, torch and the synthetic cohort; "
          f"load average before {load_before:.2f}, after {load_average():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
