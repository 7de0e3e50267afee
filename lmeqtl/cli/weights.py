"""``lmeqtl weights``: make the pretrained weights that lmeqtl ships for a preset (``make weights``).

Simulates the preset's cohort, trains the preset's model with the preset's training settings
(a fixed number of epochs; resumable: run the same command again after an interruption, in
as many sittings as it takes) and, once every epoch is done, publishes the checkpoint, its
history and its provenance to ``lmeqtl/weights/<preset>/`` (:mod:`lmeqtl.mlm.weights`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from lmeqtl.cli.options import add_preset_argument, add_threads_argument

SITTINGS_FILE = "sittings.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[1].replace("\n", " ")
    add_preset_argument(parser, "whose weights to make")
    parser.add_argument("--work-dir", type=Path,
                        help="cohort, training state and history; a rerun resumes here (default: runs/weights-PRESET)")
    parser.add_argument("--out", type=Path, help="where to publish (default: lmeqtl/weights/PRESET in the package)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    add_threads_argument(parser)
    parser.add_argument("--no-publish", dest="publish", action="store_false",
                        help="train only; leave lmeqtl/weights as it is")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import torch

    from lmeqtl import __version__
    from lmeqtl.book.run import NotebookRun, make_run_data
    from lmeqtl.book.steps import DATA
    from lmeqtl.config import get_preset
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.io import as_json, atomic_path
    from lmeqtl.mlm import weights
    from lmeqtl.mlm.checkpoint import git_commit, read_checkpoint_info
    from lmeqtl.mlm.distributed import resolve_device
    from lmeqtl.mlm.train import train_mlm

    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.preset)
    work_dir = (args.work_dir or Path("runs") / f"weights-{preset.name}").resolve()
    target = args.out or weights.weights_dir(preset.name)
    device = str(resolve_device(args.device))
    data_run = NotebookRun(step=DATA, preset=preset, run_dir=work_dir, data_dir=None, checkpoint=None, device=device)
    paths = make_run_data(data_run, progress=not args.quiet)
    cohort = load_cohort(paths.dataset, paths.meta)

    started, started_at = time.monotonic(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result = train_mlm(cohort, preset.model, preset.train, work_dir / "training", device, progress=not args.quiet)
    history = result.history
    sitting = {"started": started_at, "wall_seconds": round(time.monotonic() - started, 1),
               "epochs_done": int(history["epoch"].max()) if len(history) else 0, "device": device,
               "hardware": weights.hardware(), "git_commit": git_commit()}
    log = work_dir / SITTINGS_FILE
    earlier = log.read_text() if log.is_file() else ""
    with atomic_path(log) as tmp:
        tmp.write_text(earlier + json.dumps(sitting) + "\n")
    done = len(history) and int(history["epoch"].max()) == preset.train.epochs
    if not done:
        print(f"training stopped at epoch {sitting['epochs_done']} of {preset.train.epochs}; "
              f"run the same command again to resume ({work_dir})")
        return 1
    if not args.publish:
        print(f"trained: {result.checkpoint} (not published)")
        return 0
    sittings = [json.loads(line) for line in (work_dir / SITTINGS_FILE).read_text().splitlines() if line.strip()]
    last = {k: v for k, v in history.iloc[-1].items() if str(k).startswith("val_")}
    settings = as_json(preset.to_dict())
    provenance = {
        "preset": preset.name, "make": "make weights",
        "command": f"lmeqtl weights --preset {preset.name}" + (f" --threads {args.threads}" if args.threads else ""),
        "lmeqtl_version": __version__, "git_commit": git_commit(),
        "data_fingerprint": read_checkpoint_info(result.checkpoint)["data_fingerprint"],  # train_mlm's
        **{section: settings[section] for section in ("simulation", "model", "train")},
        "epochs": int(history["epoch"].max()), "train_step_seconds": round(float(history["seconds"].sum()), 1),
        "wall_seconds": round(sum(s["wall_seconds"] for s in sittings), 1), "sittings": sittings,
        "final_validation": last,
        "check": weights.check_scores(result.model, cohort, preset.train, device),
        "published": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    published = weights.publish(work_dir / "training", target, provenance)
    print(f"published {published} (epoch {provenance['epochs']}, "
          f"{provenance['wall_seconds'] / 3600:.2f} h of training in {len(sittings)} sitting(s))")
    return 0
