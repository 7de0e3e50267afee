"""Time the RQ5 steps at top10 size on this CPU; batched vs one-mutant-per-pass ISM side by side.

Sizes: one gene of 5000 SNPs, 373 people (EUR with expression); attribution on
``--individuals`` people with ``--steps`` IG steps and ISM on ``--ism-snps`` SNPs; SuSiE,
elastic net and the marginal scan on all 373 x 5000; chromatin on 10 genes x 5000 SNPs,
6 marks x 50,000 peaks, 1000 matched permutations.

The predictor is a stand-in of the top10 preset's cost (Conv1d encoder k=15, 4 conv
blocks of width 64, k=7, mean-pooled, both haplotypes summed, linear head), not the MLM:
only the timings mean anything.

    python -m benchmarks.bench_explain [--individuals 8] [--steps 8] [--ism-snps 10] [--quick]

Defaults: the top10 preset's ``ExplainConfig``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch

from benchmarks.common import machine
from lmeqtl.config import get_preset
from lmeqtl.explain.attribution import (
    elastic_net_scores,
    haplotype_onehot,
    in_silico_mutagenesis,
    integrated_gradients,
)
from lmeqtl.explain.chromatin import annotate_snps
from lmeqtl.explain.enrichment import enrichment_table, top_per_group
from lmeqtl.explain.finemap import susie
from lmeqtl.explain.ranking import marginal_association


class StandIn(torch.nn.Module):
    """``(B, 2, V, L) -> (B,)`` with about the per-haplotype cost of the top10 preset's model."""

    def __init__(self, n_tokens: int = 3, width: int = 64, blocks: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.Conv1d(n_tokens, width, 15, padding=7)
        self.blocks = torch.nn.ModuleList(torch.nn.Conv1d(width, width, 7, padding=3) for _ in range(blocks))
        self.head = torch.nn.Linear(width, 1)

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        batch = onehot.shape[0]
        x = self.encoder(onehot.flatten(0, 1))  # (2B, H, L)
        for block in self.blocks:
            x = x + torch.nn.functional.gelu(block(x))
        pooled = x.mean(-1).reshape(batch, 2, -1).sum(1)  # (B, H)
        return self.head(pooled).squeeze(-1)


def _clock(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    config = get_preset("top10").explain
    parser.add_argument("--individuals", type=int, default=config.n_individuals)
    parser.add_argument("--steps", type=int, default=config.ig_steps)
    parser.add_argument("--ism-snps", type=int, default=config.ism_max_snps)
    parser.add_argument("--snps", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="500 SNPs, 2 people, 2 IG steps, 4 ISM SNPs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.snps, args.individuals, args.steps, args.ism_snps = 500, 2, 2, 4
    rng = np.random.default_rng(1)
    n, length = 373, args.snps
    haplotypes = (rng.random((n, 2, length)) < rng.uniform(0.03, 0.5, length)).astype(np.uint8)
    dosage = haplotypes.sum(1).astype(float)
    expression = dosage[:, [length // 50, length // 2]] @ np.array([0.5, -0.4]) + rng.normal(size=n)
    model = StandIn().eval()
    onehot = haplotype_onehot(haplotypes[: args.individuals], n_tokens=3)
    rows = []

    def row(step: str, seconds: float, note: str) -> None:
        rows.append({"step": step, "seconds": round(seconds, 3), "note": note})

    with torch.no_grad():
        seconds, _ = _clock(model, onehot)
    row("forward, people", seconds, f"{args.individuals} people x 2 haplotypes x {length} SNPs")
    seconds, _ = _clock(integrated_gradients, model, onehot, n_steps=args.steps,
                        internal_batch_size=config.ig_batch_size)
    row("integrated gradients", seconds, f"{args.individuals} people, {args.steps} steps")
    snps = np.arange(args.ism_snps)
    seconds, _ = _clock(in_silico_mutagenesis, model, onehot, snps=snps, batch_size=config.ism_batch_size)
    row(f"ISM, batch {config.ism_batch_size}", seconds, f"{args.individuals * 2 * args.ism_snps} mutants")
    few = onehot[:2]
    batched, _ = _clock(in_silico_mutagenesis, model, few, snps=np.arange(16), batch_size=config.ism_batch_size)
    single, _ = _clock(in_silico_mutagenesis, model, few, snps=np.arange(16), batch_size=1)
    row(f"ISM 64 mutants, batch {config.ism_batch_size}", batched, "same mutants as the next row")
    row("ISM 64 mutants, batch 1", single, f"batched is {single / batched:.1f}x faster")
    seconds, fit = _clock(susie, dosage, expression, 10)
    row("SuSiE IBSS, L=10", seconds, f"{n} x {length}, {len(fit.elbo)} iterations, top PIP SNPs "
        f"{sorted(np.argsort(-fit.pip)[:2].tolist())}")
    seconds, _ = _clock(elastic_net_scores, dosage, expression)
    row("elastic net (5-fold CV)", seconds, f"{n} x {length}, 30 penalties")
    seconds, _ = _clock(marginal_association, dosage, expression)
    row("marginal eQTL scan", seconds, f"{n} x {length}")

    n_genes, n_peaks = 10, 50_000
    snps_table = pd.DataFrame({
        "chrom": "6", "pos": np.sort(rng.choice(np.arange(1, 40_000_000), n_genes * length, replace=False)),
        "GENE_ID": np.repeat([f"G{g}" for g in range(n_genes)], length),
        "AF": rng.uniform(0.03, 0.97, n_genes * length), "tss_distance": rng.uniform(-1e6, 1e6, n_genes * length)})
    peaks = {}
    for mark in ("H3K27ac", "H3K4me1", "H3K4me3", "H3K36me3", "H3K27me3", "H3K9me3"):
        start = rng.integers(0, 40_000_000, n_peaks)
        peaks[mark] = pd.DataFrame({"chrom": "chr6", "start": start, "end": start + rng.integers(200, 3000, n_peaks)})
    seconds, annotation = _clock(annotate_snps, snps_table, peaks)
    row("peak overlap", seconds, f"{len(snps_table)} SNPs x 6 marks x {n_peaks} peaks")
    top = top_per_group(rng.random(len(snps_table)), snps_table["GENE_ID"].to_numpy(), 50)
    seconds, _ = _clock(enrichment_table, top, annotation, snps_table["AF"].to_numpy(),
                        snps_table["tss_distance"].to_numpy(), snps_table["GENE_ID"].to_numpy(), n_permutations=1000)
    row("enrichment (Fisher + 1000 matched perms)", seconds, f"top 50 per gene, {n_genes} genes, 6 marks")

    print(f"### RQ5 steps on {machine()['cpu']}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), load {os.getloadavg()[0]:.1f}\n")
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
