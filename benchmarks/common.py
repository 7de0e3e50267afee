"""Shared pieces of the benchmarks: measured child processes, synthetic VCF inputs, tables.

Not a benchmark itself (the entry point runs ``bench_*.py`` only).

- :func:`measure` runs a command in a child process and returns its wall time and peak
  resident memory (the largest process of its tree), so that every case's memory is its
  own and not the high-water mark of the benchmark process.
- :func:`write_inputs` writes the inputs of ``lmeqtl prepare`` — a bgzipped, indexed VCF in
  the 1000 Genomes layout, a panel and a ``genes.tsv`` — with random SNPs plus the rows
  that ``prepare`` must drop (rare SNPs, indels, multi-allelic rows, non-PASS rows).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SUPER_POPS = ("AFR", "AMR", "EAS", "EUR", "SAS")
SNP_SPACING_BP = 20  # mean distance between candidate rows of the synthetic VCF


def machine() -> dict[str, str]:
    """CPU model, core count, GPU, torch and Python versions: the header of a results file."""
    from lmeqtl.mlm.weights import hardware

    found = hardware()
    return {"cpu": found["cpu"], "cores": str(found["cpu_cores"]), "gpu": found["gpu"] or "none",
            "torch": found["torch"], "python": found["python"]}


def git_commit() -> str:
    """The short commit of this checkout, marked when it has uncommitted changes."""
    here = Path(__file__).resolve().parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True)
    commit = head.stdout.strip() or "unknown"
    return commit + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def measure(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Wall seconds, peak RSS (MB, largest process of the tree) and the end of the stdout of ``command``.

    The command runs under a fresh wrapper process, so the peak is this command's own.
    """
    wrapper = [sys.executable, "-m", "benchmarks.common", "--measure", json.dumps(command)]
    done = subprocess.run(wrapper, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_here(command: list[str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(done.returncode)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest waited-for descendant
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "stdout": done.stdout[-2000:]}


def peak_rss_mb() -> float:
    """Peak RSS of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> float:
    return os.getloadavg()[0]


def emit(text: str, out: str | None) -> int:
    """Print a report and, with ``out``, also write it there; the exit status of a benchmark's ``main``."""
    print(text)
    if out:
        with open(out, "w") as handle:
            handle.write(text)
    return 0


def markdown(rows: list[dict], columns: dict[str, str] | None = None) -> str:
    """A markdown table of ``rows`` (``columns``: key -> header, in order; default: all keys)."""
    columns = columns or {k: k for k in rows[0]}
    frame = pd.DataFrame(rows).loc[:, list(columns)].rename(columns=columns)
    return frame.to_markdown(index=False, floatfmt="g")


# --------------------------------------------------------------------------------------
# synthetic inputs of `lmeqtl prepare`
# --------------------------------------------------------------------------------------


def write_inputs(directory: str | os.PathLike[str], n_genes: int, n_snps: int, n_samples: int,
                 seed: int = 0, chrom: str = "6") -> Path:
    """Write ``vcf/chr{chrom}.vcf.gz`` (+ ``.tbi``), ``panel`` and ``genes.tsv`` into ``directory``.

    Each gene gets ~``1.27 * n_snps`` rows spaced ~:data:`SNP_SPACING_BP` bp apart around its
    TSS: 93 % common SNPs (AF 0.03-0.97), 5 % rare SNPs, 1 % indels, 1 % multi-allelic rows
    (the decoys ``prepare`` must drop). Genes are ``3 * n_snps * SNP_SPACING_BP`` bp apart,
    so their windows (:func:`prepare_command`) never overlap. Returns ``directory``.
    """
    from lmeqtl.data.vcf_writer import VcfRecords, write_vcf

    directory = Path(directory)
    rng = np.random.default_rng(seed)
    samples = [f"HG{i:05d}" for i in range(n_samples)]
    super_pops = np.array(SUPER_POPS)[np.arange(n_samples) % len(SUPER_POPS)]
    gap = 3 * n_snps * SNP_SPACING_BP
    tss = 1_000_000 + gap * np.arange(n_genes)
    rows_per_gene = int(1.2 * n_snps) + int(0.07 * n_snps)
    half = rows_per_gene * SNP_SPACING_BP // 2
    positions = np.concatenate([np.sort(rng.choice(np.arange(t - half, t + half), rows_per_gene, replace=False))
                                for t in tss])
    m = len(positions)
    kind = rng.choice(4, size=m, p=[0.93, 0.05, 0.01, 0.01])  # common SNP, rare SNP, indel, multi-allelic
    af = np.where(kind == 1, rng.uniform(0.0005, 0.02, m), rng.uniform(0.03, 0.97, m))
    alleles = (rng.random((m, n_samples, 2), dtype=np.float32) < af[:, None, None].astype(np.float32))
    alleles = alleles.astype(np.uint8)
    alleles[kind == 3] *= rng.integers(1, 3, size=(int((kind == 3).sum()), n_samples, 2), dtype=np.uint8)
    ref = np.where(kind == 2, "AT", "A").astype(object)
    alt = np.select([kind == 3], ["G,T"], "G").astype(object)
    ids = np.array([f"rs{i + 1}" for i in range(m)], dtype=object)
    records = VcfRecords(chrom, positions, ids, ref, alt, alleles)
    write_vcf(directory / "vcf" / f"chr{chrom}.vcf.gz", records, samples, super_pops=super_pops)
    pops = {"AFR": "YRI", "AMR": "PUR", "EAS": "CHB", "EUR": "GBR", "SAS": "GIH"}
    panel = pd.DataFrame({"sample": samples, "pop": [pops[s] for s in super_pops], "super_pop": super_pops,
                          "gender": np.where(np.arange(n_samples) % 2, "female", "male")})
    panel.to_csv(directory / "panel", sep="\t", index=False)
    genes = pd.DataFrame({"gene_id": [f"ENSGB{g:06d}.1" for g in range(n_genes)], "chrom": chrom, "tss": tss})
    genes.to_csv(directory / "genes.tsv", sep="\t", index=False)
    return directory


def cached_inputs(n_genes: int, n_snps: int, n_samples: int, scratch: Path) -> Path:
    """:func:`write_inputs` of at least ``n_genes`` genes, reused across benchmarks of one run.

    ``$LMEQTL_BENCH_CACHE`` (set by ``python -m benchmarks``) is searched for inputs with the
    same SNPs and samples and as many genes or more; else they are written under it, or
    under ``scratch`` when it is not set.
    """
    cache = Path(os.environ.get("LMEQTL_BENCH_CACHE") or scratch)
    for found in sorted(cache.glob(f"inputs_*g_{n_snps}snps_{n_samples}n")):
        if int(found.name.split("_")[1].removesuffix("g")) >= n_genes and (found / "genes.tsv").exists():
            return found
    target = cache / f"inputs_{n_genes}g_{n_snps}snps_{n_samples}n"
    partial = cache / f".partial_{target.name}_{os.getpid()}"
    write_inputs(partial, n_genes, n_snps, n_samples)
    partial.rename(target)  # whole or not at all, for the next benchmark
    return target


def synthetic_cohort(n_samples: int, gene_lengths: list[int], seed: int = 0, n_founders: int = 20):  # noqa: ANN201
    """A :class:`~lmeqtl.data.cohort.Cohort` of random founder haplotype copies (for timing, not learning)."""
    from lmeqtl.data.cohort import Cohort

    rng = np.random.default_rng(seed)
    genes = [f"ENSGB{g:06d}.1" for g in range(len(gene_lengths))]
    samples = pd.DataFrame({"split": np.where(np.arange(n_samples) % 5 == 0, "test", "train")},
                           index=pd.Index([f"HG{i:05d}" for i in range(n_samples)], name="sample_id"))
    haplotypes, frames = {}, []
    for gene, length in zip(genes, gene_lengths, strict=True):
        founders = (rng.random((n_founders, length)) < rng.uniform(0.03, 0.5, length)).astype(np.uint8)
        haplotypes[gene] = founders[rng.integers(0, n_founders, size=(n_samples, 2))]  # (n, 2, L)
        af = haplotypes[gene].reshape(-1, length).mean(axis=0)
        frames.append(pd.DataFrame({"chrom": "6", "pos": 1_000_000 + 20 * np.arange(length),
                                    "id": [f"rs{i}" for i in range(length)], "ref": "A", "alt": "G", "AF": af,
                                    "initial_counts": length, "GENE_ID": gene, "seq_idx": np.arange(length)}))
    return Cohort(samples=samples, meta=pd.concat(frames, ignore_index=True), genes=genes, haplotypes=haplotypes)


def prepare_command(inputs: Path, out: Path, n_snps: int, n_genes: int | None = None) -> list[str]:
    """``lmeqtl prepare`` on :func:`write_inputs` files: ``n_snps`` per gene, the first ``n_genes`` genes."""
    genes = inputs / "genes.tsv"
    if n_genes is not None:
        table = pd.read_csv(genes, sep="\t").head(n_genes)
        genes = inputs / f"genes_{n_genes}.tsv"
        table.to_csv(genes, sep="\t", index=False)
    window = int(0.6 * n_snps * SNP_SPACING_BP)  # holds ~1.2 n_snps SNPs: the crop keeps n_snps
    return [sys.executable, "-m", "lmeqtl.cli", "prepare", "--vcf", str(inputs / "vcf" / "chr{chrom}.vcf.gz"),
            "--panel", str(inputs / "panel"), "--genes", str(genes), "--out", str(out), "--force",
            "--window-bp", str(window), "--max-snps", str(n_snps), "--min-af", "0.03"]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(_measure_here(json.loads(sys.argv[2]))))
    else:
        raise SystemExit("usage: python -m benchmarks.common --measure '[\"cmd\", \"arg\"]'")
