"""RQ1: genotype (not haplotype) reconstruction by the MLM, against Beagle 5 and the most frequent genotype.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``imputation``     masks, the paired-haplotype dataset + collate, MLM and most-frequent imputers
``beagle``         the Beagle 5 wrapper (reference panel, target VCF, reading its output)
``metrics``        genotype accuracy, per-SNP and pooled IQS, dosage r², by MAF bin
``comparison``     all imputers on the same masked genotypes: the RQ1 table
=================  ===========================================================================
"""
