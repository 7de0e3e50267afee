"""Cost of RQ3 fine-tuning at top10 size on this CPU: caching frozen stages vs training through them.

The model is the top10 preset's MLM (random weights: only timings mean anything), one gene,
``--people`` people (373 = GEUVADIS EUR) of ``--length`` SNPs. Measured, side by side:

- ``cache``: one no-grad pass of the frozen stages over every haplotype (done once per gene);
- one training epoch over the people of an outer training fold (4/5 of them), for each
  setting: the head only (mean / attention pooling) on cached states, the last block + head
  on cached inputs, and the last block + head *without* the cache (the whole trunk every
  step: what caching saves);
- a projection for the book step: 10 genes x (cache + 5 folds x ``--epochs`` epochs).

    PYTHONPATH=. python benchmarks/bench_finetune.py [--length 5000] [--people 373] [--epochs 5]
    PYTHONPATH=. python benchmarks/bench_finetune.py --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from lmeqtl.config import FinetuneConfig, get_preset
from lmeqtl.finetune.model import ExpressionModel, allele_tokens
from lmeqtl.finetune.training import fit_fold, inner_split


def _model(length: int, config: FinetuneConfig, window: int) -> ExpressionModel:
    from lmeqtl.mlm.model import HaplotypeMLM

    torch.manual_seed(0)
    mlm = HaplotypeMLM(get_preset("top10").model, 1, [length]).eval()
    start = (length - window) // 2
    return ExpressionModel(mlm, ["GENE"], [0], [(start, start + window)], config)


def _epoch_seconds(model: ExpressionModel, inputs: list[torch.Tensor], y: np.ndarray, config: FinetuneConfig,
                   cached: bool) -> float:
    """Median seconds per training epoch over ``config.epochs`` epochs (validation excluded)."""
    fit, val = inner_split(np.arange(int(0.8 * len(y))), config.val_fraction, seed=1)
    result = fit_fold(model, inputs, y, fit, val, config, fold=0, cached=cached)
    return float(np.median([row["seconds"] for row in result.history[1:]]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=5000, help="SNPs per gene window")
    parser.add_argument("--window", type=int, help="SNPs read by the model (default: all)")
    parser.add_argument("--people", type=int, default=373)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the projection (and of each timing)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.people, args.epochs = 400, 40, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    window = args.window or args.length
    rng = np.random.default_rng(0)
    haplotypes = rng.integers(0, 2, size=(args.people, 2, args.length), dtype=np.uint8)
    y = rng.normal(size=(args.people, 1))
    base = FinetuneConfig(epochs=args.epochs, patience=args.epochs, batch_size=16, mlm_weight=0.0, cache_batch_size=16)
    load = os.getloadavg()[0]
    rows = []
    head = _model(args.length, FinetuneConfig(freeze="all", pooling="attention"), window)
    start, cpu = time.perf_counter(), time.process_time()
    states = head.cache(haplotypes, 0, 16)
    cache_s, cache_cpu = time.perf_counter() - start, time.process_time() - cpu
    rows.append(("cache frozen trunk (all people, once per gene)", cache_s, None))
    settings = [
        ("head only, mean pooling (cached pooled)", "all", "mean", True),
        ("head only, attention pooling (cached states)", "all", "attention", True),
        ("last block + head (cached block input)", "all_but_last_1", "mean", True),
        ("last block + head, no cache (whole trunk)", "all_but_last_1", "mean", False),
    ]
    for label, freeze, pooling, cached in settings:
        config = FinetuneConfig(**{**base.__dict__, "freeze": freeze, "pooling": pooling})
        model = _model(args.length, config, window)
        if not cached:
            inputs = [allele_tokens(haplotypes[..., model.windows[0][0]:model.windows[0][1]])]
        elif freeze == "all" and pooling == "attention":
            inputs = [states]
        else:
            inputs = [model.cache(haplotypes, 0, 16)]
        epoch = _epoch_seconds(model, inputs, y, config, cached)
        rows.append((label, epoch, (cache_s if cached else 0.0) * 10 + 10 * 5 * args.epochs * epoch))
    print(f"### RQ3 fine-tuning cost: top10 model, {args.people} people, {window} of {args.length} SNPs, "
          f"torch threads {torch.get_num_threads()}, load average before {load:.2f}\n")
    print(f"| step | seconds | 10 genes x 5 folds x {args.epochs} epochs (+ cache), minutes |")
    print("|---|---|---|")
    for label, seconds, total in rows:
        projected = "" if total is None else f"{total / 60:.1f}"
        print(f"| {label} | {seconds:.2f} | {projected} |")
    print("\nepoch = one pass over the fit people of an outer training fold (training only); caching took "
          f"{cache_cpu:.1f} s of CPU time for {cache_s:.1f} s wall (CPU / threads = the wall time on an idle "
          f"machine, at best); load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
