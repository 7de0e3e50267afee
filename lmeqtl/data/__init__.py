"""Stage 1, the data: file formats, their readers and writers, VCFs, ``prepare`` and the cohort.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``io``             atomic writes, JSON, reproducible gzip, SHA-256; ``dataset.parquet``, ``meta.csv.gz``
``paths``          ``DataPaths``: where a cohort's files live (default layout or real-data JSON)
``formats``        the published tables: 1000G panel, ``genes.tsv``, GEUVADIS GD660 + EUR373
``peaks``          ENCODE narrowPeak, the histone marks (active, repressive), SNP-in-peak overlap
``truth``          the simulation's ``truth/``: what it planted
``vcf``            validating reader of phased biallelic PASS SNPs
``vcf_writer``     bgzip + tabix writer
``encoding``       genotype strings (``R/F/M/B/N``) <-> haplotype arrays ``(n, 2, L)``, dosage
``cohort``         ``Cohort``: samples, meta, genes (order = gene map), haplotypes per gene
``prepare``        VCFs + panel + gene TSS list -> ``dataset.parquet`` + ``meta.csv.gz``
=================  ===========================================================================

Imports point down only: ``lmeqtl.data`` uses nothing of lmeqtl but ``errors`` and ``config``.
"""
