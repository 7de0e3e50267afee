"""Stage 0, the simulated cohort: 1000G-like genotypes with known eQTLs, written in the real formats.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``cohort``         ``simulate_cohort``: every file of a simulated cohort, and the truth
``coalescent``     msprime/stdpopsim ancestry and mutations, allele-frequency matching
``genotypes``      SNPs mapped onto gene windows; genotype and switch errors; decoy VCF rows
``top10``          the real top10 gene windows that the default cohort copies
``expression``     causal eQTLs, GD660-style expression, the cis-eQTL scan (EUR373-style table)
``chromatin``      GM12878-like histone peaks, causal SNPs enriched in active marks
``popgen``         LD decay, population-structure PCA: checks that the cohort looks human
=================  ===========================================================================

It writes through :mod:`lmeqtl.data` and imports nothing of a later stage.
"""
