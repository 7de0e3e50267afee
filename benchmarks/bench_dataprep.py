"""``lmeqtl prepare`` vs a reference pipeline (bcftools + plain pandas) on the same VCF, side by side.

The reference does what a user would do with the standard tool: per gene,
``bcftools view -r REGION -m2 -M2 -v snps -f PASS,. -i 'AF>=min && AF<=max' | bcftools query``
(biallelic PASS SNPs of the window, AF from the 1000 Genomes-style INFO/AF), then pandas:
read the text, keep ``max_snps`` SNPs centred on the TSS (the same crop rule), map each
sample's ``a|b`` calls to ``R/F/M/B`` and join them into its genotype string (``Series.map``
+ ``str.cat`` per sample column; a first try with ``DataFrame.replace`` did not finish the
top10-size run in 13 minutes), write
``dataset.parquet`` and ``meta.csv.gz``. Both outputs are read back and compared: the row
"identical output" says whether the genotype strings and SNP lists agree.

Each run is a fresh child process (wall time, peak RSS of the largest process); the two
pipelines alternate ``--repeats`` times and the medians are compared, so that both see the
same machine load. The inputs are synthetic (random SNPs, top10-like size by default:
10 genes x 5000 SNPs x 2504 samples, plus rare-SNP / indel / multi-allelic decoy rows).
Without ``bcftools`` on the PATH the reference row is skipped with a message.

    python -m benchmarks.bench_dataprep [--genes 10] [--snps 5000] [--samples 2504] [--repeats 2]
    python -m benchmarks.bench_dataprep --quick
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import (
    SNP_SPACING_BP,
    cached_inputs,
    load_average,
    markdown,
    measure,
    prepare_command,
)

MIN_AF = 0.03
LETTERS = {"0|0": "R", "1|0": "F", "0|1": "M", "1|1": "B", ".|.": "N"}


def reference_prepare(inputs: Path, genes_file: Path, out: Path, n_snps: int) -> None:
    """The reference pipeline: bcftools per gene window, then a plain pandas conversion."""
    window = int(0.6 * n_snps * SNP_SPACING_BP)  # as benchmarks.common.prepare_command
    genes = pd.read_csv(genes_file, sep="\t", dtype={"chrom": str})
    panel = pd.read_csv(inputs / "panel", sep="\t").set_index("sample")
    vcf = inputs / "vcf" / "chr{chrom}.vcf.gz"
    datasets, metas = [], []
    for gene in genes.itertuples():
        path = str(vcf).format(chrom=gene.chrom)
        samples = subprocess.run(["bcftools", "query", "-l", path], capture_output=True, text=True,
                                 check=True).stdout.split()
        region = f"{gene.chrom}:{max(gene.tss - window, 1)}-{gene.tss + window}"
        view = subprocess.Popen(["bcftools", "view", "-r", region, "-m2", "-M2", "-v", "snps", "-f", "PASS,.",
                                 "-i", f"INFO/AF>={MIN_AF} && INFO/AF<={1 - MIN_AF}", "-Ou", path],
                                stdout=subprocess.PIPE)
        query = subprocess.Popen(["bcftools", "query", "-f", r"%CHROM\t%POS\t%ID\t%REF\t%ALT\t%INFO/AF[\t%GT]\n"],
                                 stdin=view.stdout, stdout=subprocess.PIPE)
        view.stdout.close()
        table = pd.read_csv(query.stdout, sep="\t", header=None, dtype=str)
        if query.wait() or view.wait():
            raise RuntimeError(f"bcftools failed on {region}")
        pos = table[1].astype(int).to_numpy()
        before = int(np.searchsorted(pos, gene.tss))
        start = min(max(before - n_snps // 2, 0), max(len(pos) - n_snps, 0))
        kept = table.iloc[start:start + n_snps]
        seqs = [kept[column].map(LETTERS).str.cat() for column in kept.columns[6:]]  # one string per sample
        split = np.where(panel.loc[samples, "super_pop"] == "EUR", "test", "train")
        datasets.append(pd.DataFrame({"seq_name": [f"{s}:{i}:{gene.gene_id}" for s, i in zip(split, samples,
                                                                                              strict=True)],
                                      "seq": seqs}))
        metas.append(pd.DataFrame({"chrom": kept[0], "pos": kept[1].astype(int), "id": kept[2], "ref": kept[3],
                                   "alt": kept[4], "AF": kept[5].astype(float), "initial_counts": len(pos),
                                   "GENE_ID": gene.gene_id, "seq_idx": np.arange(len(kept))}))
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(datasets, ignore_index=True).to_parquet(out / "dataset.parquet", index=False)
    pd.concat(metas, ignore_index=True).to_csv(out / "meta.csv.gz", index=False)


def same_output(ours: Path, reference: Path) -> bool:
    """Do the two pipelines give the same genotype strings and SNP lists?"""
    from lmeqtl.data.io import read_dataset, read_meta

    a, b = read_dataset(ours / "dataset.parquet"), read_dataset(reference / "dataset.parquet")
    ma, mb = read_meta(ours / "meta.csv.gz"), read_meta(reference / "meta.csv.gz")
    columns = ["chrom", "pos", "id", "ref", "alt", "initial_counts", "GENE_ID", "seq_idx"]
    return (a.equals(b) and ma[columns].astype(str).equals(mb[columns].astype(str))
            and np.allclose(ma["AF"], mb["AF"], atol=1e-5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 genes x 500 SNPs x 250 samples (a smoke test)")
    parser.add_argument("--genes", type=int, default=10)
    parser.add_argument("--snps", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=2504)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each pipeline (alternating; median)")
    parser.add_argument("--reference-case", nargs=4, metavar=("INPUTS", "GENES", "OUT", "SNPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_case:
        inputs, genes, out, snps = args.reference_case
        reference_prepare(Path(inputs), Path(genes), Path(out), int(snps))
        return 0
    if args.quick:
        args.genes, args.snps, args.samples, args.repeats = 3, 500, 250, 1

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench_dataprep_") as scratch:
        inputs = cached_inputs(args.genes, args.snps, args.samples, Path(scratch))
        vcf_mb = (inputs / "vcf" / "chr6.vcf.gz").stat().st_size / 2**20
        ours_cmd = prepare_command(inputs, Path(scratch) / "ours", args.snps, args.genes)
        genes_file = ours_cmd[ours_cmd.index("--genes") + 1]
        reference_cmd = [sys.executable, "-m", "benchmarks.bench_dataprep", "--reference-case", str(inputs),
                         genes_file, str(Path(scratch) / "reference"), str(args.snps)]
        have_bcftools = shutil.which("bcftools") is not None
        runs: dict[str, list[dict]] = {"ours": [], "reference": []}
        for _ in range(args.repeats):
            runs["ours"].append(measure(ours_cmd))
            if have_bcftools:
                runs["reference"].append(measure(reference_cmd))
        identical = have_bcftools and same_output(Path(scratch) / "ours", Path(scratch) / "reference")
    load_after = load_average()

    def summary(name: str, label: str) -> dict:
        seconds = statistics.median(r["seconds"] for r in runs[name])
        return {"pipeline": label, "seconds": round(seconds, 2), "peak_rss_mb": round(max(r["peak_mb"] for r in runs[name])),
                "genotypes_per_s": f"{args.genes * args.snps * args.samples / seconds:.3g}"}

    rows = [summary("ours", "lmeqtl prepare")]
    if have_bcftools:
        rows.append(summary("reference", "bcftools view + query, pandas"))
        ratio = rows[1]["seconds"] / rows[0]["seconds"]
        memory = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    print(f"### dataprep: VCF -> dataset.parquet + meta.csv.gz ({args.genes} genes x {args.snps} SNPs x "
          f"{args.samples} samples; VCF of {vcf_mb:.0f} MB bgzipped)\n")
    print(markdown(rows, {"pipeline": "pipeline", "seconds": "wall s (median)", "peak_rss_mb": "peak RSS MB",
                          "genotypes_per_s": "genotypes/s"}))
    if have_bcftools:
        print(f"\nreference / lmeqtl prepare: {ratio:.1f}x the wall time, {memory:.1f}x the peak memory; "
              f"identical output: {'yes' if identical else 'NO'}")
    else:
        print("\nreference row skipped: bcftools is not on the PATH (Debian: apt-get install bcftools)")
    print(f"\n{args.repeats} run(s) of each, alternating, each in a fresh process; peak RSS = largest process "
          f"(the reference's bcftools processes are small; its Python process holds the table); "
          f"load average before {load_before:.2f}, after {load_after:.2f}")
    return 0 if (identical or not have_bcftools) else 1


if __name__ == "__main__":
    sys.exit(main())
