"""Checkpoints of the haplotype MLM: a tensors-only state dict + a JSON describing it.

A checkpoint is a directory::

    model.pt          torch.save(model.state_dict()): tensors only, read with weights_only=True
    checkpoint.json   model hyper-parameters, token alphabet, gene -> index map, SNPs per
                      gene, data fingerprint, git commit, epoch, metrics, sha256 of model.pt

Both files are written atomically (``lmeqtl.data.io.atomic_path``), the JSON last, so a
directory with a JSON always has the weights it describes; :func:`load_checkpoint` checks
the sha256 (truncated or swapped weights), refuses pickled objects, and names any
parameter whose shape does not fit the JSON's configuration.

The original lm-eqtl layout (``torch.save(DSSResNetEmb.state_dict())``, e.g.
``epoch_100_weights_model.pt``) is read by :func:`load_original_weights`:

- supported: encoder, species (= gene) embedding, ResNet blocks with BatchNorm statistics,
  every DSS layer (``softmax`` kernel, ``log_dt`` (H, 2), ``Lambda`` (N, 2), ``W``
  (2, H, N, 2), ``D``, ``output_linear``), LayerNorms, decoder. Sizes are read from the
  tensors. The original's input channels are (R, A, N) with a masked position = all
  zeros; ours are (ref, alt, mask), so the mask channel gets zero weights — the same
  function. Its decoder's third output (N) is dropped: ref/alt logits are unchanged.
- the gene -> index map was not stored by the original: it is the order in which genes
  first appear in the ``dataset.parquet`` it was trained on (:func:`original_gene_order`).
- not supported: the optimizer file, agnostic (no-gene) models, other architectures.
  Checked on synthetic tensors in the original layout; the original weights themselves
  could not be downloaded here.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import pickle
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

from lmeqtl import __version__
from lmeqtl.config import ModelConfig
from lmeqtl.data.io import atomic_path, read_dataset, read_json, sha256_file, write_json
from lmeqtl.errors import InputError
from lmeqtl.mlm.batches import window_digests
from lmeqtl.mlm.masking import TOKENS
from lmeqtl.mlm.model import HaplotypeMLM

FORMAT = "lmeqtl-haplotype-mlm"
FORMAT_VERSION = 1
WEIGHTS_FILE, INFO_FILE = "model.pt", "checkpoint.json"


def git_commit() -> str | None:
    """The commit of the lmeqtl source tree, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def save_torch_file(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` atomically, with the same bytes for the same tensors.

    Saved to a path, the zip archive names its records after the file, and ``atomic_path``'s
    temporary name differs every time; saved through a file object the name is fixed.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def save_checkpoint(
    path_dir: str | os.PathLike[str],
    model: HaplotypeMLM,
    *,
    genes: list[str],
    data_fingerprint: str | None,
    epoch: int | None = None,
    metrics: dict[str, Any] | None = None,
    train_config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.pt`` + ``checkpoint.json`` into ``path_dir`` (atomically); return the directory."""
    model = getattr(model, "module", model)  # unwrap DDP
    if len(genes) != model.n_genes:
        raise ValueError(f"{len(genes)} genes given for a model with {model.n_genes} gene embeddings")
    path_dir = Path(path_dir)
    path_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    save_torch_file(state, path_dir / WEIGHTS_FILE)
    digest = sha256_file(path_dir / WEIGHTS_FILE)
    info = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "model_config": dataclasses.asdict(model.config), "n_genes": model.n_genes,
        "gene_lengths": model.gene_lengths,
        "tokens": list(TOKENS), "alleles": ["ref", "alt"],
        "genes": {gene: i for i, gene in enumerate(genes)},
        "data_fingerprint": data_fingerprint, "git_commit": git_commit(),
        "lmeqtl_version": __version__, "epoch": epoch, "metrics": metrics or {},
        "train_config": train_config, "weights_file": WEIGHTS_FILE, "weights_sha256": digest,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), **(extra or {}),
    }
    write_json(path_dir / INFO_FILE, info)
    return path_dir


def read_format_info(path_dir: str | os.PathLike[str], info_file: str, weights_file: str, fmt: str,
                     version: int, what: str, module: str) -> tuple[Path, dict[str, Any]]:
    """A checkpoint directory's JSON (``info_file``), checked for its ``format`` and ``format_version``.

    ``what`` names the kind of directory in the error ("an lmeqtl checkpoint"), ``module`` the
    module that documents the layout. Shared by the MLM and the fine-tuned checkpoints.
    """
    info_path = Path(path_dir) / info_file
    if not info_path.is_file():
        raise InputError(f"not {what} directory", path=path_dir,
                         expected=f"{info_file} and {weights_file} (see {module})")
    info = read_json(info_path)
    if info.get("format") != fmt or info.get("format_version") != version:
        raise InputError(f"format {info.get('format')!r} version {info.get('format_version')!r}",
                         path=info_path, expected=f"{fmt!r} version {version}")
    return info_path, info


def read_checkpoint_info(path_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's JSON, checked for format and alphabet."""
    info_path, info = read_format_info(path_dir, INFO_FILE, WEIGHTS_FILE, FORMAT, FORMAT_VERSION,
                                       "an lmeqtl checkpoint", "lmeqtl.mlm.checkpoint")
    if info.get("tokens") != list(TOKENS):
        raise InputError(f"token alphabet {info.get('tokens')}", path=info_path, where="tokens",
                         expected=f"{list(TOKENS)}")
    return info


def checkpoint_genes(info: dict[str, Any]) -> list[str]:
    """The genes of a checkpoint in embedding-index order (the JSON object itself is key-sorted)."""
    gene_map = info["genes"]
    return sorted(gene_map, key=gene_map.__getitem__)


def check_fits_data(info: dict[str, Any], meta, source: str | os.PathLike[str],  # noqa: ANN001 - meta table
                    meta_source: str | os.PathLike[str], allow: bool = False) -> list[str]:
    """What differs between the data a checkpoint was trained on and ``meta`` (a ``meta.csv.gz`` table).

    Compares the model's genes (all must be in ``meta``) and, where the checkpoint records
    them, each gene's SNP count and the digest of its SNP positions and alleles. Raises :class:`InputError` naming both files unless
    ``allow`` (then returns the differences, for a warning).
    """
    genes = checkpoint_genes(info) if info.get("genes") else []
    counts = meta.groupby("GENE_ID", sort=False).size()
    problems = []
    absent = [g for g in genes if g not in counts.index]
    if absent:
        problems.append(f"the dataset lacks {len(absent)} of the checkpoint's {len(genes)} genes: {absent[:3]}")
    lengths = info.get("gene_lengths")
    if lengths and len(lengths) == len(genes):
        other = [f"{g}: {n} SNPs in the checkpoint, {int(counts[g])} in the dataset"
                 for g, n in zip(genes, lengths, strict=True) if g in counts.index and int(counts[g]) != int(n)]
        if other:
            problems.append(f"{len(other)} genes have other SNP windows ({'; '.join(other[:2])})")
    recorded = info.get("window_digests") or {}
    if recorded and not problems:  # same genes and counts: are they the same SNPs?
        now = window_digests(meta[meta["GENE_ID"].isin(list(recorded))])
        moved = [g for g, digest in recorded.items() if g in now and now[g] != digest]
        if moved:
            problems.append(f"{len(moved)} genes have other SNP positions or alleles in their windows ({moved[:3]})")
    if problems and not allow:
        raise InputError("the checkpoint was trained on other data: " + "; ".join(problems), path=source,
                         where=f"vs {meta_source}", expected="the dataset it was trained on (prepared with the "
                         "same genes and windows), or --allow-other-data")
    return problems


def load_model(checkpoint: str | os.PathLike[str], dataset: str | os.PathLike[str]) -> tuple[HaplotypeMLM, dict]:
    """A checkpoint directory or an original ``*_weights_model.pt`` (its gene order read from
    ``dataset``); ``info["genes"]`` is the gene -> embedding index map."""
    if Path(checkpoint).is_file():
        return load_original_weights(checkpoint, original_gene_order(dataset))
    return load_checkpoint(checkpoint)


def model_config_from(info: dict[str, Any], source: str | os.PathLike[str]) -> ModelConfig:
    """The :class:`ModelConfig` stored in a checkpoint JSON; unknown fields are an error."""
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    raw = info.get("model_config") or {}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise InputError(f"unknown model settings {unknown}", path=source, where="model_config",
                         expected=f"fields of ModelConfig: {sorted(fields)}")
    return ModelConfig(**raw)


def load_torch_file(path: str | os.PathLike[str],
                    expected: str = "a state dict saved with torch.save(model.state_dict())") -> Any:
    """``torch.load(weights_only=True)`` on CPU with clear errors for pickles and truncated files."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's own text advises retrying with weights_only=False, i.e. running the pickle: keep only what it found
        found = re.search(r"Unsupported (?:global: GLOBAL|operand) \S+", str(err))
        detail = f" ({found.group(0).strip()})" if found else ""
        raise InputError(f"refused: the file holds pickled Python objects, not only tensors{detail}; "
                         "lmeqtl never runs a pickle", path=path, expected=expected) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise InputError(f"cannot read weights, the file is truncated or not a torch file ({err})",
                         path=path, expected=f"a complete torch.save() file: {expected}") from None


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` with clear errors for pickles and truncated files."""
    state = load_torch_file(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("the file is not a state dict of tensors", path=path,
                         expected="a mapping of parameter names to tensors")
    return state


def load_into(model: HaplotypeMLM, state: dict[str, torch.Tensor], source: str | os.PathLike[str]) -> None:
    """``model.load_state_dict(state)`` with an error naming missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = ([f"missing {missing[:5]}"] if missing else []) + \
                ([f"unexpected {unexpected[:5]}"] if unexpected else []) + \
                ([f"shape mismatch (file vs model) {shapes[:5]}"] if shapes else [])
        raise InputError("weights do not fit the model configuration: " + "; ".join(parts),
                         path=source, expected="weights saved from a model with this configuration")
    model.load_state_dict(state)


def load_checkpoint(path_dir: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[HaplotypeMLM, dict]:
    """Rebuild the model of a checkpoint directory (eval mode, on ``device``) and return ``(model, info)``."""
    info = read_checkpoint_info(path_dir)
    weights = Path(path_dir) / info.get("weights_file", WEIGHTS_FILE)
    if not weights.exists():
        raise InputError("weights file is missing", path=weights, expected=f"written with {INFO_FILE}")
    if info.get("weights_sha256") and sha256_file(weights) != info["weights_sha256"]:
        raise InputError("weights file does not match its checkpoint.json (truncated or replaced)",
                         path=weights, where="sha256", expected=info["weights_sha256"])
    config = model_config_from(info, Path(path_dir) / INFO_FILE)
    model = HaplotypeMLM(config, n_genes=int(info["n_genes"]), gene_lengths=info.get("gene_lengths"))
    load_into(model, load_state_dict_file(weights), weights)
    return model.to(device).eval(), info


# --------------------------------------------------------------------------------------
# The original lm-eqtl layout
# --------------------------------------------------------------------------------------


def original_gene_order(dataset_path: str | os.PathLike[str]) -> list[str]:
    """Genes in order of first appearance in ``dataset.parquet``: the original's gene -> index map."""
    table = read_dataset(dataset_path)
    return list(dict.fromkeys(table["gene_id"]))


def convert_original_state(state: dict[str, torch.Tensor]) -> tuple[ModelConfig, int, dict[str, torch.Tensor]]:
    """Map an original ``DSSResNetEmb`` state dict to ``(ModelConfig, n_genes, our state dict)``."""
    def take(key: str) -> torch.Tensor:
        if key not in state:
            raise KeyError(key)
        return state[key]

    encoder = take("encoder.weight")  # (H, 3, k)
    d_model, _, encoder_kernel = encoder.shape
    n_layers = len({k.split(".")[1] for k in state if k.startswith("s4_layers.")})
    n_resnet = len({k.split(".")[1] for k in state if k.startswith("resnet_layer.")})
    d_state = take("s4_layers.0.kernel.Lambda").shape[0]
    config = ModelConfig(
        d_model=d_model, n_layers=n_layers, n_resnet_blocks=n_resnet, d_state=d_state,
        encoder_kernel=encoder_kernel, resnet_kernel=take("resnet_layer.0.conv1.weight").shape[-1],
        decoder_kernel=take("decoder.weight").shape[-1], dropout=0.0, dss_kernel="softmax",
    )
    embedding = take("species_encoder.species_embedder.weight")
    ours: dict[str, torch.Tensor] = {
        "encoder.weight": torch.cat([encoder[:, :2], torch.zeros_like(encoder[:, :1])], dim=1),
        "encoder.bias": take("encoder.bias"),
        "gene_embedding.weight": embedding,
        "decoder.weight": take("decoder.weight")[:2], "decoder.bias": take("decoder.bias")[:2],
    }
    for r in range(n_resnet):
        for part in ("conv1", "bn1", "conv2", "bn2"):
            for key, value in state.items():
                prefix = f"resnet_layer.{r}.{part}."
                if key.startswith(prefix):
                    ours[f"resnet.{r}.{part}.{key[len(prefix):]}"] = value
    for i in range(n_layers):
        src, dst = f"s4_layers.{i}.", f"layers.{i}."
        ours[dst + "D"] = take(src + "D").reshape(-1)
        for name in ("log_dt", "Lambda", "W"):
            ours[dst + "kernel." + name] = take(src + "kernel." + name)
        ours[dst + "output_linear.weight"] = take(src + "output_linear.0.weight")
        ours[dst + "output_linear.bias"] = take(src + "output_linear.0.bias").reshape(-1)
        ours[f"norms.{i}.weight"] = take(f"norms.{i}.weight")
        ours[f"norms.{i}.bias"] = take(f"norms.{i}.bias")
    return config, embedding.shape[0], ours


def load_original_weights(weights_path: str | os.PathLike[str], genes: list[str] | None = None,
                          device: str | torch.device = "cpu") -> tuple[HaplotypeMLM, dict]:
    """Load an original lm-eqtl ``*_weights_model.pt`` into a :class:`HaplotypeMLM` (eval mode).

    ``genes``: the original's gene order (:func:`original_gene_order`); returned in ``info``.
    """
    state = load_state_dict_file(weights_path)
    try:
        config, n_genes, ours = convert_original_state(state)
    except KeyError as err:
        raise InputError(f"not an original lm-eqtl DSSResNetEmb state dict: no {err.args[0]!r}",
                         path=weights_path, expected="keys encoder.*, s4_layers.*, species_encoder.*") from None
    if genes is not None and len(genes) != n_genes:
        raise InputError(f"{len(genes)} genes given but the weights have {n_genes} gene embeddings",
                         path=weights_path, expected="the gene list of the dataset the model was trained on")
    model = HaplotypeMLM(config, n_genes)
    load_into(model, ours, weights_path)
    info = {"model_config": dataclasses.asdict(config), "n_genes": n_genes, "source": str(weights_path),
            "genes": None if genes is None else {g: i for i, g in enumerate(genes)}}
    return model.to(device).eval(), info
