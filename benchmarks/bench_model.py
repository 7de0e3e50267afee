"""Speed of the haplotype MLM: our fast path vs the original's cost profile, in one run.

At the default size (d_model 256, 16 layers, L = 5000 SNPs) the original regenerates every
state-space kernel on every call (H*N*L complex exponentials per layer). This benchmark
times, each case in a fresh process (so that peak memory is its own):

- ``eval``: a forward pass in eval mode (no_grad) — fast path with cached kernels vs the
  original path (:func:`benchmarks.original_dss.use_original_path`);
- ``train``: one optimiser step (forward + backward + Adam) in train mode;
- optionally the same with bf16 autocast (``--bf16``), labelled as such;
- optionally (``--frozen-kernels``) a train step with every kernel parameter frozen, so that
  the kernels cost nothing (cached spectra): the bound on the train-step ratio that the
  input-dependent work, shared by both paths, sets.

Each case first makes untimed full-size warm-up calls (one in eval, two in train; the first
builds the kernel cache and is reported). The speed-up is the ratio of medians. On a shared
machine, compare ``--threads 1`` runs too: two-thread runs of many small memory-bound ops
suffer most from other processes.

    python -m benchmarks.bench_model                 # default size, CPU
    python -m benchmarks.bench_model --quick         # tiny sizes, seconds (smoke test)
    python -m benchmarks.bench_model --device cuda   # on a GPU
    python -m benchmarks.bench_model --bf16 --frozen-kernels --out benchmarks/RESULTS-original-size.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _case(args: argparse.Namespace) -> dict:
    """Run one case in this process and return its measurements."""
    import torch

    from benchmarks.original_dss import use_original_path
    from lmeqtl.config import ModelConfig
    from lmeqtl.mlm.model import HaplotypeMLM

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=args.d_model, n_layers=args.n_layers, dropout=0.0), 10).to(device)
    if args.path == "original":
        use_original_path(model)
    if args.path == "frozen":
        for layer in model.layers:
            layer.kernel.requires_grad_(False)
            layer.D.requires_grad_(False)
    batch = args.eval_batch if args.mode == "eval" else args.train_batch
    tokens = torch.randint(0, 3, (batch, args.length), device=device)
    gene = torch.arange(batch, device=device) % 10
    targets = torch.randint(0, 2, (batch, args.length), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtype = torch.bfloat16 if args.bf16 else None

    def call(tok: torch.Tensor, g: torch.Tensor) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype is not None):
            if args.mode == "eval":
                with torch.no_grad():
                    model(tok, g)
                return
            logits = model(tok, g)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 2), targets[:, : tok.shape[1]].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.train(args.mode == "train")
    # Untimed full-size warm-up calls, on both paths: the first builds the kernel cache (fast
    # eval); on CPU the first two train steps of a fresh process are 1.5-2x slower than the
    # rest (the heap grows to its working size), and training runs thousands of steps.
    warm = time.perf_counter()
    call(tokens, gene)
    sync()
    first = time.perf_counter() - warm
    if args.mode == "train":
        call(tokens, gene)
        sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call(tokens, gene)
        sync()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    seconds = statistics.median(times)
    return {"mode": args.mode, "path": args.path, "bf16": args.bf16, "batch": batch, "seconds": seconds,
            "best_s": min(times),
            "first_call_s": first, "haplotypes_per_s": batch / seconds, "peak_mb": peak / 2**20,
            "repeats": args.repeats, "threads": torch.get_num_threads()}


def _run_case(args: argparse.Namespace, mode: str, path: str, bf16: bool = False) -> dict:
    repeats = args.original_repeats if path == "original" else args.repeats
    command = [sys.executable, "-m", "benchmarks.bench_model", "--case", mode, path, "--repeats", str(repeats),
               "--d-model", str(args.d_model), "--n-layers", str(args.n_layers), "--length", str(args.length),
               "--eval-batch", str(args.eval_batch), "--train-batch", str(args.train_batch),
               "--device", args.device, "--threads", str(args.threads)] + (["--bf16"] if bf16 else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test of the benchmark)")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--n-layers", type=int, default=16)
    parser.add_argument("--length", type=int, default=5000)
    parser.add_argument("--eval-batch", type=int, default=1)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of the fast path (median)")
    parser.add_argument("--original-repeats", type=int, default=1, help="timed calls of the original path")
    parser.add_argument("--bf16", action="store_true", help="also time the fast path under bf16 autocast")
    parser.add_argument("--frozen-kernels", action="store_true",
                        help="also time a train step with frozen (cached) kernels: the bound on the ratio")
    parser.add_argument("--modes", nargs="+", choices=["eval", "train"], default=["eval", "train"],
                        help="what to time (the original's train step takes minutes on a CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="also write the results (with date, commit, machine, command) to this file")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per case (0: torch's default)")
    parser.add_argument("--case", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        args.mode, args.path = args.case
        print(json.dumps(_case(args)))
        return 0
    if args.quick:
        args.d_model, args.n_layers, args.length = 32, 2, 500

    load_before = os.getloadavg()
    rows = []
    for mode in args.modes:
        original = _run_case(args, mode, "original")
        fast = _run_case(args, mode, "fast")
        mode_rows = [original, fast]
        if args.bf16:
            mode_rows.append(_run_case(args, mode, "fast", bf16=True))
        if args.frozen_kernels and mode == "train":
            mode_rows.append(_run_case(args, mode, "frozen"))
        for row in mode_rows:
            row["speedup"] = original["seconds"] / row["seconds"]
        rows += mode_rows
    load_after = os.getloadavg()

    lines = [f"### HaplotypeMLM forward / train step: d_model {args.d_model}, {args.n_layers} layers, "
             f"L = {args.length}, device {args.device}\n",
             "| case | path | batch | s per call (median) | best | haplotypes/s | peak memory (MB) "
             "| speed-up vs original |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        name = "eval forward" if row["mode"] == "eval" else "train step"
        path = {"frozen": "fast, kernels frozen (bound)"}.get(row["path"], row["path"])
        path += " + bf16 autocast" if row["bf16"] else ""
        lines.append(f"| {name} | {path} | {row['batch']} | {row['seconds']:.3f} | {row['best_s']:.3f} "
                     f"| {row['haplotypes_per_s']:.2f} | {row['peak_mb']:.0f} | {row['speedup']:.1f}x |")
    fast = next(r for r in rows if r["path"] == "fast")
    first = (f"fast eval: first call (builds the kernel cache) {fast['first_call_s']:.2f} s; "
             if fast["mode"] == "eval" else "")
    lines.append(f"\n{first}timed: median of {args.repeats} (fast) / {args.original_repeats} (original) calls; "
                 f"torch threads {fast['threads']}; load average before {load_before[0]:.2f}, "
                 f"after {load_after[0]:.2f}")
    bound = next((r for r in rows if r["path"] == "frozen"), None)
    if bound is not None:
        lines.append(f"\nWith every kernel parameter frozen (cached spectra: no kernel work at all) a train step "
                     f"still takes {bound['seconds']:.2f} s: the input-dependent work that both paths share bounds "
                     f"the train-step speed-up at {bound['speedup']:.1f}x however cheap the kernels get.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        from benchmarks.common import git_commit, machine
        from lmeqtl.data.io import atomic_path

        host = machine()
        command = "python -m benchmarks.bench_model " + " ".join(argv if argv is not None else sys.argv[1:])
        header = (f"# Model speed: the fast path vs the original's cost profile\n\n"
                  f"{time.strftime('%Y-%m-%d %H:%M')}, commit {git_commit()}; {host['cpu']}, {host['cores']} "
                  f"CPU cores, GPU: {host['gpu']}, torch {host['torch']}\n\n`{command.strip()}`\n\n")
        with atomic_path(args.out) as tmp:
            tmp.write_text(header + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
