"""Provenance: software versions, seeds and content fingerprints of files.

The book runner hashes these to decide whether a step is up to date, and the
reproducibility page shows them, so a reader can tell exactly what produced each number.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import lmeqtl
from lmeqtl.data.io import sha256_file

PACKAGE_DIR = Path(lmeqtl.__file__).resolve().parent
# The packages whose versions can change a number in the book.
TRACKED_PACKAGES = (
    "lmeqtl", "numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch",
    "captum", "msprime", "stdpopsim", "tskit", "matplotlib", "papermill", "jupyter-book", "myst-nb",
)


def versions() -> dict[str, str]:
    """Python, platform and the tracked packages' versions (``"-"`` when not installed)."""
    found = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found


def sha256_json(obj: Any) -> str:
    """Hex SHA-256 of ``obj`` as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _visible_files(root: Path) -> list[Path]:
    """Files under ``root``, skipping hidden names (atomic-write temporaries) and caches."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        files += [Path(dirpath, f) for f in sorted(filenames) if not f.startswith(".")]
    return files


def file_digests(path: str | os.PathLike[str] | None, cache: dict[str, list] | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``path`` (or of ``path`` itself).

    ``cache`` maps an absolute path to ``[size, mtime_ns, sha256]``; a file whose size and
    modification time match is not read again (real VCFs are gigabytes). It is updated in place.
    A missing path gives ``{}``.
    """
    if path is None:
        return {}
    root = Path(path).resolve()
    if not root.exists():
        return {}
    files = [root] if root.is_file() else _visible_files(root)
    digests = {}
    for file in files:
        stat = file.stat()
        key = str(file)
        hit = cache.get(key) if cache is not None else None
        if hit is not None and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns:
            digest = hit[2]
        else:
            digest = sha256_file(file)
            if cache is not None:
                cache[key] = [stat.st_size, stat.st_mtime_ns, digest]
        digests[file.name if file == root else file.relative_to(root).as_posix()] = digest
    return digests


def fingerprint(digests: dict[str, str]) -> str:
    """One hash for a set of files (names and contents); ``"-"`` for no files."""
    return sha256_json(digests) if digests else "-"


def package_fingerprint() -> str:
    """Fingerprint of the installed lmeqtl source (its ``.py`` files and package data)."""
    return fingerprint(file_digests(PACKAGE_DIR))


def seeds(preset_dict: dict[str, Any]) -> dict[str, int]:
    """Every ``seed`` field of a preset, as ``{"train.seed": 1, ...}``."""
    return {f"{section}.seed": value["seed"] for section, value in preset_dict.items()
            if isinstance(value, dict) and "seed" in value}


def describe_versions(found: dict[str, str] | None = None) -> str:
    """One line: ``python 3.11.7, lmeqtl 0.1.0, torch 2.13.0, ...`` (installed packages only)."""
    found = versions() if found is None else found
    return ", ".join(f"{name} {v}" for name, v in found.items() if v != "-" and name != "platform")
