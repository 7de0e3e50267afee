"""The book: everything that knows a run directory, its steps and its pages.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``steps``          the step registry: which step writes the checkpoint, embeddings, folds, ...
``notebook``       ``notebook_setup()`` and ``glue()``: the first cell of every chapter
``run``            ``NotebookRun``: where a run's cohort, model and earlier outputs live; step 00's cohort
``template``       the chapter template and its checks
``pipeline``       the papermill runner: up-to-date skipping, resume
``build``          assemble the pages, build the Jupyter Book with ``-W``
``provenance``     versions, seeds, file fingerprints
``reproducibility`` the pages written from a run's records
``chapters``       per-chapter helpers: tables, figures and the prose worded from the numbers
=================  ===========================================================================

The analysis packages (:mod:`lmeqtl.genotypes`, :mod:`lmeqtl.expression`, ...) never import
from here: they take arrays, tables and configs and return tables and figures.
"""
