"""The real top10 gene windows, and where the simulation must put SNPs to reproduce them.

``lmeqtl/data/phase3_top10_meta.csv.gz`` is the original's SNP table for the top10 genes
(1000 Genomes Phase 3, GRCh37). ``prepare`` (:func:`lmeqtl.data.prepare.select_window`) keeps,
per gene, the SNPs passing the filters in TSS +/- 1 Mb — ``initial_counts`` of them — and
crops them to 5000 consecutive SNPs centred on the TSS. The simulated VCFs therefore hold

- every SNP of the ten lists (positions, rs ids, REF/ALT of the real data; one genotype
  per position even where the HLA and 17q21.31 windows overlap), and
- *filler* SNPs (no rs id) so that each window holds exactly ``initial_counts`` SNPs,
  placed where they cannot enter any list: outside every list's span and, for a gene
  whose list touches a window edge, outside the gap between the list and that edge.

The fillers of overlapping windows are counted by a small integer program
(:func:`filler_counts`) that keeps their density even. The TSS of each gene lies in the
interval that reproduces its list (:func:`tss_interval`); where the GRCh37 TSS is known
(GENCODE, as used by GEUVADIS) and lies in that interval it is used, else the interval's
midpoint.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

# gene -> (symbol, GRCh37 TSS). Sources: LRRC37A/LRRC37A2/LRRC37A4P — GEUVADIS eQTL browser gene
# records; HLA-DQA1/DQB1/DRB1 — GRCh37 gene bounds used by public HLA tools; HLA-DRB5/DQA2/DQB2 —
# GENCODE as we recall it, not checked against a file here. All nine lie inside tss_interval(),
# which is only 10-150 bp wide for the HLA genes. ENSG00000229450: the midpoint of its interval.
TOP10_GENES = {
    "ENSG00000176681.9": ("LRRC37A", 44_370_099),
    "ENSG00000238083.3": ("LRRC37A2", 44_588_877),
    "ENSG00000214425.1": ("LRRC37A4P", 43_595_264),
    "ENSG00000229450.2": ("ENSG00000229450", 120_299_264),
    "ENSG00000196735.6": ("HLA-DQA1", 32_595_956),
    "ENSG00000198502.5": ("HLA-DRB5", 32_498_064),
    "ENSG00000237541.3": ("HLA-DQA2", 32_709_119),
    "ENSG00000196126.6": ("HLA-DRB1", 32_557_625),
    "ENSG00000179344.11": ("HLA-DQB1", 32_636_160),
    "ENSG00000232629.4": ("HLA-DQB2", 32_731_311),
}


def random_snp_alleles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """REF and ALT bases for ``n`` made-up SNPs, two transitions per transversion."""
    ref = rng.choice(np.array(list("ACGT"), dtype=object), n)
    transition = {"A": "G", "C": "T", "G": "A", "T": "C"}
    transversion = {"A": "CT", "C": "AG", "G": "CT", "T": "AG"}
    draw, side = rng.random(n), rng.integers(0, 2, n)
    alt = np.array([transition[r] if u < 2 / 3 else transversion[r][k] for r, u, k in zip(ref, draw, side, strict=True)],
                   dtype=object)
    return ref, alt


def real_top10_meta() -> pd.DataFrame:
    """The original's top10 ``meta.csv.gz`` (50,000 rows), chromosome as a string."""
    with resources.files("lmeqtl").joinpath("data/phase3_top10_meta.csv.gz").open("rb") as handle:
        meta = pd.read_csv(handle, compression="gzip", dtype={"chrom": str, "id": str})
    return meta


def top10_genes(meta: pd.DataFrame | None = None) -> pd.DataFrame:
    """``genes.tsv`` rows of the top10 genes, in the order of the real meta table."""
    meta = real_top10_meta() if meta is None else meta
    order = list(dict.fromkeys(meta["GENE_ID"]))
    chrom = meta.drop_duplicates("GENE_ID").set_index("GENE_ID")["chrom"]
    return pd.DataFrame({"gene_id": order, "chrom": [str(chrom[g]) for g in order],
                         "tss": [TOP10_GENES[g][1] for g in order], "symbol": [TOP10_GENES[g][0] for g in order]})


def tss_interval(list_pos: np.ndarray, union_pos: np.ndarray, window_bp: int, max_snps: int) -> tuple[str, int, int]:
    """The TSS values ``[lo, hi]`` for which the crop gives exactly ``list_pos``, and the case.

    ``centred``: ``max_snps // 2`` list SNPs before the TSS; ``right_edge``/``left_edge``:
    the list ends/starts at the window edge (fewer SNPs on that side). ``union_pos`` are
    the known SNPs (all lists of the chromosome); unknown neighbours count as absent.
    """
    half = max_snps // 2
    lo_c, hi_c = int(list_pos[half - 1]) + 1, int(list_pos[half])
    if lo_c - window_bp <= list_pos[0] and hi_c + window_bp >= list_pos[-1]:
        return "centred", max(lo_c, int(list_pos[-1]) - window_bp), min(hi_c, int(list_pos[0]) + window_bp)
    after = union_pos[union_pos > list_pos[-1]]
    before = union_pos[union_pos < list_pos[0]]
    if hi_c + window_bp < list_pos[-1]:  # a centred list would leave the window on the right
        hi = (int(after[0]) - 1 if len(after) else int(list_pos[-1]) + window_bp) - window_bp
        return "right_edge", int(list_pos[-1]) - window_bp, hi
    lo = (int(before[0]) + 1 if len(before) else int(list_pos[0]) - window_bp) + window_bp
    return "left_edge", lo, int(list_pos[0]) + window_bp


def forbidden_intervals(genes: pd.DataFrame, meta: pd.DataFrame, window_bp: int, max_snps: int) -> list[tuple[int, int]]:
    """Closed intervals where no filler may go: each list's span, and the list-to-edge gap."""
    union = np.sort(meta["pos"].unique())
    spans = []
    for gene in genes.itertuples():
        pos = meta.loc[meta["GENE_ID"] == gene.gene_id, "pos"].to_numpy()
        case, _, _ = tss_interval(pos, union, window_bp, max_snps)
        spans.append((int(pos[0]), int(pos[-1])))
        if case == "right_edge":
            spans.append((int(pos[-1]), gene.tss + window_bp))
        elif case == "left_edge":
            spans.append((gene.tss - window_bp, int(pos[0])))
    return spans


def filler_counts(genes: pd.DataFrame, meta: pd.DataFrame, window_bp: int, max_snps: int) -> pd.DataFrame:
    """How many filler SNPs go in each allowed segment ``[start, end)`` of one chromosome.

    Solves ``sum of fillers in window g = initial_counts_g - real SNPs in window g`` for
    every gene, with fillers as evenly spread as the equations allow (integer program).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    union = np.sort(meta["pos"].unique())
    forbidden = forbidden_intervals(genes, meta, window_bp, max_snps)
    windows = [(g.tss - window_bp, g.tss + window_bp) for g in genes.itertuples()]
    edges = {lo for lo, _ in windows} | {hi + 1 for _, hi in windows}
    edges |= {lo for lo, _ in forbidden} | {hi + 1 for _, hi in forbidden}
    edges = np.array(sorted(edges))
    start, end = edges[:-1], edges[1:]
    allowed = np.array([not any(lo <= s and e - 1 <= hi for lo, hi in forbidden) for s, e in zip(start, end, strict=True)])
    inside = np.array([[lo <= s and e - 1 <= hi for s, e in zip(start, end, strict=True)] for lo, hi in windows])
    start, end, inside = start[allowed], end[allowed], inside[:, allowed]
    n_real = np.array([np.sum((union >= lo) & (union <= hi)) for lo, hi in windows])
    initial = meta.drop_duplicates("GENE_ID").set_index("GENE_ID").loc[genes["gene_id"], "initial_counts"].to_numpy()
    need = initial - n_real
    if np.any(need < 0):
        raise ValueError(f"windows hold more real SNPs than initial_counts: {dict(zip(genes.gene_id, need, strict=True))}")
    if len(start) == 0:
        if np.any(need != 0):
            raise ValueError(f"fillers needed but no room for them: {dict(zip(genes.gene_id, need, strict=True))}")
        return pd.DataFrame({"start": start, "end": end, "n_fillers": np.zeros(0, np.int64)})
    length = (end - start).astype(float)
    covered = inside.any(axis=0)
    density = float(np.mean(need / np.maximum(inside @ length, 1.0)))  # fillers per bp of one window
    k = len(start)
    # variables: x (fillers per segment), d (|x - density * length|)
    cost = np.r_[np.zeros(k), np.ones(k)]
    eye = np.eye(k)
    constraints = [LinearConstraint(np.c_[inside.astype(float), np.zeros((len(windows), k))], need, need),
                   LinearConstraint(np.c_[eye, -eye], -np.inf, density * length),
                   LinearConstraint(np.c_[eye, eye], density * length, np.inf)]
    upper = np.r_[np.where(covered, length, 0), np.full(k, np.inf)]
    result = milp(cost, constraints=constraints, integrality=np.r_[np.ones(k), np.zeros(k)],
                  bounds=Bounds(np.zeros(2 * k), upper))
    if not result.success:
        raise ValueError(f"no filler layout reproduces initial_counts: {result.message}")
    return pd.DataFrame({"start": start, "end": end, "n_fillers": np.round(result.x[:k]).astype(np.int64)})


def top10_targets(window_bp: int = 1_000_000, max_snps: int = 5000,
                  rng: np.random.Generator | None = None) -> dict[str, pd.DataFrame]:
    """Per chromosome, every SNP the simulated VCF must hold: real list SNPs and fillers.

    Columns ``pos, id, ref, alt, af`` (the target ALT frequency: the real AF, or for a
    filler one drawn from the real AFs of that chromosome) and ``real``; sorted by pos.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    meta, genes = real_top10_meta(), top10_genes()
    targets = {}
    for chrom, on_chrom in genes.groupby("chrom", sort=False):
        chrom_meta = meta[meta["chrom"] == chrom]
        real = chrom_meta.drop_duplicates("pos").sort_values("pos")
        segments = filler_counts(on_chrom, chrom_meta, window_bp, max_snps)
        pos = np.concatenate([s + rng.choice(e - s, n, replace=False)
                              for s, e, n in segments.itertuples(index=False) if n > 0] or [np.zeros(0, int)])
        ref, alt = random_snp_alleles(len(pos), rng)
        fillers = pd.DataFrame({"pos": pos, "id": ".", "ref": ref, "alt": alt,
                                "af": rng.choice(real["AF"].to_numpy(), len(pos)), "real": False})
        table = pd.concat([real.loc[:, ["pos", "id", "ref", "alt"]].assign(af=real["AF"].to_numpy(), real=True),
                           fillers], ignore_index=True)
        targets[chrom] = table.sort_values("pos", kind="stable").reset_index(drop=True)
    return targets
