"""Chapter 02 (RQ1): the masking design and the headline numbers in words.

:mod:`lmeqtl.genotypes.comparison` returns the tables and figures; the sentences the
chapter glues into its text are worded here from them.
"""

from __future__ import annotations

import numpy as np

from lmeqtl.genotypes.comparison import RQ1Result

DESIGN_TEXT = ("The same SNPs are masked in every person (on both haplotypes). For Beagle these are markers "
               "that the target people were not genotyped at, so it imputes them from the reference panel "
               "alone, which is exactly the information the MLM has.")


def summary_text(result: RQ1Result) -> str:
    """Markdown sentences with the run's headline numbers (for ``glue``), whatever was run."""
    table = result.table.xs("all", level="maf_bin")

    def numbers(method: str) -> str:
        row = table.loc[method]
        r2 = "" if np.isnan(row["dosage_r2"]) else f", mean dosage r² {row['dosage_r2']:.3f}"
        return f"genotype accuracy {row['genotype_accuracy']:.3f}, mean per-SNP IQS {row['iqs']:.3f}{r2}"

    methods = list(table.index)
    text = (f"On {result.info['n_genotypes']:,} masked genotypes of {result.info['n_people']} test people, "
            f"the MLM reaches {numbers('MLM')}.")
    if "Beagle 5" in methods:
        gap = table.loc["Beagle 5", "iqs"] - table.loc["MLM", "iqs"]
        text += (f" Beagle 5 reaches {numbers('Beagle 5')}: its mean IQS is {abs(gap):.3f} "
                 f"{'above' if gap > 0 else 'below'} the MLM's, in {result.seconds['Beagle 5']:.0f} s against the "
                 f"MLM's {result.seconds['MLM']:.0f} s on this machine.")
    else:
        text += " " + " ".join(result.notes) + "."
    baseline = table.loc["most frequent genotype"]
    text += (f" Calling every SNP's most frequent genotype already gives accuracy "
             f"{baseline['genotype_accuracy']:.3f} (IQS 0 by construction): accuracy alone flatters common "
             "genotypes, which is why IQS corrects for chance.")
    return text
