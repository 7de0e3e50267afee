"""RQ1, end to end: can the haplotype MLM reconstruct genotypes, and how does it compare?

:func:`run_rq1` masks the genotypes of the test-split people (:func:`lmeqtl.genotypes.imputation.make_setup`),
reconstructs them with the MLM, with Beagle 5 (when installed) and with the most frequent
genotype of each SNP, and returns the RQ1 table (method x MAF bin x metric,
:func:`lmeqtl.genotypes.metrics.rq1_table`), the per-SNP table and the wall times. The
notebook calls it; ``lmeqtl rq1`` is the command line. Outputs (``save``)::

    rq1_table.csv      method, maf_bin, n_snps, n_genotypes, genotype_accuracy, iqs, ...
    rq1_per_snp.parquet  method, gene, seq_idx, id, maf, n_masked, genotype_accuracy, iqs, ...
    rq1.json           configuration, people, seconds per method, notes (e.g. Beagle skipped)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmeqtl.config import GenotypeEvalConfig
from lmeqtl.config.figures import page_width
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.io import atomic_path, read_json, write_json
from lmeqtl.genotypes.imputation import impute_mlm, impute_most_frequent, make_setup
from lmeqtl.genotypes.metrics import per_snp_metrics, rq1_table

TABLE_FILE, PER_SNP_FILE, INFO_FILE = "rq1_table.csv", "rq1_per_snp.parquet", "rq1.json"


@dataclass
class RQ1Result:
    table: pd.DataFrame  # index (method, maf_bin); metric columns
    per_snp: pd.DataFrame  # one row per (method, masked SNP)
    seconds: dict[str, float]  # wall time per method
    notes: list[str]  # what was skipped and why
    info: dict  # configuration, people, genotypes

    def save(self, out_dir: str | os.PathLike[str]) -> None:
        out_dir = Path(out_dir)
        with atomic_path(out_dir / TABLE_FILE) as tmp:
            self.table.reset_index().to_csv(tmp, index=False)
        with atomic_path(out_dir / PER_SNP_FILE) as tmp:
            self.per_snp.to_parquet(tmp, index=False)
        write_json(out_dir / INFO_FILE, {**self.info, "seconds": self.seconds, "notes": self.notes})


def load_rq1(out_dir: str | os.PathLike[str]) -> RQ1Result:
    """Read what :meth:`RQ1Result.save` wrote."""
    out_dir = Path(out_dir)
    info = read_json(out_dir / INFO_FILE)
    table = pd.read_csv(out_dir / TABLE_FILE).set_index(["method", "maf_bin"])
    return RQ1Result(table, pd.read_parquet(out_dir / PER_SNP_FILE), info.pop("seconds"), info.pop("notes"), info)


def run_rq1(model: torch.nn.Module, cohort: Cohort, config: GenotypeEvalConfig | None = None, *,
            gene_map: dict[str, int] | None = None, out_dir: str | os.PathLike[str] | None = None,
            device: str | torch.device = "auto", progress: bool = True) -> RQ1Result:
    """MLM vs Beagle 5 vs the most frequent genotype on the same masked genotypes of the test split.

    Beagle runs when ``config.run_beagle`` and it is installed (else a note says why not);
    with ``out_dir`` the results are saved there and Beagle's files go to ``out_dir/beagle``.
    """
    from lmeqtl.genotypes.beagle import NOT_FOUND, beagle_command, impute_beagle

    config = config or GenotypeEvalConfig()
    setup = make_setup(cohort, config)
    imputations = [impute_mlm(model, cohort, setup, gene_map=gene_map, device=device, progress=progress)]
    notes = []
    if not config.run_beagle:
        notes.append("Beagle not run (run_beagle = False)")
    elif beagle_command() is None:
        notes.append(NOT_FOUND)
        print(NOT_FOUND)
    else:
        work = None if out_dir is None else Path(out_dir) / "beagle"
        imputations.append(impute_beagle(cohort, setup, threads=config.beagle_threads, work_dir=work,
                                         progress=progress))
    imputations.append(impute_most_frequent(cohort, setup))
    af = cohort.meta["AF"].to_numpy(dtype=np.float64)
    table = rq1_table(imputations, np.minimum(af, 1 - af))
    per_snp = pd.concat([per_snp_metrics(i, cohort.meta) for i in imputations], ignore_index=True)
    info = {"config": dataclasses.asdict(config), "n_people": len(setup.sample_ids),
            "n_genotypes": len(imputations[0].snp), "genes": list(cohort.genes),
            "masked_snps_per_gene": {g: int(m.any(axis=0).sum()) for g, m in setup.masks.items()}}
    result = RQ1Result(table, per_snp, {i.method: i.seconds for i in imputations}, notes, info)
    if out_dir is not None:
        result.save(out_dir)
    return result


def per_gene_table(per_snp: pd.DataFrame, metric: str = "genotype_accuracy") -> pd.DataFrame:
    """Genes x methods: ``genotype_accuracy`` over all masked genotypes of the gene, or the SNP mean of another metric."""
    if metric == "genotype_accuracy":
        right = per_snp[metric] * per_snp["n_masked"]
        grouped = right.groupby([per_snp["gene"], per_snp["method"]], sort=False).sum() / \
            per_snp.groupby(["gene", "method"], sort=False)["n_masked"].sum()
    else:
        grouped = per_snp.groupby(["gene", "method"], sort=False)[metric].mean()
    return grouped.unstack("method")[list(dict.fromkeys(per_snp["method"]))]


def plot_rq1(table: pd.DataFrame, metrics: tuple[str, ...] = ("genotype_accuracy", "iqs", "dosage_r2")):
    """One panel per metric: each method's value by MAF bin (the ``all`` row as a dotted line)."""
    import matplotlib.pyplot as plt

    labels = {"genotype_accuracy": "genotype accuracy", "iqs": "mean per-SNP IQS", "dosage_r2": "mean dosage r²",
              "allele_accuracy": "allele accuracy", "allele_iqs": "mean per-SNP allele IQS"}
    figure, axes = plt.subplots(1, len(metrics), figsize=(page_width(2.6 * len(metrics)), 3.4), squeeze=False,
                                 layout="constrained")
    for ax, metric in zip(axes[0], metrics, strict=True):
        for method, rows in table.groupby(level="method", sort=False):
            rows = rows.droplevel("method")
            bins = [b for b in rows.index if b != "all"]
            line, = ax.plot(bins, rows.loc[bins, metric], marker="o", label=method)
            ax.axhline(rows.loc["all", metric], color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_xlabel("minor allele frequency bin")
        ax.set_ylabel(labels.get(metric, metric))
        ax.set_title(labels.get(metric, metric))
        ax.tick_params(axis="x", rotation=45)
    figure.legend(*axes[0][0].get_legend_handles_labels(), title="method (dotted: all SNPs)", fontsize="small",
                  loc="outside lower center", ncol=3, frameon=False)
    return figure

