"""The in-memory cohort: phased haplotypes per gene window, with samples and SNP metadata.

Everything downstream of the files (training, embeddings, RQ1, expression, explainability)
works on a :class:`Cohort`, never on the raw genotype strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmeqtl.data.encoding import dosage as _dosage
from lmeqtl.data.encoding import encode_genotypes
from lmeqtl.data.io import read_dataset, read_meta
from lmeqtl.errors import InputError


@dataclass
class Cohort:
    """Phased haplotypes of ``n`` samples at each gene's SNP window.

    Attributes:
        samples: one row per sample (index ``sample_id``), column ``split`` and any panel
            columns (``pop``, ``super_pop``, ``gender``) that were joined in.
        meta: the SNP table (``meta.csv.gz`` columns), genes in :attr:`genes` order.
        genes: gene ids in model order (this order defines the gene -> index map).
        haplotypes: gene id -> ``uint8`` array ``(n_samples, 2, L_gene)``, rows in
            :attr:`samples` order.
    """

    samples: pd.DataFrame
    meta: pd.DataFrame
    genes: list[str]
    haplotypes: dict[str, np.ndarray]

    @property
    def sample_ids(self) -> np.ndarray:
        return self.samples.index.to_numpy()

    def gene_index(self) -> dict[str, int]:
        """The gene -> embedding index map stored with every checkpoint."""
        return {gene: i for i, gene in enumerate(self.genes)}

    def gene_meta(self, gene: str) -> pd.DataFrame:
        """SNP rows of one gene, in ``seq_idx`` order."""
        return self.meta[self.meta["GENE_ID"] == gene].reset_index(drop=True)

    def dosage(self, gene: str) -> np.ndarray:
        """Alternative allele counts ``(n_samples, L_gene)`` (NaN where missing)."""
        return _dosage(self.haplotypes[gene])

    def split_mask(self, split: str) -> np.ndarray:
        return (self.samples["split"] == split).to_numpy()

    def subset(self, sample_ids: np.ndarray | list[str]) -> Cohort:
        """The same genes for a subset of samples, in the given order."""
        position = pd.Series(np.arange(len(self.samples)), index=self.samples.index)
        missing = [s for s in sample_ids if s not in position.index]
        if missing:
            raise KeyError(f"samples not in the cohort: {missing[:10]}")
        rows = position.loc[list(sample_ids)].to_numpy()
        return Cohort(
            samples=self.samples.iloc[rows],
            meta=self.meta,
            genes=list(self.genes),
            haplotypes={g: h[rows] for g, h in self.haplotypes.items()},
        )


def load_cohort(
    dataset_path: str | os.PathLike[str],
    meta_path: str | os.PathLike[str],
    genes: list[str] | None = None,
    panel: str | os.PathLike[str] | pd.DataFrame | None = None,
) -> Cohort:
    """Read ``dataset.parquet`` + ``meta.csv.gz`` into a :class:`Cohort`.

    Checks that every gene of the dataset is in the meta table, that every sample has
    every gene, and that each genotype string is as long as the gene's SNP list.
    ``genes`` fixes the gene order (e.g. a checkpoint's gene map); default: meta order.
    ``panel`` (the 1000 Genomes panel file, or its table from
    :func:`lmeqtl.data.formats.read_panel`) adds ``pop, super_pop, gender`` to ``samples``.
    """
    table = read_dataset(dataset_path)
    meta = read_meta(meta_path)
    meta_genes = list(dict.fromkeys(meta["GENE_ID"]))
    unknown = sorted(set(table["gene_id"]) - set(meta_genes))
    if unknown:
        raise InputError(f"genes {unknown[:5]} are not in the meta table {meta_path}",
                         path=dataset_path, expected="every gene of the dataset listed in meta.csv.gz")
    if genes is None:
        genes = [g for g in meta_genes if g in set(table["gene_id"])]
    else:
        absent = [g for g in genes if g not in set(table["gene_id"])]
        if absent:
            raise InputError(f"genes {absent[:5]} requested but absent", path=dataset_path)
    splits = table.drop_duplicates("sample_id").set_index("sample_id")["split"]
    samples = pd.DataFrame({"split": splits})
    samples.index.name = "sample_id"
    if panel is not None:
        samples = _join_panel(samples, panel)

    haplotypes: dict[str, np.ndarray] = {}
    n_snps = meta.groupby("GENE_ID", sort=False).size()
    for gene in genes:
        rows = table[table["gene_id"] == gene].set_index("sample_id")
        absent = samples.index.difference(rows.index)
        if len(absent):
            raise InputError(f"gene {gene} has no genotype for samples {list(absent[:5])}",
                             path=dataset_path, expected="every sample to have every gene")
        seqs = rows.loc[samples.index, "seq"].to_numpy()
        encoded = encode_genotypes(seqs, source=f"{dataset_path} (gene {gene})")  # (n, 2, L)
        if encoded.shape[2] != n_snps[gene]:
            raise InputError(
                f"gene {gene} genotype strings have {encoded.shape[2]} letters but meta lists "
                f"{n_snps[gene]} SNPs", path=dataset_path, expected="one letter per SNP of meta.csv.gz",
            )
        haplotypes[gene] = encoded
    meta = pd.concat([meta[meta["GENE_ID"] == g] for g in genes], ignore_index=True)
    return Cohort(samples=samples, meta=meta, genes=list(genes), haplotypes=haplotypes)


def _join_panel(samples: pd.DataFrame, panel: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    from lmeqtl.data.formats import read_panel

    table = panel if isinstance(panel, pd.DataFrame) else read_panel(panel)
    table = table.set_index("sample").loc[:, ["pop", "super_pop", "gender"]]
    absent = samples.index.difference(table.index)
    if len(absent):
        raise InputError(f"samples {list(absent[:5])} are not in the panel ({len(absent)} in all)",
                         path=None if isinstance(panel, pd.DataFrame) else panel,
                         expected="a panel row for every sample of the dataset")
    return samples.join(table)
