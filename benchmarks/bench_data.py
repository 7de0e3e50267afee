"""The data layer on the top10 preset: time and peak memory of simulate and prepare, and fidelity.

    python -m benchmarks.bench_data [--out DIR] [--reuse]
    python -m benchmarks.bench_data --quick     # the smoke preset; no comparison with the real top10

Runs ``lmeqtl simulate --preset top10`` and ``lmeqtl prepare`` as child processes (wall
time, peak RSS of each), then compares the prepared ``meta.csv.gz`` with the original's
(exact columns, minor-allele-frequency spectrum: KS distance and binned shares, SNP
density) and checks that the planted heritability is recovered: R^2 of the EUR people's
mean log RPKM on the (observed) dosages of each gene's causal SNPs, next to the truth.
Other processes on the machine slow the timings down; the fidelity numbers do not depend
on them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from benchmarks.common import measure
from lmeqtl.data.cohort import load_cohort
from lmeqtl.data.formats import library_samples, read_geuvadis_expression
from lmeqtl.data.io import read_meta
from lmeqtl.data.paths import DataPaths
from lmeqtl.data.truth import read_truth
from lmeqtl.simulate.top10 import real_top10_meta


def _run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of one ``lmeqtl`` command, in its own process."""
    result = measure([sys.executable, "-m", "lmeqtl.cli", *args])
    return result["seconds"], result["peak_mb"] / 1024


def fidelity(out: Path) -> dict[str, pd.DataFrame | float | bool]:
    simulated, real = read_meta(out / "meta.csv.gz"), real_top10_meta()
    same = {c: simulated[c].astype(str).tolist() == real[c].astype(str).tolist()
            for c in ("chrom", "pos", "id", "ref", "alt", "initial_counts", "GENE_ID", "seq_idx")}
    maf_sim, maf_real = np.minimum(simulated["AF"], 1 - simulated["AF"]), np.minimum(real["AF"], 1 - real["AF"])
    bins = [0.03, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    spectrum = pd.DataFrame({"simulated": np.histogram(maf_sim, bins)[0] / len(simulated),
                             "real": np.histogram(maf_real, bins)[0] / len(real)},
                            index=[f"{a}-{b}" for a, b in zip(bins[:-1], bins[1:], strict=True)])
    span = simulated.groupby("GENE_ID", sort=False)["pos"].agg(lambda p: (p.max() - p.min()) / (len(p) - 1))
    return {"identical_columns": all(same.values()), "columns": same,
            "ks_maf": float(ks_2samp(maf_sim, maf_real).statistic),
            "ks_af": float(ks_2samp(simulated["AF"], real["AF"]).statistic),
            "mean_abs_af_difference": float(np.abs(simulated["AF"] - real["AF"]).mean()),
            "spectrum": spectrum.round(4), "bp_per_snp": span.round(1)}


def h2_recovery(out: Path) -> pd.DataFrame:
    paths = DataPaths.from_dir(out)
    truth = read_truth(paths.truth)
    cohort = load_cohort(paths.dataset, paths.meta, panel=paths.panel)
    rpkm = read_geuvadis_expression(paths.expression)
    values = rpkm.iloc[:, 3:]
    log_mean = np.log(values).T.groupby(library_samples(values.columns)).mean()  # (people, genes)
    eur = [s for s in log_mean.index if cohort.samples.loc[s, "super_pop"] == "EUR"]
    libraries_per_person = values.shape[1] / len(log_mean)
    technical_sd = truth.summary["config"]["technical_sd"]
    position = pd.Series(np.arange(len(cohort.samples)), index=cohort.samples.index)
    rows = []
    for gene in truth.genes.itertuples():
        causal = truth.causal_snps.loc[truth.causal_snps["gene_id"] == gene.gene_id, "seq_idx"].to_numpy()
        dosage = cohort.dosage(gene.gene_id)[position[eur].to_numpy()][:, causal]  # (n_eur, k)
        y = log_mean.loc[eur, gene.gene_id].to_numpy()
        x = np.c_[np.ones(len(y)), np.nan_to_num(dosage)]
        fit = x @ np.linalg.lstsq(x, y, rcond=None)[0]
        # what an additive model of the causal SNPs can reach: the additive share of h2, diluted
        # by the technical noise of the library average (sampling s.e. ~0.04 with 373 people)
        attainable = (1 - gene.interaction_fraction) * gene.h2_realised * gene.log_sd**2 / (
            gene.log_sd**2 + technical_sd**2 / libraries_per_person)
        rows.append({"gene": gene.symbol, "h2": gene.h2, "h2_realised": gene.h2_realised,
                     "interaction_fraction": gene.interaction_fraction, "expected_r2": attainable,
                     "r2_additive_causal": 1 - np.var(y - fit) / np.var(y)})
    return pd.DataFrame(rows).round(3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="data directory (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="skip simulate/prepare; measure an existing --out")
    parser.add_argument("--quick", action="store_true", help="the smoke preset (a smoke test; fidelity skipped)")
    args = parser.parse_args(argv)
    preset = "smoke" if args.quick else "top10"
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / f"sim_{preset}"
        if not args.reuse:
            sim_s, sim_gib = _run(["simulate", "--preset", preset, "--out", str(out), "--force"])
            prep_s, prep_gib = _run(["prepare", "--data-dir", str(out), "--force"])
            print("| step | wall s | peak RSS GiB |\n|---|---|---|")
            print(f"| simulate --preset {preset} | {sim_s:.1f} | {sim_gib:.2f} |")
            print(f"| prepare | {prep_s:.1f} | {prep_gib:.2f} |\n")
        if args.quick:
            print(h2_recovery(out).to_markdown(index=False))
            return 0
        result = fidelity(out)
        print(f"prepare reproduces the real top10 meta (all but AF): {result['identical_columns']}")
        print(f"MAF KS distance to the real top10: {result['ks_maf']:.4f} (AF: {result['ks_af']:.4f}); "
              f"mean |AF difference| per SNP: {result['mean_abs_af_difference']:.4f}\n")
        print(result["spectrum"].to_markdown() + "\n")
        print("mean bp between kept SNPs per gene:\n" + result["bp_per_snp"].to_markdown() + "\n")
        print(h2_recovery(out).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
