"""Full-window in-silico mutagenesis (RQ5) of the top10-size MLM + SNP-selecting head: SNP flips per second.

The predictor is the top10 preset's MLM (d_model 64, 4 blocks; random weights: only timings
mean anything) with the ``pooling="select"`` head over the gene's whole window (``--snps``
SNPs). ISM flips SNPs on each haplotype of ``--people`` people: ``--flip-snps`` of them
(default 64; 0 = every SNP), and since a flip costs the same whichever SNP it is, the
full window's time is extrapolated (``full_window_s``; every SNP at 5000 SNPs takes ~10
min per person on one loaded CPU thread: too long for the benchmark run's budget). Rows, side by side: flips through the per-haplotype term (one
haplotype's forward pass per flip: :func:`lmeqtl.explain.attribution.haplotype_ism`) at
each ``--batch-sizes``; the person-level predictor (both haplotypes per flip); one flip per
pass; and Integrated Gradients doubled to a relative convergence delta <= 0.05.

    python -m benchmarks.bench_ism [--snps 5000] [--people 1] [--flip-snps 64] [--batch-sizes 16,64]
    python -m benchmarks.bench_ism --quick
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from benchmarks.common import machine
from lmeqtl.config import FinetuneConfig, get_preset
from lmeqtl.explain.attribution import (
    converged_integrated_gradients,
    haplotype_ism,
    haplotype_onehot,
    in_silico_mutagenesis,
)
from lmeqtl.finetune.model import ExpressionModel
from lmeqtl.mlm.masking import N_TOKENS
from lmeqtl.mlm.model import HaplotypeMLM


def select_model(length: int, device: str) -> ExpressionModel:
    """Top10-size MLM + a select head with a random orthonormal projection and 20 non-zero gates."""
    torch.manual_seed(0)
    mlm = HaplotypeMLM(get_preset("top10").model, 1, [length]).eval()
    config = FinetuneConfig(freeze="all", pooling="select", window_snps=None)
    model = ExpressionModel(mlm, ["GENE"], [0], [(0, length)], config)
    with torch.no_grad():
        model.head.projection[0] = torch.linalg.qr(torch.randn(mlm.config.d_model, config.select_dim))[0]
        gated = torch.randperm(length)[:20]
        model.head.gates[0][gated] = torch.randn(20)
    return model.to(device).eval()


def _clock(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snps", type=int, default=5000)
    parser.add_argument("--people", type=int, default=1)
    parser.add_argument("--flip-snps", type=int, default=64, help="SNPs flipped (0: all); the rest is extrapolated")
    parser.add_argument("--batch-sizes", default="16,64")
    parser.add_argument("--quick", action="store_true", help="500 SNPs, 1 person, 32 SNPs flipped, batch 16")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.snps, args.people, args.flip_snps, args.batch_sizes = 500, 1, 32, "16"
    length = args.snps
    flipped = np.arange(min(args.flip_snps, length) if args.flip_snps > 0 else length)
    full_flips = args.people * 2 * length
    rng = np.random.default_rng(1)
    haplotypes = (rng.random((args.people, 2, length)) < rng.uniform(0.03, 0.5, length)).astype(np.uint8)
    model = select_model(length, args.device)
    onehot = haplotype_onehot(haplotypes, N_TOKENS, args.device)  # (n, 2, V, L)
    per_haplotype, person = model.haplotype_predictor("GENE"), model.predictor("GENE")
    rows = []

    def row(step: str, seconds: float, flips: int | None, note: str) -> None:
        rate = None if flips is None else flips / seconds
        rows.append({"step": step, "seconds": round(seconds, 3), "flips": flips,
                     "flips_per_s": None if rate is None else round(rate, 1),
                     "full_window_s": None if rate is None else round(full_flips / rate, 1), "note": note})

    with torch.no_grad():
        per_haplotype(onehot[:1, 0])  # warm-up
        seconds, _ = _clock(per_haplotype, onehot[:1, 0])
        row("forward, one haplotype", seconds, None, f"{length} SNPs")
        n_flips = args.people * 2 * len(flipped)
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            seconds, _ = _clock(haplotype_ism, per_haplotype, onehot, snps=flipped, batch_size=batch)
            row(f"ISM, haplotype term, batch {batch}", seconds, n_flips,
                f"{args.people} people x 2 x {len(flipped)} SNPs")
        batch = int(args.batch_sizes.split(",")[-1])
        seconds, _ = _clock(in_silico_mutagenesis, person, onehot, snps=flipped, batch_size=batch)
        row(f"ISM, person-level predictor, batch {batch}", seconds, n_flips, "both haplotypes run per flip")
        few = flipped[:8]
        seconds, _ = _clock(haplotype_ism, per_haplotype, onehot[:1], snps=few, batch_size=1)
        row("ISM, haplotype term, batch 1", seconds, 2 * len(few), "one flip per forward pass")
    seconds, ig = _clock(converged_integrated_gradients, person, onehot, n_steps=4, max_steps=64, tolerance=0.05,
                         internal_batch_size=16)
    row("IG to relative delta <= 0.05", seconds, None,
        f"{args.people} people; relative delta by steps: "
        f"{', '.join(f'{k}: {v:.3g}' for k, v in ig.tried.items())}; kept {ig.steps}")

    print(f"### Full-window ISM on {machine()['cpu']}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads, {args.device}), "
          f"load {os.getloadavg()[0]:.1f}\n")
    print(f"top10-size MLM + select head, one gene of {length} SNPs; `full_window_s`: every SNP of the window "
          f"flipped on both haplotypes of {args.people} people ({full_flips} flips) at that row's rate.\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
