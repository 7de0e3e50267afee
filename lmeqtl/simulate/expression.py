"""Expression with known causal eQTLs, in the GEUVADIS GD660 layout, and a cis-eQTL scan.

The model, per gene (all logs natural; "EUR" = the EUR people with expression):

- ``k`` causal SNPs among the gene's window SNPs with EUR MAF >= ``causal_min_maf``,
  drawn with weight ``(exp(-|distance to TSS| / tss_scale_bp) + 0.02) x fold`` (``fold`` =
  ``active_mark_enrichment`` inside an H3K27ac/H3K4me1/H3K4me3 peak, its inverse inside
  only H3K27me3/H3K9me3 peaks, else 1); after the
  first, with probability ``causal_ld_fraction`` among SNPs with 0.2 <= r^2 <= 0.8 with an
  earlier causal SNP, else among SNPs with r^2 < 0.8 with all of them;
- additive value ``A = sum_j b_j x_j`` (``x_j`` = ALT dosage, ``b_j ~ N(0, 1)``);
- with ``k >= 2`` and ``phi = interaction_fraction > 0`` (or the gene's entry of
  ``interaction_fractions``, see :func:`gene_interaction_fraction`): the cis-interaction
  ``I = number of haplotypes carrying the ALT alleles of causal SNPs 1 and 2 together``,
  made orthogonal to the causal dosages in EUR (``I_perp``), so that ``phi`` is exactly the
  share of genetic variance an additive model of the causal SNPs cannot explain;
- genetic value ``G = sqrt(1 - phi) A_std + sqrt(phi) I_std`` (standardised in EUR:
  mean 0, variance 1);
- person-level log expression ``y = mu + sigma (sqrt(h2) G + sqrt(1 - h2) e)``, ``e ~ N(0,1)``.
  **h2** is thus the share of the variance of ``y`` explained by the cis genetic value,
  per person (not per library), in the EUR expression sample; the truth also records the
  realised share in the simulated people (``h2_realised``);
- each sequencing library: ``log RPKM = y + technical_sd * N(0, 1)``; a share
  ``replicate_fraction`` of people get a second (rarely a third) library.

The truth records, per causal SNP, the exact generative coefficient ``effect`` (change of
``y`` per ALT allele) and the interaction coefficient per haplotype carrying both ALTs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lmeqtl.config import SimulationConfig
from lmeqtl.data.peaks import REPRESSIVE_MARKS, in_peaks
from lmeqtl.simulate.chromatin import CAUSAL_ENRICHED_MARKS

RUN_DATES = ("111124", "111215", "120110", "120207", "120313", "120405")


@dataclass
class GeneGenotypes:
    """What expression and the eQTL scan need of one gene, cut out of its chromosome.

    window: the SNPs ``prepare`` keeps (``pos``, ``ids``) and the *true* alleles of the
    people with expression, ``true (n_expr, 2, L)``; cis: the SNPs within ``window_bp`` of
    the TSS and the *observed* (VCF) ALT dosage of the EUR people with expression,
    ``cis_dosage (n_eur, m)``.
    """

    gene_id: str
    symbol: str
    chrom: str
    tss: int
    pos: np.ndarray
    ids: np.ndarray
    true: np.ndarray
    cis_pos: np.ndarray
    cis_ids: np.ndarray
    cis_dosage: np.ndarray


def _r2(dosage: np.ndarray, column: int) -> np.ndarray:
    """Squared correlation of one SNP with every SNP, ``dosage (n, L)``."""
    centred = dosage - dosage.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = centred.T @ centred[:, column] / (norm * norm[column])
    return np.nan_to_num(r**2)


def choose_causal(pos: np.ndarray, tss: int, dosage_eur: np.ndarray, active: np.ndarray, repressed: np.ndarray,
                  n_causal: int, config: SimulationConfig, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Indices of the causal SNPs in the window, and for each the earlier one it was drawn in LD with (-1).

    ``active``/``repressed``: SNP in an active-mark peak / only in repressive-mark peaks.
    """
    af = dosage_eur.mean(axis=0) / 2
    eligible = np.minimum(af, 1 - af) >= config.causal_min_maf
    if not eligible.any():
        raise ValueError("no window SNP reaches causal_min_maf in EUR")
    fold = config.active_mark_enrichment
    weight = (np.exp(-np.abs(pos - tss) / config.tss_scale_bp) + 0.02) * np.where(
        active, fold, np.where(repressed, 1 / fold, 1.0))
    chosen, partner, r2 = [], [], []
    for _ in range(min(n_causal, int(eligible.sum()))):
        allowed = eligible.copy()
        allowed[chosen] = False
        wanted_ld = chosen and rng.random() < config.causal_ld_fraction
        if chosen:
            best = np.max(r2, axis=0)
            in_ld = allowed & (best >= 0.2) & (best <= 0.8)
            allowed &= in_ld if wanted_ld and in_ld.any() else best < 0.8
            if not allowed.any():
                break
        p = np.where(allowed, weight, 0.0)
        pick = int(rng.choice(len(p), p=p / p.sum()))
        partner.append(int(np.argmax([row[pick] for row in r2])) if wanted_ld else -1)
        chosen.append(pick)
        r2.append(_r2(dosage_eur, pick))
    return np.array(chosen, dtype=np.int64), [chosen[k] if k >= 0 else -1 for k in partner]


def genetic_value(alleles: np.ndarray, causal: np.ndarray, b: np.ndarray, phi: float, eur: np.ndarray) -> dict:
    """``G`` (standardised in EUR) and the exact coefficients that produce it.

    ``alleles`` is ``(n, 2, L)``; returns ``G (n,)``, ``additive (k,)`` (per ALT allele),
    ``interaction`` (per haplotype with both ALTs) and ``intercept`` with
    ``G = intercept + x_causal @ additive + interaction * I``.
    """
    x = alleles[:, :, causal].sum(axis=1).astype(float)  # (n, k) dosages
    a = x @ b
    a_mean, a_sd = a[eur].mean(), a[eur].std()
    additive, intercept = np.sqrt(1 - phi) * b / a_sd, -np.sqrt(1 - phi) * a_mean / a_sd
    interaction, both = 0.0, np.zeros(len(x))
    if phi > 0 and len(causal) >= 2:
        both = (alleles[:, :, causal[0]] & alleles[:, :, causal[1]]).sum(axis=1).astype(float)  # (n,)
        design = np.c_[np.ones(len(x)), x]
        theta, *_ = np.linalg.lstsq(design[eur], both[eur], rcond=None)
        resid_sd = (both[eur] - design[eur] @ theta).std()
        if resid_sd > 1e-9:
            interaction = np.sqrt(phi) / resid_sd
            intercept -= interaction * theta[0]
            additive = additive - interaction * theta[1:]
        else:  # the pair is never on one haplotype apart from additive terms: stay additive
            additive, intercept = b / a_sd, -a_mean / a_sd
    value = intercept + x @ additive + interaction * both
    return {"G": value, "additive": additive, "interaction": interaction, "intercept": intercept}


def gene_interaction_fraction(config: SimulationConfig, index: int) -> float:
    """The interaction fraction of gene number ``index``: its entry of ``interaction_fractions``
    (repeated over the genes), or ``interaction_fraction`` when that tuple is empty."""
    if not config.interaction_fractions:
        return config.interaction_fraction
    return float(config.interaction_fractions[index % len(config.interaction_fractions)])


def simulate_gene(alleles: np.ndarray, eur: np.ndarray, causal: np.ndarray, config: SimulationConfig,
                  rng: np.random.Generator, phi: float | None = None) -> dict:
    """Person-level log expression ``y (n,)`` and the gene's truth (h2, mu, sigma, coefficients).

    ``phi``: the gene's interaction fraction (default ``config.interaction_fraction``).
    """
    h2 = float(rng.uniform(*config.h2_range))
    phi = (config.interaction_fraction if phi is None else phi) if len(causal) >= 2 else 0.0
    b = rng.normal(0, 1, len(causal))
    g = genetic_value(alleles, causal, b, phi, eur)
    phi = phi if g["interaction"] > 0 else 0.0
    mu, sigma = np.log(10 ** rng.uniform(-0.5, 2.5)), float(rng.uniform(0.3, 0.8))
    genetic = sigma * np.sqrt(h2) * g["G"]
    y = mu + genetic + sigma * np.sqrt(1 - h2) * rng.normal(0, 1, len(eur))
    return {"y": y, "h2": h2, "h2_realised": float(genetic[eur].var() / y[eur].var()),
            "interaction_fraction": phi, "log_mean": mu, "log_sd": sigma, "b": b,
            "effect": sigma * np.sqrt(h2) * g["additive"],
            "interaction_effect": sigma * np.sqrt(h2) * g["interaction"]}


def library_table(samples: list[str], log_expression: np.ndarray, config: SimulationConfig,
                  rng: np.random.Generator) -> pd.DataFrame:
    """RPKM per (gene, library): ``log_expression (G, n)`` + technical noise; columns named
    ``SAMPLE.LIBRARY.M_RUNDATE_LANE``; replicate libraries for ``replicate_fraction`` of people."""
    n = len(samples)
    n_libraries = 1 + (rng.random(n) < config.replicate_fraction) + (rng.random(n) < config.replicate_fraction / 10)
    person = np.repeat(np.arange(n), n_libraries)
    number = np.concatenate([np.arange(1, k + 1) for k in n_libraries])
    names = [f"{samples[p]}.{k}.M_{rng.choice(RUN_DATES)}_{rng.integers(1, 9)}" for p, k in zip(person, number, strict=True)]
    noise = rng.normal(0, config.technical_sd, (log_expression.shape[0], len(person)))
    return pd.DataFrame(np.exp(log_expression[:, person] + noise), columns=names)


def cis_eqtl_scan(dosage: np.ndarray, phenotype: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson r, p-value and -log10 p of each SNP (``dosage (n, m)``) with one phenotype ``(n,)``.

    The t-test of a correlation with ``n - 2`` degrees of freedom; ``-log10 p`` from the
    log survival function, so it stays finite when ``p`` underflows.
    """
    n = len(phenotype)
    centred = dosage - dosage.mean(axis=0)
    y = phenotype - phenotype.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred.T @ y) / (np.sqrt((centred**2).sum(axis=0)) * np.sqrt((y**2).sum()))
        t = r * np.sqrt((n - 2) / np.maximum(1 - r**2, 1e-300))
    log_p = np.log(2) + stats.t.logsf(np.abs(t), n - 2)
    return r, np.exp(log_p), -log_p / np.log(10)


def simulate_expression(genes: list[GeneGenotypes], eur: np.ndarray, tracks: dict[str, pd.DataFrame],
                        config: SimulationConfig, rng: np.random.Generator) -> dict:
    """Causal SNPs and person-level log expression of every gene, and the truth tables.

    ``eur`` marks the EUR people among those with expression. Returns ``log_expression``
    ``(G, n_expr)``, ``genes`` and ``causal_snps`` (truth rows) and ``window_snps`` (chrom,
    pos, causal) for the chromatin enrichment.
    """
    log_expression, gene_rows, causal_rows, window_rows = [], [], [], []
    for index, gene in enumerate(genes):
        marks = {m: in_peaks(gene.chrom, gene.pos, t) for m, t in tracks.items()}
        active = np.any([marks[m] for m in CAUSAL_ENRICHED_MARKS], axis=0)
        repressed = np.any([marks[m] for m in REPRESSIVE_MARKS], axis=0) & ~active
        n_causal = int(rng.integers(config.n_causal_range[0], config.n_causal_range[1] + 1))
        phi = gene_interaction_fraction(config, index)
        if config.interaction_fractions and phi > 0:  # an interaction needs a pair (default path unchanged)
            n_causal = max(n_causal, 2)
        causal, partner = choose_causal(gene.pos, gene.tss, gene.true[eur].sum(axis=1).astype(float), active,
                                        repressed, n_causal, config, rng)
        sim = simulate_gene(gene.true, eur, causal, config, rng, phi)
        log_expression.append(sim["y"])
        pair = ",".join(gene.ids[causal[:2]]) if sim["interaction_fraction"] > 0 else ""
        gene_rows.append({"gene_id": gene.gene_id, "symbol": gene.symbol, "chrom": gene.chrom, "tss": gene.tss,
                          "h2": sim["h2"], "h2_realised": sim["h2_realised"], "n_causal": len(causal),
                          "interaction_fraction": sim["interaction_fraction"], "interaction_snps": pair,
                          "interaction_effect": sim["interaction_effect"], "log_mean": sim["log_mean"],
                          "log_sd": sim["log_sd"], "n_window_snps": len(gene.pos)})
        af_eur = gene.true[eur].mean(axis=(0, 1))
        for j, (k, ld) in enumerate(zip(causal, partner, strict=True)):
            causal_rows.append({
                "gene_id": gene.gene_id, "id": gene.ids[k], "chrom": gene.chrom, "pos": int(gene.pos[k]),
                "seq_idx": int(k), "distance_to_tss": int(gene.pos[k] - gene.tss), "effect": sim["effect"][j],
                "effect_standardised": sim["b"][j], "af_eur": af_eur[k], "in_active_peak": bool(active[k]),
                "peaks": ";".join(m for m in tracks if marks[m][k]), "interacting": bool(pair) and j < 2,
                "drawn_in_ld_with": gene.ids[ld] if ld >= 0 else ""})
        window_rows.append(pd.DataFrame({"chrom": gene.chrom, "pos": gene.pos,
                                         "causal": np.isin(np.arange(len(gene.pos)), causal)}))
    return {"log_expression": np.array(log_expression), "genes": pd.DataFrame(gene_rows),
            "causal_snps": pd.DataFrame(causal_rows), "window_snps": pd.concat(window_rows, ignore_index=True)}


def eqtl_table(genes: list[GeneGenotypes], phenotype: np.ndarray, config: SimulationConfig) -> pd.DataFrame:
    """A GEUVADIS-style cis-eQTL table from the EUR people's phenotype ``(n_eur, G)``.

    SNPs: the gene's cis SNPs with EUR MAF >= ``eqtl_min_maf``. Benjamini-Hochberg over
    all tests; rows with q <= ``eqtl_fdr``; each gene's rows sorted by p-value.
    """
    parts = []
    for k, gene in enumerate(genes):
        af = gene.cis_dosage.mean(axis=0) / 2
        common = np.minimum(af, 1 - af) >= config.eqtl_min_maf
        r, p, log10p = cis_eqtl_scan(gene.cis_dosage[:, common].astype(float), phenotype[:, k])
        pos = gene.cis_pos[common]
        parts.append(pd.DataFrame({
            "SNP_ID": gene.cis_ids[common], "ID": "-", "GENE_ID": gene.gene_id, "PROBE_ID": gene.gene_id,
            "CHR_SNP": gene.chrom, "CHR_GENE": gene.chrom, "SNPpos": pos, "TSSpos": gene.tss,
            "distance": np.abs(pos - gene.tss), "rvalue": r, "pvalue": p, "log10pvalue": log10p, "_gene": k}))
    table = pd.concat(parts, ignore_index=True)
    table = table[stats.false_discovery_control(table["pvalue"].to_numpy()) <= config.eqtl_fdr]  # BH q-values
    table = table.sort_values(["_gene", "pvalue", "SNPpos"], kind="stable")
    return table.drop(columns="_gene").reset_index(drop=True)
