"""Embeddings per second by mode, agreement between modes, and RQ1's MLM vs Beagle 5.

1. Speed, in one process and one run (so the ratios share the machine's load): genotypes
   (= 2 haplotypes) per second of ``lmeqtl.mlm.embed.embed_haplotypes`` in ``single``,
   ``masked`` and ``rolling`` mode at the default model size (d_model 256, 16 layers,
   L = 5000), against the original's cost profile (``benchmarks.original_dss``: kernels
   regenerated every call). The original embeds a genotype with 2 passes (plain) or
   2 x 50 passes (rolling, ``mask_stride = 50``); its per-genotype times are one timed
   original pass times 2 and times 100. Rolling is timed on ``--rolling-haplotypes``
   haplotypes with all their copies.
2. Agreement: per-haplotype cosine similarity between the embeddings of two modes, and the
   Pearson r of each embedding dimension across haplotypes (mean over dimensions), for
   ``--checkpoint`` on real haplotypes of ``--dataset`` (else an untrained model on random
   haplotypes, which says little).
3. RQ1: ``lmeqtl.genotypes.comparison.run_rq1`` on ``--checkpoint``/``--dataset`` (default: the top10 book
   run's) with ``--rq1-samples`` test people: wall time and accuracy / IQS / dosage r² of
   the MLM, Beagle 5 and the most frequent genotype. Without that run (e.g. a clean clone),
   a tiny one is built first: the ``smoke`` preset's simulated cohort, prepared, and its
   small MLM trained for 20 epochs at most 1.5 min (time reported) -- figures of a toy model, said so.

    python -m benchmarks.bench_embed                  # default size + RQ1 on runs/top10 if present
    python -m benchmarks.bench_embed --quick          # tiny sizes (a smoke test)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn) -> tuple[float, object]:  # noqa: ANN001 - a callable
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def speed(args: argparse.Namespace) -> list[dict]:
    from benchmarks.original_dss import use_original_path
    from lmeqtl.config import EmbedConfig, ModelConfig
    from lmeqtl.mlm.embed import embed_haplotypes
    from lmeqtl.mlm.model import HaplotypeMLM

    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=args.d_model, n_layers=args.n_layers, dropout=0.0), 10).eval()
    alleles = np.random.default_rng(0).integers(0, 2, size=(2 * args.genotypes, args.length), dtype=np.uint8)
    keys = [(0, i) for i in range(len(alleles))]
    rows = []
    use_original_path(model)
    with torch.no_grad():
        model.hidden_states(torch.zeros(1, 64, dtype=torch.long), torch.zeros(1, dtype=torch.long))  # warm libraries
        seconds, _ = _timed(lambda: model.hidden_states(torch.as_tensor(alleles[:1], dtype=torch.long),
                                                        torch.zeros(1, dtype=torch.long)))
    rows.append({"case": "original: plain (2 passes)", "s_per_genotype": 2 * seconds, "note": "1 pass timed x 2"})
    rows.append({"case": f"original: rolling (2 x {args.copies} passes)", "s_per_genotype": 2 * args.copies * seconds,
                 "note": f"1 pass timed x {2 * args.copies}"})
    use_original_path(model, original=False)
    seconds, _ = _timed(lambda: embed_haplotypes(model, alleles[:1], 0))  # builds the kernel cache (once per length)
    rows.append({"case": "ours: first call (builds the kernel cache)", "s_per_genotype": 2 * seconds,
                 "note": "1 haplotype timed x 2; once per model and length"})
    for mode in ("single", "masked"):
        config = EmbedConfig(mode=mode, batch_size=args.batch_size)
        seconds, _ = _timed(lambda c=config: embed_haplotypes(model, alleles, 0, c, keys=keys))
        rows.append({"case": f"ours: {mode} (batch {args.batch_size})", "s_per_genotype": seconds / args.genotypes,
                     "note": f"{args.genotypes} genotypes"})
    config = EmbedConfig(mode="rolling", rolling_copies=args.copies, batch_size=args.batch_size)
    part = alleles[: args.rolling_haplotypes]
    seconds, _ = _timed(lambda: embed_haplotypes(model, part, 0, config))
    rows.append({"case": f"ours: rolling, {args.copies} copies (batch {args.batch_size})",
                 "s_per_genotype": 2 * seconds / len(part), "note": f"{len(part)} haplotype(s) timed"})
    return rows


def agreement(args: argparse.Namespace) -> tuple[str, list[dict]]:
    from lmeqtl.config import EmbedConfig, ModelConfig
    from lmeqtl.mlm.embed import embed_haplotypes, mode_agreement
    from lmeqtl.mlm.model import HaplotypeMLM

    if args.checkpoint and Path(args.checkpoint).exists() and Path(args.dataset).exists():
        from lmeqtl.data.cohort import load_cohort
        from lmeqtl.mlm.embed import genes_in_model_order, load_model

        model, info = load_model(args.checkpoint, args.dataset)
        cohort = load_cohort(args.dataset, Path(args.dataset).parent / "meta.csv.gz", genes=genes_in_model_order(info))
        gene = cohort.genes[0]
        test = cohort.haplotypes[gene][cohort.split_mask("test")][: args.agreement_people]
        alleles, gene_index = test.reshape(-1, test.shape[2]), info["genes"][gene]
        source = f"checkpoint {args.checkpoint}, gene {gene}, {len(alleles)} test haplotypes"
    else:
        torch.manual_seed(0)
        model = HaplotypeMLM(ModelConfig(d_model=32, n_layers=2, dropout=0.0), 1).eval()
        alleles, gene_index = np.random.default_rng(1).integers(0, 2, size=(40, 500), dtype=np.uint8), 0
        source = "an UNTRAINED small model on random haplotypes (no checkpoint given)"
    keys = [(1, i) for i in range(len(alleles))]
    found = {mode: embed_haplotypes(model, alleles, gene_index, EmbedConfig(mode=mode, rolling_copies=args.copies,
                                                                            batch_size=args.batch_size), keys=keys)
             for mode in ("single", "masked", "rolling")}
    rows = mode_agreement(found).to_dict("records")
    return source, rows


def tiny_smoke_run(quick: bool) -> tuple[Path, Path, str]:
    """Simulate, prepare and train the ``smoke`` preset under ``$LMEQTL_BENCH_CACHE``: (checkpoint, dataset, note)."""
    import dataclasses
    import tempfile

    from lmeqtl.book.run import prepare_settings
    from lmeqtl.config import get_preset
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.paths import DataPaths
    from lmeqtl.data.prepare import prepare
    from lmeqtl.mlm.train import train_mlm
    from lmeqtl.simulate.cohort import simulate_cohort

    preset = get_preset("smoke")
    root = Path(os.environ.get("LMEQTL_BENCH_CACHE") or tempfile.mkdtemp(prefix="lmeqtl_bench_")) / "rq1_smoke"
    paths = DataPaths.from_dir(root / "cohort")
    # the preset's 3 epochs leave the MLM at the most-frequent-genotype level; 20 (capped at 1.5 min) learn some LD
    train = dataclasses.replace(preset.train, epochs=1 if quick else 20, max_minutes=1.5)
    start = time.perf_counter()
    simulate_cohort(preset.simulation, root / "cohort", preset="smoke", force=True, progress=False)
    prepare(paths, **prepare_settings(preset.simulation), force=True, progress=False)
    data_s = time.perf_counter() - start
    cohort = load_cohort(paths.dataset, paths.meta)
    start = time.perf_counter()
    result = train_mlm(cohort, preset.model, train, root / "train", "cpu", progress=False)
    note = (f"no top10 book run here: a TINY stand-in built now (smoke preset: {len(cohort.genes)} genes, "
            f"{len(cohort.sample_ids)} people; simulate + prepare {data_s:.0f} s; MLM d_model "
            f"{preset.model.d_model}, {preset.model.n_layers} layers, {len(result.history)} epoch(s) in "
            f"{time.perf_counter() - start:.0f} s) -- a toy model's figures, not the study's")
    return result.checkpoint, paths.dataset, note


def rq1(args: argparse.Namespace) -> str:
    note = ""
    if not (args.checkpoint and Path(args.checkpoint).exists() and Path(args.dataset).exists()):
        args.checkpoint, args.dataset, note = tiny_smoke_run(args.quick)
    from lmeqtl.config import GenotypeEvalConfig
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.genotypes.comparison import run_rq1
    from lmeqtl.mlm.embed import genes_in_model_order, load_model

    model, info = load_model(args.checkpoint, args.dataset)
    cohort = load_cohort(args.dataset, Path(args.dataset).parent / "meta.csv.gz", genes=genes_in_model_order(info))
    config = GenotypeEvalConfig(max_samples=args.rq1_samples)
    result = run_rq1(model, cohort, config, gene_map=info["genes"], device="cpu", progress=False)
    table = result.table.xs("all", level="maf_bin")
    lines = [f"### RQ1 on {args.dataset}: {result.info['n_people']} test people, "
             f"{result.info['n_genotypes']:,} masked genotypes ({config.mask_design} design), CPU\n",
             "| method | seconds | genotype accuracy | mean per-SNP IQS | mean dosage r² |", "|---|---|---|---|---|"]
    for method, row in table.iterrows():
        lines.append(f"| {method} | {result.seconds[method]:.1f} | {row['genotype_accuracy']:.4f} | {row['iqs']:.4f} "
                     f"| {row['dosage_r2']:.4f} |")
    notes = [*([note] if note else []), *result.notes]
    return "\n".join(lines + [*(f"\nnote: {n}" for n in notes), ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test of the benchmark)")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--n-layers", type=int, default=16)
    parser.add_argument("--length", type=int, default=5000)
    parser.add_argument("--genotypes", type=int, default=4, help="genotypes timed in single / masked mode")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--copies", type=int, default=50, help="rolling copies (the original: 50)")
    parser.add_argument("--rolling-haplotypes", type=int, default=1)
    parser.add_argument("--checkpoint", default=str(ROOT / "runs/top10/01_train_mlm/checkpoint"))
    parser.add_argument("--dataset", default=str(ROOT / "runs/top10/00_data/cohort/dataset.parquet"))
    parser.add_argument("--agreement-people", type=int, default=10)
    parser.add_argument("--rq1-samples", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.quick:
        args.d_model, args.n_layers, args.length, args.genotypes, args.copies = 32, 2, 500, 2, 5
        args.agreement_people, args.rq1_samples = 10, 20
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = speed(args)
    load_after = os.getloadavg()
    fast = next(r for r in rows if r["case"].startswith("ours: single"))["s_per_genotype"]
    print(f"### Embeddings on CPU: d_model {args.d_model}, {args.n_layers} layers, L = {args.length}, "
          f"{torch.get_num_threads()} torch threads\n")
    print("| case | s per genotype | genotypes/s | original rolling / this | note |\n|---|---|---|---|---|")
    original_rolling = rows[1]["s_per_genotype"]
    for row in rows:
        print(f"| {row['case']} | {row['s_per_genotype']:.2f} | {1 / row['s_per_genotype']:.3f} "
              f"| {original_rolling / row['s_per_genotype']:.0f}x | {row['note']} |")
    print(f"\nsingle mode vs the original's plain embedding: {rows[0]['s_per_genotype'] / fast:.0f}x; vs its "
          f"rolling embedding: {original_rolling / fast:.0f}x; vs the reported ~180 s per genotype: {180 / fast:.0f}x. "
          f"Load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"({os.cpu_count()} cores; other processes share them).\n")
    source, pairs = agreement(args)
    print(f"### Agreement between modes ({source})\n")
    print("| modes | mean cosine | min cosine | mean Pearson r per dimension |\n|---|---|---|---|")
    for row in pairs:
        print(f"| {row['modes']} | {row['cosine_mean']:.4f} | {row['cosine_min']:.4f} | {row['pearson_per_dim_mean']:.4f} |")
    print()
    print(rq1(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
