"""Genotype strings <-> haplotype arrays: our byte lookup tables vs a per-character Python loop.

The original lm-eqtl turned each genotype string into alleles one character at a time in
Python. ``lmeqtl.data.encoding`` views all strings of a gene as one ``uint8`` matrix and maps it
through lookup tables. Both run here, side by side in one process, on the same random
strings (one gene: 2504 samples x 5000 SNPs by default); the loop runs on a subset of the
samples (``--loop-samples``) and its rate is per character, so the speed-up is a ratio of
rates. Both outputs are compared on that subset.

    python -m benchmarks.bench_encoding [--samples 2504] [--snps 5000] [--repeats 3]
    python -m benchmarks.bench_encoding --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from benchmarks.common import load_average, markdown
from lmeqtl.data.encoding import decode_haplotypes, dosage, encode_genotypes

FIRST = {"R": 0, "F": 1, "M": 0, "B": 1, "N": 255}
SECOND = {"R": 0, "F": 0, "M": 1, "B": 1, "N": 255}
LETTER = {(0, 0): "R", (1, 0): "F", (0, 1): "M", (1, 1): "B"}


def loop_encode(seqs: list[str]) -> np.ndarray:
    """The per-character way: two Python lists per string, then an array ``(n, 2, L)``."""
    out = []
    for seq in seqs:
        first, second = [], []
        for char in seq:
            first.append(FIRST[char])
            second.append(SECOND[char])
        out.append([first, second])
    return np.array(out, dtype=np.uint8)


def loop_decode(haplotypes: np.ndarray) -> list[str]:
    """The per-character way back: one dictionary look-up per (sample, SNP)."""
    return ["".join(LETTER[(int(a), int(b))] for a, b in zip(h[0], h[1], strict=True)) for h in haplotypes]


def _best_of(repeats: int, function, *args) -> tuple[float, object]:  # noqa: ANN001
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="250 samples x 500 SNPs (a smoke test)")
    parser.add_argument("--samples", type=int, default=2504)
    parser.add_argument("--snps", type=int, default=5000)
    parser.add_argument("--loop-samples", type=int, default=100, help="samples run through the Python loop")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median)")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.snps, args.loop_samples, args.repeats = 250, 500, 50, 1

    rng = np.random.default_rng(0)
    haplotypes = (rng.random((args.samples, 2, args.snps)) < 0.3).astype(np.uint8)  # (n, 2, L)
    seqs = decode_haplotypes(haplotypes)
    few = seqs[: args.loop_samples]
    chars, few_chars = args.samples * args.snps, len(few) * args.snps
    load_before = load_average()
    encode_s, encoded = _best_of(args.repeats, encode_genotypes, seqs)
    decode_s, decoded = _best_of(args.repeats, decode_haplotypes, encoded)
    dosage_s, _ = _best_of(args.repeats, dosage, encoded)
    loop_encode_s, loop_encoded = _best_of(args.repeats, loop_encode, few)
    loop_decode_s, loop_decoded = _best_of(args.repeats, loop_decode, encoded[: len(few)])
    load_after = load_average()
    agree = (np.array_equal(loop_encoded, encoded[: len(few)]) and loop_decoded == decoded[: len(few)]
             and decoded == seqs)

    rows = []
    for step, ours_s, loop_s in (("encode (strings -> haplotypes)", encode_s, loop_encode_s),
                                 ("decode (haplotypes -> strings)", decode_s, loop_decode_s)):
        ours_rate, loop_rate = chars / ours_s, few_chars / loop_s
        rows.append({"step": step, "ours_s": round(ours_s, 4), "ours_rate": f"{ours_rate:.3g}",
                     "loop_rate": f"{loop_rate:.3g}", "speedup": f"{ours_rate / loop_rate:.0f}x"})
    rows.append({"step": "dosage (haplotypes -> 0/1/2)", "ours_s": round(dosage_s, 4),
                 "ours_rate": f"{chars / dosage_s:.3g}", "loop_rate": "-", "speedup": "-"})
    print(f"### genotype encoding: {args.samples} samples x {args.snps} SNPs ({chars / 1e6:.1f} M characters)\n")
    print(markdown(rows, {"step": "step", "ours_s": "lmeqtl s (median)", "ours_rate": "lmeqtl chars/s",
                          "loop_rate": "Python loop chars/s", "speedup": "speed-up"}))
    print(f"\nPython loop timed on {len(few)} samples; outputs identical: {'yes' if agree else 'NO'}; "
          f"median of {args.repeats}; load average before {load_before:.2f}, after {load_after:.2f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
