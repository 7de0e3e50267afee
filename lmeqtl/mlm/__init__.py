"""Stage 2, the haplotype masked language model.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``dss``            the diagonal state-space layer (kernels, FFT convolution)
``model``          ``HaplotypeMLM``: encoder, gene embedding, ResNet, DSS blocks, decoder
``masking``        token alphabet, MAF bins, masking strategies
``batches``        folds of people, fixed validation masks, training batches
``train``          ``train_mlm``: resumable training (DDP, AMP)
``evaluate``       masked accuracy, recall and IQS by MAF bin
``baselines``      the major-allele and LD tag-SNP baselines, on the same masks
``metrics``        confusion matrices, IQS (per SNP and pooled), accuracy, recall
``checkpoint``     weights + JSON config + gene map; the original project's weights
``embed``          haplotype embeddings (single, masked, rolling); ``embed_store``: their files
``distributed``    torchrun set-up and collectives
``plots``          training curves, scores by MAF bin
=================  ===========================================================================
"""
