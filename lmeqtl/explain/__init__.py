"""RQ5: which SNPs drive the expression predictions, and do they sit in active chromatin?"""
