"""Token alphabet and the masking of haplotypes for masked-language-model training.

Tokens (the model's input alphabet, stored in every checkpoint):

=====  =====  ==============================================================
token  value  meaning
=====  =====  ==============================================================
REF    0      reference allele
ALT    1      alternative allele
MASK   2      a dedicated mask token (never confused with padding: the model
              needs no padding, batches hold equal-length sequences)
=====  =====  ==============================================================

Targets are alleles (0/1); the model predicts 2 logits per position.

Masking (BERT-style, as the original lm-eqtl): in each haplotype, ``rate`` of the
positions outside an untouched edge frame (``edge_frame`` positions at each end) are
selected — exactly ``round(rate * n_maskable)`` per haplotype; of those, 80 % become
:data:`MASK`, 10 % a random allele and 10 % keep their allele (in expectation). The loss and
metrics use the selected positions only.

Strategies for choosing the selected positions:

``uniform``
    a uniformly random subset of the maskable positions.
``maf_stratified``
    the maskable positions are grouped into minor-allele-frequency bins
    (:data:`MAF_BIN_EDGES`) and each bin gives exactly its share of the masked positions
    (largest-remainder rounding): every MAF bin is represented in every haplotype's
    masked set in proportion to its size, not just on average.
``maf_balanced``
    each MAF bin gives the same number of masked positions (capped by the bin's size,
    the rest spread over the other bins): rare variants are masked more often than their
    share, so the loss sees them more.

Every function takes a :class:`numpy.random.Generator`; the same generator state gives
the same masks.
"""

from __future__ import annotations

import numpy as np

REF, ALT, MASK = 0, 1, 2
TOKENS = ("ref", "alt", "mask")
N_TOKENS = len(TOKENS)
N_ALLELES = 2
MASK_STRATEGIES = ("uniform", "maf_stratified", "maf_balanced")
MAF_BIN_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)  # also the metrics' bins and RQ5's matched strata


def maf_bins(af: np.ndarray, edges: tuple[float, ...] = MAF_BIN_EDGES) -> np.ndarray:
    """MAF bin index ``(L,)`` of each SNP from its alternative allele frequency.

    Bin ``i`` holds ``edges[i] < MAF <= edges[i + 1]`` (MAF exactly 0 goes to bin 0).
    """
    af = np.asarray(af, dtype=np.float64)
    maf = np.round(np.minimum(af, 1.0 - af), 10)  # 1 - 0.95 must land in the 0.05 bin
    inner = np.asarray(edges[1:-1])
    return np.searchsorted(inner, maf, side="left").astype(np.int64)


def _quotas(sizes: np.ndarray, n_masked: int, strategy: str) -> np.ndarray:
    """Masked positions per MAF bin, ``(n, n_bins)`` int, each row summing to ``n_masked``.

    ``sizes`` ``(n, n_bins)``: maskable positions per bin in each row.
    """
    sizes = sizes.astype(np.float64)
    total = sizes.sum(axis=1, keepdims=True)  # (n, 1)
    if strategy == "maf_stratified":
        share = sizes * (n_masked / np.maximum(total, 1))
    else:  # maf_balanced: the level t with sum_b min(size_b, t) = n_masked (water filling)
        ordered = np.sort(sizes, axis=1)  # (n, k)
        k = ordered.shape[1]
        below = np.cumsum(ordered, axis=1) - ordered  # sum of smaller bins
        filled = below + ordered * (k - np.arange(k))  # sum_b min(size_b, ordered_j)
        j = np.minimum((filled < n_masked).sum(axis=1), k - 1)  # first j that reaches n_masked
        rows = np.arange(len(sizes))
        level = (n_masked - below[rows, j]) / (k - j)  # (n,)
        share = np.minimum(sizes, level[:, None])
    quota = np.floor(share + 1e-9).astype(np.int64)
    remainder = n_masked - quota.sum(axis=1)  # (n,)
    # largest remainders first; ties to the lower bin; never above a bin's size
    fraction = np.where(quota < sizes, share - quota, -1.0)
    rank = np.argsort(np.argsort(-fraction, axis=1, kind="stable"), axis=1, kind="stable")
    quota += rank < remainder[:, None]
    return np.minimum(quota, sizes.astype(np.int64))


def select_positions(
    n_haplotypes: int,
    length: int,
    rng: np.random.Generator,
    rate: float = 0.2,
    edge_frame: int = 30,
    strategy: str = "uniform",
    bins: np.ndarray | None = None,
) -> np.ndarray:
    """Choose the masked positions: bool ``(n_haplotypes, length)``, same count per row.

    ``bins``: MAF bin per position (see :func:`maf_bins`), ``(length,)`` or one row per
    haplotype ``(n_haplotypes, length)`` (random crops); required by the MAF strategies.
    Sequences too short to leave an interior get no edge frame.
    """
    if strategy not in MASK_STRATEGIES:
        raise ValueError(f"unknown mask strategy {strategy!r}; choose one of {MASK_STRATEGIES}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mask rate must be in [0, 1], got {rate}")
    selected = np.zeros((n_haplotypes, length), dtype=bool)
    frame = edge_frame if 2 * edge_frame < length else 0
    interior = slice(frame, length - frame)
    n_inner = length - 2 * frame
    n_masked = int(np.rint(rate * n_inner))
    keys = rng.random((n_haplotypes, n_inner))  # (n, L_inner)
    if n_masked == 0 or n_haplotypes == 0:
        return selected
    inner = np.zeros((n_haplotypes, n_inner), dtype=bool)
    if strategy == "uniform":
        chosen = np.argpartition(keys, n_masked - 1, axis=1)[:, :n_masked]  # (n, m)
        np.put_along_axis(inner, chosen, True, axis=1)
        selected[:, interior] = inner
        return selected
    if bins is None or np.shape(bins)[-1] != length:
        raise ValueError(f"strategy {strategy!r} needs one MAF bin per position ({length})")
    inner_bins = np.broadcast_to(np.asarray(bins, dtype=np.int64), (n_haplotypes, length))[:, interior]
    n_bins = int(inner_bins.max()) + 1
    rows = np.arange(n_haplotypes)[:, None]
    sizes = np.zeros((n_haplotypes, n_bins), dtype=np.int64)
    np.add.at(sizes, (rows, inner_bins), 1)  # (n, n_bins)
    quota = _quotas(sizes, n_masked, strategy)  # (n, n_bins)
    # rank of each position inside its bin by random key: sort by (bin, key); keys < 1
    order = np.argsort(inner_bins + keys, axis=1, kind="stable")  # (n, L_inner)
    sorted_bins = np.take_along_axis(inner_bins, order, axis=1)
    bin_start = np.cumsum(sizes, axis=1) - sizes  # (n, n_bins)
    rank_in_bin = np.arange(n_inner) - np.take_along_axis(bin_start, sorted_bins, axis=1)
    take = rank_in_bin < np.take_along_axis(quota, sorted_bins, axis=1)  # (n, L_inner)
    np.put_along_axis(inner, order, take, axis=1)
    selected[:, interior] = inner
    return selected


def corrupt(
    alleles: np.ndarray,
    selected: np.ndarray,
    rng: np.random.Generator,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> np.ndarray:
    """Input tokens ``(n, L)`` int64: selected positions become MASK / random / kept.

    ``split`` = shares of (mask token, random allele, unchanged); alleles outside
    ``selected`` are copied. Missing alleles (anything > 1) become :data:`MASK`.
    """
    alleles = np.asarray(alleles)
    tokens = alleles.astype(np.int64)
    tokens[tokens > ALT] = MASK
    role = rng.random(alleles.shape)  # (n, L)
    random_allele = rng.integers(0, N_ALLELES, size=alleles.shape)
    to_mask = selected & (role < split[0])
    to_random = selected & (role >= split[0]) & (role < split[0] + split[1])
    tokens[to_random] = random_allele[to_random]
    tokens[to_mask] = MASK
    return tokens


def mask_haplotypes(
    alleles: np.ndarray,
    rng: np.random.Generator,
    rate: float = 0.2,
    edge_frame: int = 30,
    strategy: str = "uniform",
    bins: np.ndarray | None = None,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> tuple[np.ndarray, np.ndarray]:
    """Mask a batch of haplotypes ``(n, L)`` (0/1 alleles).

    Returns ``(tokens (n, L) int64, selected (n, L) bool)``: the model's input and the
    positions whose alleles it must predict. Missing alleles are never selected.
    """
    alleles = np.asarray(alleles)
    n, length = alleles.shape
    selected = select_positions(n, length, rng, rate, edge_frame, strategy, bins)
    selected &= alleles <= ALT
    return corrupt(alleles, selected, rng, split), selected
