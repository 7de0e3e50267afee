"""What a cohort's files hold, as tables: people, gene windows, MAF spectrum, expression, eQTLs,
chromatin peaks, and the sentences chapter ``00_data`` writes about them.

Every function takes in-memory tables (the readers' outputs of :mod:`lmeqtl.data.formats` and
:mod:`lmeqtl.data.peaks`, a cohort's ``samples``/``meta``) and returns a DataFrame or text; LD
and population structure are in :mod:`lmeqtl.simulate.popgen`, the figures in :mod:`lmeqtl.book.chapters.cohort_plots`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from lmeqtl.book.chapters import NO_TRUTH
from lmeqtl.data.io import atomic_path
from lmeqtl.data.peaks import in_peaks, merge_overlaps
from lmeqtl.data.truth import Truth
from lmeqtl.expression.processing import average_replicates, replicate_counts, select_genes

MAF_BINS = (0.03, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def people_table(samples: pd.DataFrame, with_expression: set[str] | None = None) -> pd.DataFrame:
    """People per super-population (rows, plus ``all``) and split (columns, plus ``all``).

    With ``with_expression`` (sample ids), a column counts the people who have expression.
    """
    table = pd.crosstab(samples["super_pop"], samples["split"], margins=True, margins_name="all")
    table = table.loc[:, [c for c in ("train", "test", "all") if c in table.columns]]
    if with_expression is not None:
        has = samples.index.isin(list(with_expression))
        counts = pd.Series(has, index=samples.index).groupby(samples["super_pop"]).sum()
        table["with expression"] = counts.reindex(table.index).fillna(has.sum()).astype(int)
    table.index.name, table.columns.name = "super-population", None
    return table


def gene_windows(meta: pd.DataFrame, genes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per gene (meta order): SNPs kept and in the ±window, span and spacing of the SNPs.

    ``span_kb`` runs from the first to the last kept SNP; ``bp_per_snp`` is span / SNPs and
    ``median_gap_bp`` the median distance between neighbouring SNPs. ``genes`` (``genes.tsv``)
    adds the symbol and TSS.
    """
    gap = meta.groupby("GENE_ID", sort=False)["pos"].diff()
    grouped = meta.assign(gap=gap).groupby("GENE_ID", sort=False)
    table = pd.DataFrame({
        "chrom": grouped["chrom"].first(), "n_snps": grouped.size(),
        "initial_counts": grouped["initial_counts"].first(),
        "first_pos": grouped["pos"].min(), "last_pos": grouped["pos"].max(),
        "median_gap_bp": grouped["gap"].median(),
    })
    table["span_kb"] = (table["last_pos"] - table["first_pos"]) / 1e3
    table["bp_per_snp"] = (table["last_pos"] - table["first_pos"]) / table["n_snps"].clip(lower=1)
    if genes is not None:
        info = genes.set_index("gene_id")
        table.insert(0, "symbol", info["symbol"].reindex(table.index).fillna(pd.Series(table.index, table.index)))
        table["tss"] = info["tss"].reindex(table.index)
    table.index.name = "gene_id"
    return table


def minor_allele_frequency(af: np.ndarray) -> np.ndarray:
    return np.minimum(np.asarray(af, dtype=np.float64), 1 - np.asarray(af, dtype=np.float64))


def maf_spectrum(sources: Mapping[str, np.ndarray], bins: tuple[float, ...] = MAF_BINS) -> pd.DataFrame:
    """Share of SNPs per MAF bin for each source of alternative-allele frequencies (columns)."""
    edges = np.asarray(bins)
    labels = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    columns = {}
    for name, af in sources.items():
        maf = minor_allele_frequency(af)
        counts = np.histogram(np.clip(maf, edges[0], edges[-1]), bins=edges)[0]
        columns[name] = counts / max(counts.sum(), 1)
    return pd.DataFrame(columns, index=pd.Index(labels, name="MAF"))


def af_agreement(meta: pd.DataFrame, reference: pd.DataFrame) -> dict[str, float]:
    """How well the AFs of ``meta`` match a reference meta table at the same (gene, position).

    Returns the number of shared SNPs, the Pearson r of the AFs, their mean absolute difference.
    """
    shared = meta.merge(reference, on=["GENE_ID", "pos"], suffixes=("", "_ref"))
    if len(shared) < 2:
        return {"n_shared": len(shared), "r": np.nan, "mean_abs_diff": np.nan}
    return {"n_shared": len(shared), "r": float(np.corrcoef(shared["AF"], shared["AF_ref"])[0, 1]),
            "mean_abs_diff": float(np.abs(shared["AF"] - shared["AF_ref"]).mean())}










def expression_levels(raw: pd.DataFrame, genes: list[str], symbols: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Long table of person-level expression of ``genes``: ``gene_id, gene, sample_id, rpkm, log10_rpkm``.

    ``raw`` is the GEUVADIS table (:func:`lmeqtl.data.formats.read_geuvadis_expression`; ids
    may differ in their version suffix); replicate libraries are averaged in RPKM, as GEUVADIS did.
    """
    averaged = average_replicates(select_genes(raw, genes))  # (genes, samples)
    long = averaged.rename_axis(index="gene_id").reset_index().melt(id_vars="gene_id", var_name="sample_id",
                                                                    value_name="rpkm")
    long["gene"] = long["gene_id"].map(dict(symbols or {})).fillna(long["gene_id"])
    long["log10_rpkm"] = np.log10(long["rpkm"].clip(lower=1e-3))
    return long.loc[:, ["gene_id", "gene", "sample_id", "rpkm", "log10_rpkm"]]


def replicate_table(raw: pd.DataFrame) -> pd.DataFrame:
    """How many people have 1, 2, ... sequencing libraries."""
    counts = replicate_counts(raw).value_counts().sort_index()
    return pd.DataFrame({"people": counts.to_numpy()}, index=pd.Index(counts.index, name="libraries"))


def eqtl_summary(eqtl: pd.DataFrame, genes: list[str], window_ids: Mapping[str, set[str]] | None = None) -> pd.DataFrame:
    """Per gene: significant SNP-gene pairs in the table and its lead SNP (smallest p-value).

    The GEUVADIS tables hold the pairs significant at 5 % FDR only, so ``pairs`` is the
    number of significant cis-eQTL SNPs; ``log10p``, ``r`` and ``kb_to_tss`` describe the
    lead SNP; genes without any pair get 0 and no lead. With
    ``window_ids`` (SNP ids of each gene's window), ``in_window`` says whether the lead
    SNP is among the model's SNPs.
    """
    table = eqtl.sort_values(["GENE_ID", "pvalue"], kind="stable")
    lead = table.drop_duplicates("GENE_ID").set_index("GENE_ID")
    out = pd.DataFrame(index=pd.Index(genes, name="gene_id"))
    out["pairs"] = table.groupby("GENE_ID").size().reindex(out.index).fillna(0).astype(int)
    out["lead_snp"] = lead["SNP_ID"].reindex(out.index)
    out["log10p"] = lead["log10pvalue"].reindex(out.index)  # of the lead SNP, as its r and distance
    out["r"] = lead["rvalue"].reindex(out.index)
    out["kb_to_tss"] = (lead["SNPpos"] - lead["TSSpos"]).reindex(out.index) / 1e3
    if window_ids is not None:
        out["in_window"] = [isinstance(s, str) and s in window_ids.get(g, set())
                                 for g, s in zip(out.index, out["lead_snp"], strict=True)]
    return out


def merged_windows(meta: pd.DataFrame) -> pd.DataFrame:
    """The union of the genes' SNP spans per chromosome (``chrom, start, end``, 1-based inclusive)."""
    spans = meta.groupby("GENE_ID", sort=False).agg(chrom=("chrom", "first"), start=("pos", "min"),
                                                    end=("pos", "max")).sort_values(["chrom", "start"])
    rows = []
    for chrom, on in spans.groupby("chrom", sort=True):
        start, end, _ = merge_overlaps(on["start"].to_numpy(), on["end"].to_numpy() + 1)  # half-open
        rows += [(str(chrom), int(s), int(e) - 1) for s, e in zip(start, end, strict=True)]
    return pd.DataFrame(rows, columns=["chrom", "start", "end"])


def peaks_in_windows(tracks: Mapping[str, pd.DataFrame], meta: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The peaks of each mark that overlap a gene's SNP span (genome-wide ENCODE files -> a few Mb)."""
    windows = merged_windows(meta)
    kept = {}
    for mark, peaks in tracks.items():
        inside = np.zeros(len(peaks), dtype=bool)
        for window in windows.itertuples():  # a handful of windows
            inside |= ((peaks["chrom"] == window.chrom) & (peaks["end"] > window.start - 1)
                       & (peaks["start"] < window.end)).to_numpy()
        kept[mark] = peaks[inside].reset_index(drop=True)
    return kept


def peak_summary(tracks: Mapping[str, pd.DataFrame], meta: pd.DataFrame) -> pd.DataFrame:
    """Per histone mark, inside the genes' windows: peaks, their width, peaks per Mb, share of SNPs in a peak."""
    windows = merged_windows(meta)
    total_mb = ((windows["end"] - windows["start"] + 1).sum()) / 1e6
    rows = []
    for mark, peaks in peaks_in_windows(tracks, meta).items():
        width = (peaks["end"] - peaks["start"]).to_numpy()
        in_peak = in_peaks(meta["chrom"], meta["pos"], peaks)
        rows.append({"mark": mark, "n_peaks": len(peaks), "peaks_per_mb": len(peaks) / total_mb,
                     "median_width_bp": float(np.median(width)) if len(width) else np.nan,
                     "share_snps_in_peaks": float(in_peak.mean()) if len(in_peak) else np.nan})
    return pd.DataFrame(rows).set_index("mark")




def genes_by_span(windows: pd.DataFrame, n: int = 3) -> list[str]:
    """``n`` genes spread over the range of window spans (shortest, ..., longest): for LD plots."""
    order = windows.sort_values("span_kb", kind="stable").index
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, min(n, len(order)))).astype(int))
    return [order[i] for i in picks]


def write_tables(directory: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Write each table as ``<name>.csv`` into ``directory`` (atomic; index kept); return the paths."""
    written = []
    for name, table in tables.items():
        path = Path(directory) / f"{name}.csv"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, float_format="%.6g")
        written.append(path)
    return written


def af_agreement_text(agreement: Mapping[str, float]) -> str:
    """One sentence on :func:`af_agreement` with the real top10 meta table (none shared: no comparison)."""
    if not agreement["n_shared"]:
        return ("The genes are not the top10 ones, so there is no real spectrum to compare with; the figure "
                "shows this cohort's own spectrum.")
    return (f"At the {agreement['n_shared']:,} SNPs that this cohort shares with the real top10 windows, its "
            f"allele frequencies correlate with the real 1000 Genomes ones with r = {agreement['r']:.3f} and "
            f"differ from them by {agreement['mean_abs_diff']:.3f} on average; the figure compares the spectra.")


def truth_text(truth: Truth | None, lead_r2: pd.Series | None = None) -> str:
    """What the simulation planted, in a few sentences (real data: that there is no truth).

    ``lead_r2``: per gene, the r² between the lead eQTL SNP and the closest causal SNP
    (:func:`lmeqtl.simulate.popgen.lead_causal_r2`).
    """
    if truth is None:
        return (f"{NO_TRUTH} nothing was planted, so there is no truth to show. The later chapters leave out "
                "what needs it, and say so where they do: the oracle ceiling (RQ2, RQ4), the causal SNPs next to "
                "the attention weights (RQ3), and the ranking against causal SNPs and the planted chromatin "
                "enrichment (RQ5).")
    genes, causal = truth.genes, truth.causal_snps
    h2 = genes["h2_realised"]
    text = (f"The simulation planted {len(causal)} causal SNPs in the {len(genes)} genes "
            f"({genes['n_causal'].min()} to {genes['n_causal'].max()} per gene) with a cis-heritability of "
            f"{h2.min():.2f} to {h2.max():.2f} in the Europeans with expression. "
            f"{int((causal['distance_to_tss'].abs() <= 10_000).sum())} of them lie within 10 kb of the TSS and "
            f"{int(causal['in_active_peak'].sum())} inside a peak of an active mark.")
    if lead_r2 is not None and lead_r2.notna().any():
        text += (f" The eQTL scan finds them: for {int((lead_r2 >= 0.8).sum())} of {int(lead_r2.notna().sum())} "
                 f"genes the lead SNP is a causal SNP or tags one with r² ≥ 0.8 (median r² {lead_r2.median():.2f}).")
    active = truth.enrichment[truth.enrichment["active"]]
    if len(active):
        text += (f" Causal SNPs were drawn {active['configured_fold'].iloc[0]:g}-fold more often inside "
                 "active-mark peaks; the right panel shows, per mark, the share of causal and of all window SNPs "
                 "inside its peaks: the enrichment RQ5 tries to find again from the models' attributions.")
    return text


def truth_gene_table(truth: Truth, lead_r2: pd.Series | None = None) -> pd.DataFrame:
    """Per gene (index symbol): drawn and realised h², causal SNPs, interaction share of the genetic
    variance, and ``lead_r2`` (:func:`lmeqtl.simulate.popgen.lead_causal_r2`)."""
    table = truth.genes.set_index("gene_id")
    out = table.loc[:, ["symbol", "h2", "h2_realised", "n_causal", "interaction_fraction"]]
    out = out.rename(columns={"interaction_fraction": "interaction"})
    if lead_r2 is not None:
        out["lead_r2"] = lead_r2.reindex(out.index)
    return out.set_index("symbol")
