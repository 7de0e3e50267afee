"""Helpers of the book's chapters: tables, figures and sentences worded from a run's numbers.

One module per chapter subject: ``cohort`` (+ ``cohort_plots``) for 00, ``mlm`` for 01,
``genotypes`` for 02, ``expression`` (+ ``expression_text``, ``contextual_text``) for 03-05, ``finetune`` for 04,
``explain`` for 06, ``summary`` for 07.
"""

# How a chapter starts the sentence saying what it leaves out on real data (a cohort without ``truth/``).
NO_TRUTH = "No truth for real data:"
