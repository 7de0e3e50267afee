"""``lmeqtl prepare``: phased VCFs + sample panel + gene TSS list -> ``dataset.parquet`` + ``meta.csv.gz``.

For each gene (in the order of the gene list):

1. read the biallelic PASS SNPs with ``min_af <= AF <= max_af`` in ``[TSS - window_bp,
   TSS + window_bp]`` (inclusive; the rules are in :mod:`lmeqtl.data.vcf`); their number is
   ``initial_counts``;
2. crop them to ``max_snps`` *consecutive* SNPs centred on the TSS by count — the
   ``max_snps // 2`` SNPs before the TSS and the rest from the TSS on — shifted inwards
   when one side of the window has fewer SNPs (:func:`select_window`). This is the
   original lm-eqtl rule, reverse-engineered from its top10 ``meta.csv.gz``: it, and only
   it, reproduces the published SNP lists and ``initial_counts`` of all ten genes;
3. write one genotype string per (sample, gene) (``R F M B N``, see
   :mod:`lmeqtl.data.encoding`) with ``seq_name = split:sample:gene``; ``split`` is ``test``
   for the super-populations in ``test_super_pops`` (default EUR, as the original) and
   ``train`` for everyone else.

SNPs without an rs id (VCF ID ``.``) are named ``snp_<chrom>_<pos>``, the convention of
the GEUVADIS eQTL tables.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lmeqtl.config.validate import POSITIVE_INT, Rule, check_value
from lmeqtl.data.encoding import decode_haplotypes
from lmeqtl.data.formats import (
    read_eqtl_table,
    read_genes,
    read_geuvadis_expression,
    read_panel,
    write_genes,
)
from lmeqtl.data.io import dataset_writer, ensure_output_dir, write_json, write_meta
from lmeqtl.data.paths import DataPaths, write_manifest
from lmeqtl.data.vcf import read_snps, vcf_samples
from lmeqtl.errors import InputError


def select_window(positions: np.ndarray, tss: int, window_bp: int, max_snps: int) -> tuple[np.ndarray, int]:
    """Indices of the SNPs kept for a gene, and how many SNPs the window held (``initial_counts``).

    ``positions`` are the sorted positions of the SNPs that passed the filters. The
    window is ``[tss - window_bp, tss + window_bp]``; the kept SNPs are ``max_snps``
    consecutive window SNPs, ``max_snps // 2`` of them before ``tss`` when the window
    allows, else shifted to stay inside it (all of them if the window holds fewer).
    """
    positions = np.asarray(positions)
    lo = int(np.searchsorted(positions, tss - window_bp, side="left"))
    hi = int(np.searchsorted(positions, tss + window_bp, side="right"))
    n_window = hi - lo
    before_tss = int(np.searchsorted(positions, tss, side="left")) - lo
    start = min(max(before_tss - max_snps // 2, 0), max(n_window - max_snps, 0))
    stop = min(start + max_snps, n_window)
    return np.arange(lo + start, lo + stop), n_window


def gene_clusters(genes: pd.DataFrame, window_bp: int) -> list[pd.DataFrame]:
    """Genes grouped so that each group's windows overlap: one VCF query per group."""
    clusters = []
    for _, on_chrom in genes.groupby("chrom", sort=False):
        on_chrom = on_chrom.sort_values("tss")
        new = np.r_[True, np.diff(on_chrom["tss"].to_numpy()) > 2 * window_bp]
        for _, members in on_chrom.groupby(np.cumsum(new)):
            clusters.append(members)
    return clusters


def genes_from_geuvadis(expression: str | os.PathLike[str], eqtl: str | os.PathLike[str], top_n: int,
                        p_max: float = 1e-12) -> pd.DataFrame:
    """The ``top_n`` genes with most GEUVADIS cis-eQTLs at ``pvalue < p_max`` (the original's
    ranking), with TSS = ``Coord`` of the expression table (else ``TSSpos`` of the eQTL table)."""
    table = read_eqtl_table(eqtl)
    counts = table[table["pvalue"] < p_max].groupby("GENE_ID").size().sort_values(ascending=False, kind="stable")
    if counts.empty:
        raise InputError(f"no eQTL with pvalue < {p_max}", path=eqtl, expected="some strong eQTLs to rank genes")
    chosen = list(counts.index[:top_n])
    rpkm = read_geuvadis_expression(expression)
    tss = table.drop_duplicates("GENE_ID").set_index("GENE_ID")
    rows = []
    for gene in chosen:
        if gene in rpkm.index:
            rows.append((gene, rpkm.at[gene, "Chr"], int(rpkm.at[gene, "Coord"]), rpkm.at[gene, "Gene_Symbol"]))
        else:
            rows.append((gene, tss.at[gene, "CHR_GENE"], int(tss.at[gene, "TSSpos"]), gene))
    return pd.DataFrame(rows, columns=["gene_id", "chrom", "tss", "symbol"])


def _samples_and_splits(paths: DataPaths, chroms: list[str], test_super_pops: tuple[str, ...]) -> pd.DataFrame:
    """VCF samples (the same in every file) with their panel rows and split."""
    panel = read_panel(paths.panel).set_index("sample")
    samples = None
    for chrom in chroms:
        these = vcf_samples(paths.vcf_for(chrom))
        if samples is None:
            samples, first = these, paths.vcf_for(chrom)
        elif these != samples:
            raise InputError(f"its samples differ from those of {first}", path=paths.vcf_for(chrom),
                             expected="the same samples, in the same order, in every VCF")
    absent = [s for s in samples if s not in panel.index]
    if absent:
        raise InputError(f"VCF samples {absent[:5]} are not in the panel ({len(absent)} in all)",
                         path=paths.panel, expected="a panel row (sample pop super_pop gender) per VCF sample")
    table = panel.loc[samples].reset_index()
    known = sorted(set(panel["super_pop"]))
    unknown = [p for p in test_super_pops if p not in known]
    if unknown:
        raise InputError(f"test super-populations {unknown} are not in the panel", path=paths.panel,
                         where="column super_pop (--test-super-pops)", expected=f"some of {known}")
    table["split"] = np.where(table["super_pop"].isin(test_super_pops), "test", "train")
    if not (table["split"] == "test").any():
        raise InputError(f"no VCF sample belongs to the test super-populations {list(test_super_pops)}",
                         path=paths.panel, where="column super_pop (--test-super-pops)",
                         expected=f"a non-empty test split: super-populations of the VCF samples, "
                                  f"{sorted(set(table['super_pop']))}")
    return table


def _prepare_cluster(cluster: pd.DataFrame, paths: DataPaths, samples: pd.DataFrame, window_bp: int,
                     max_snps: int, min_af: float, max_af: float, unphased: str, af_source: str,
                     write_rows, meta_parts: list, record_genes: dict, skipped: dict) -> None:  # noqa: ANN001
    """Read one VCF region and write the genes whose windows lie in it."""
    chrom = str(cluster["chrom"].iloc[0])
    start, end = int(cluster["tss"].min()) - window_bp, int(cluster["tss"].max()) + window_bp
    block = read_snps(paths.vcf_for(chrom), chrom, max(start, 1), end, samples=samples["sample"].tolist(),
                      min_af=min_af, max_af=max_af, unphased=unphased, af_source=af_source)
    skipped[f"{chrom}:{max(start, 1)}-{end}"] = block.skipped
    for gene in cluster.itertuples():
        kept, n_window = select_window(block.pos, gene.tss, window_bp, max_snps)
        if len(kept) == 0:
            raise InputError(f"no SNP passes the filters within {window_bp} bp of the TSS {gene.tss}",
                             path=paths.vcf_for(chrom), where=f"gene {gene.gene_id}",
                             expected=f"SNPs with {min_af} <= AF <= {max_af} near the gene")
        pos = block.pos[kept]
        ids = block.ids[kept].astype(str)
        ids = np.where(ids == ".", [f"snp_{chrom}_{p}" for p in pos], ids)
        meta_parts.append(pd.DataFrame({
            "chrom": chrom, "pos": pos, "id": ids, "ref": block.ref[kept], "alt": block.alt[kept],
            "AF": np.round(block.af[kept], 6), "initial_counts": n_window, "GENE_ID": gene.gene_id,
            "seq_idx": np.arange(len(kept))}))
        haplotypes = np.transpose(block.haplotypes[kept], (1, 2, 0))  # (L, n, 2) -> (n, 2, L)
        write_rows(pd.DataFrame({"split": samples["split"], "sample_id": samples["sample"], "gene_id": gene.gene_id,
                                 "seq": decode_haplotypes(haplotypes)}))
        record_genes[gene.gene_id] = {"chrom": chrom, "tss": int(gene.tss), "initial_counts": n_window,
                                      "n_snps": len(kept), "first_pos": int(pos[0]), "last_pos": int(pos[-1])}


def _refuse_existing(paths: DataPaths) -> None:
    """An earlier output is not overwritten without ``force``; a half-written one is named as such."""
    there = [p.name for p in (paths.dataset, paths.meta, paths.out_dir / "prepare.json") if p.exists()]
    if not there:
        return
    if len(there) < 3:
        absent = [p.name for p in (paths.dataset, paths.meta, paths.out_dir / "prepare.json") if not p.exists()]
        raise FileExistsError(f"{paths.out_dir}: an unfinished prepare (it holds {', '.join(there)} but not "
                              f"{', '.join(absent)}); use --force to prepare again")
    raise FileExistsError(f"{paths.dataset} exists; use --force to overwrite it")


def prepare(paths: DataPaths, *, window_bp: int = 1_000_000, max_snps: int = 5000, min_af: float = 0.03,
            max_af: float = 0.97, test_super_pops: tuple[str, ...] = ("EUR",), unphased: str = "error",
            af_source: str = "genotypes", force: bool = False, progress: bool = True) -> dict:
    """Write ``dataset.parquet``, ``meta.csv.gz`` and ``prepare.json`` into ``paths.out_dir``.

    Refuses to overwrite an existing dataset unless ``force``. Returns the record written
    to ``prepare.json`` (settings, per-gene window counts, skipped VCF rows) plus the
    seconds it took. Rows of ``dataset.parquet``: gene by gene, samples in VCF order.
    """
    started = time.perf_counter()
    check_value(window_bp, POSITIVE_INT, "window_bp (--window-bp)")
    check_value(max_snps, POSITIVE_INT, "max_snps (--max-snps)")
    check_value(min_af, Rule(float, lo=0, hi=1), "min_af (--min-af)")
    check_value(max_af, Rule(float, lo=min_af, hi=1), "max_af")
    if not test_super_pops:
        raise InputError("no test super-population", where="--test-super-pops", expected="at least one, e.g. EUR")
    if not force:
        _refuse_existing(paths)
    ensure_output_dir(paths.out_dir)
    if paths.genes is not None:
        genes = read_genes(paths.genes)
    elif paths.top_n_genes and paths.expression and paths.eqtl:
        genes = genes_from_geuvadis(paths.expression, paths.eqtl, paths.top_n_genes)
        write_genes(paths.out_dir / "genes.tsv", genes)
    else:
        raise InputError("no gene list", expected="genes (genes.tsv) or top_n_genes with expression and eqtl")
    samples = _samples_and_splits(paths, list(dict.fromkeys(genes["chrom"])), tuple(test_super_pops))
    sample_ids = samples["sample"].tolist()

    meta_parts, record_genes, skipped = [], {}, {}
    clusters = gene_clusters(genes, window_bp)
    with dataset_writer(paths.dataset) as write_rows:  # one gene's strings in memory at a time
        for cluster in tqdm(clusters, desc="prepare: reading VCF regions", disable=not progress):
            _prepare_cluster(cluster, paths, samples, window_bp, max_snps, min_af, max_af, unphased, af_source,
                             write_rows, meta_parts, record_genes, skipped)
    order = list(genes["gene_id"])
    meta = pd.concat(sorted(meta_parts, key=lambda m: order.index(m["GENE_ID"].iloc[0])), ignore_index=True)
    write_meta(paths.meta, meta)

    def where(path: str | os.PathLike[str]) -> str:  # relative to out_dir, so that the record is portable
        return os.path.relpath(path, paths.out_dir)

    record = {
        "settings": {"window_bp": window_bp, "max_snps": max_snps, "min_af": min_af, "max_af": max_af,
                     "test_super_pops": list(test_super_pops), "unphased": unphased, "af_source": af_source,
                     "vcf": where(paths.vcf), "panel": where(paths.panel),
                     "genes": None if paths.genes is None else where(paths.genes)},
        "n_samples": len(sample_ids), "n_test": int((samples["split"] == "test").sum()),
        "genes": record_genes, "skipped_vcf_rows": skipped,
    }
    write_json(paths.out_dir / "prepare.json", record)  # no timings in it: it is part of the data fingerprint
    if paths.manifest.exists():
        write_manifest(paths.out_dir, prepare=record["settings"])
    return {**record, "seconds": round(time.perf_counter() - started, 2)}


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------

