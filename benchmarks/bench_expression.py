"""Time the whole RQ2 + RQ4 comparison at top10 size on this CPU.

10 genes, 373 people, 256-d embeddings x 2 haplotypes, 5000 window SNPs per gene;
6 models x 3 haplotype combinations on embeddings + PrediXcan elastic net + lead SNP
(table and in-fold) + oracle, 5 x 5 nested CV; then per-gene r/R² with 1000 bootstrap
resamples, summaries and paired tests. The target (issue 6): under 10 minutes on 2 cores.
The CPU time printed next to the wall time shows how much other processes slowed the run.

The data are synthetic stand-ins of the right shapes: haplotypes with LD (a Markov chain
along the SNPs), embeddings = a fixed random nonlinear map of each haplotype, expression
= 1-5 causal SNPs at cis-h2 0.05-0.6 plus noise. Only the timings mean anything; the r
values printed describe this toy, not the language model.

    python -m benchmarks.bench_expression [--genes 10] [--n-jobs 1] [--covariates] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.common import machine
from lmeqtl.config import ExpressionConfig
from lmeqtl.expression import (
    compare_to,
    covariates_for,
    gene_results,
    outer_folds,
    paired_test_power,
    run_comparison,
    summarise,
)


def synthetic_study(n_genes: int, n_people: int = 373, n_snps: int = 5000, width: int = 256, seed: int = 1):
    """Expression table, embeddings (n, 2, H), dosages (n, L), lead dosage and genetic value per gene."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"HG{i:05d}" for i in range(n_people)], name="sample_id")
    expression, embeddings, dosages, lead, truth = {}, {}, {}, {}, {}
    for g in range(n_genes):
        gene = f"ENSG{g:011d}.1"
        frequency = rng.uniform(0.03, 0.5, n_snps)
        fresh = rng.random((n_people, 2, n_snps)) < frequency  # (n, 2, L)
        copy = rng.random((n_people, 2, n_snps)) < 0.9  # LD: mostly copy the previous SNP's allele
        haplotypes = fresh.copy()
        for j in range(1, n_snps):  # a benchmark fixture, not a hot path
            haplotypes[:, :, j] = np.where(copy[:, :, j], haplotypes[:, :, j - 1], fresh[:, :, j])
        haplotypes = haplotypes.astype(np.float32)
        projection = rng.normal(size=(n_snps, width)).astype(np.float32) / np.sqrt(n_snps)
        embeddings[gene] = np.tanh(3 * haplotypes @ projection)  # (n, 2, H)
        dosages[gene] = haplotypes.sum(axis=1)  # (n, L)
        causal = rng.choice(n_snps, size=rng.integers(1, 6), replace=False)
        value = dosages[gene][:, causal] @ rng.normal(size=len(causal))
        h2 = rng.uniform(0.05, 0.6)
        value = (value - value.mean()) / value.std() * np.sqrt(h2)
        truth[gene] = value
        lead[gene] = dosages[gene][:, causal[0]]
        expression[gene] = value + rng.normal(scale=np.sqrt(1 - h2), size=n_people)
    return pd.DataFrame(expression, index=ids), embeddings, dosages, lead, truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 genes, 500 SNPs, 32-d embeddings, 3 x 3 CV")
    parser.add_argument("--genes", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--covariates", action="store_true",
                        help="regress out sex, 3 genotype PCs (all window SNPs) and 5 expression PCs")
    args = parser.parse_args(argv)
    covariates = ("sex", "genotype_pcs", "expression_pcs") if args.covariates else ()
    config = ExpressionConfig(n_jobs=args.n_jobs, covariates=covariates)
    n_snps, width = 5000, 256
    if args.quick:
        args.genes, n_snps, width = 2, 500, 32
        config = ExpressionConfig(n_jobs=args.n_jobs, covariates=covariates, outer_folds=3, inner_folds=3,
                                  n_bootstrap=100)

    start = time.perf_counter()
    with threadpool_limits(limits=1):
        expression, embeddings, dosages, lead, truth = synthetic_study(args.genes, n_snps=n_snps, width=width)
    made = time.perf_counter() - start
    folds = outer_folds(expression.index, config.outer_folds, config.seed)
    samples = pd.DataFrame({"gender": np.resize(["male", "female"], len(expression))}, index=expression.index)

    start, cpu_start = time.perf_counter(), time.process_time()
    adjust = covariates_for(config.covariates, samples, genotypes=np.hstack(list(dosages.values())),
                            n_genotype_pcs=config.n_genotype_pcs, expression=expression,
                            n_expression_pcs=config.n_expression_pcs)
    comparison = run_comparison(expression, folds, embeddings=embeddings, dosages=dosages, lead_dosage=lead,
                                genetic_values=truth, covariates=adjust, config=config, progress=False)
    cv_seconds, cv_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    start = time.perf_counter()
    results = gene_results(comparison.predictions, n_bootstrap=config.n_bootstrap, level=config.ci_level)
    summary = summarise(results)
    paired = compare_to(results, "predixcan")
    power = paired_test_power(args.genes, 0.8)
    score_seconds = time.perf_counter() - start

    print(f"### expression CV (RQ2 + RQ4): {args.genes} genes x 373 people, H={width} x 2, {n_snps} SNPs, "
          f"{config.outer_folds} x {config.inner_folds} nested CV; "
          f"{machine()['cpu']}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"n_jobs={args.n_jobs}, covariates={list(config.covariates)}\n")
    print("| step | wall s | note |\n|---|---|---|")
    print(f"| synthetic data | {made:.1f} | not part of the comparison |")
    print(f"| nested CV, all methods | {cv_seconds:.1f} | CPU time of this process: {cv_cpu:.1f} s |")
    print(f"| scores + tests | {score_seconds:.1f} | {config.n_bootstrap} bootstrap resamples |")
    print(f"| total comparison | {cv_seconds + score_seconds:.1f} | {(cv_seconds + score_seconds) / args.genes:.1f} s "
          f"per gene; target for 10 genes < 600 s |\n")
    per_method = comparison.timings.groupby("method")["seconds"].sum().sort_values(ascending=False)
    print("seconds per method (all genes):\n")
    print(per_method.round(1).reset_index().to_markdown(index=False))
    print(f"\nnot converged: {int((~comparison.timings.converged).sum())} of {len(comparison.timings)} fits")
    print("\nsummary (toy data; only the timings mean anything):\n")
    print(summary.round(3).to_markdown(index=False))
    print("\nvs predixcan (toy data):\n")
    print(paired[["method_a", "mean_difference", "wins_a", "wins_b", "wilcoxon_p", "sign_test_p"]]
          .round(4).to_markdown(index=False))
    print(f"\npower with {args.genes} genes at d_z = 0.8: Wilcoxon {power['power_wilcoxon']:.2f}, "
          f"sign {power['power_sign']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
