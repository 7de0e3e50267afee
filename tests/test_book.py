"""The book build: chapters from the template, glue in prose, -W, the CLI, the smoke book."""

import nbformat
import pandas as pd
import pytest

from lmeqtl import cli
from lmeqtl.book.build import (
    NOTEBOOKS_DIR,
    BookBuildError,
    assemble_book,
    build_book,
    build_html,
)
from lmeqtl.book.pipeline import RunSettings, discover_steps, run_steps
from lmeqtl.book.template import notebook_template
from lmeqtl.cli.book import _override


def test_template_chapter_runs_and_its_glued_numbers_reach_the_html(tmp_path, jupyter_kernel):
    notebooks, source = tmp_path / "notebooks", tmp_path / "pages"
    notebooks.mkdir()
    source.mkdir()
    chapter = notebook_template("00_demo", "A demo chapter", "What it shows.")
    chapter.cells += [
        nbformat.v4.new_markdown_cell("The correlation is {glue:text}`r:.3f`."),
        nbformat.v4.new_code_cell("import numpy as np\nglue('r', np.float64(0.912345))"),
    ]
    nbformat.write(chapter, notebooks / "00_demo.ipynb")
    (source / "intro.md").write_text("# Intro\n\n```{include} chapters/this_build.md\n```\n")
    (source / "summary.md").write_text("# Summary\n\nFrom the chapter: {glue:text}`chapters/00_demo.ipynb::r:.2f`.\n")
    settings = RunSettings("smoke", tmp_path / "run", device="cpu")
    steps = discover_steps(notebooks)
    run_steps(settings, steps, kernel_name=jupyter_kernel, progress=False)

    index = build_book(settings, steps, book_dir=tmp_path / "book", source_dir=source, quiet=True)
    html = index.parent
    chapter_html = (html / "chapters" / "00_demo.html").read_text()
    assert "The correlation is <span class=\"pasted-text\">0.912</span>" in chapter_html
    assert "this chapter ran with the <span class=\"pasted-text\">smoke</span> preset" in chapter_html
    assert "google.colab" not in chapter_html  # the Colab and parameters cells are removed
    assert "preset &#39;smoke&#39;" in chapter_html or "preset 'smoke'" in chapter_html  # setup output
    assert "<span class=\"pasted-text\">0.91</span>" in (html / "summary.html").read_text()
    intro = (html / "intro.html").read_text()
    assert "This build" in intro and "1 of 1 chapters ran" in intro
    assert "lmeqtl book --preset smoke --device cpu" in (tmp_path / "book" / "chapters" / "reproducibility.md").read_text()
    page = (html / "chapters" / "reproducibility.html").read_text()
    for text in ("simulation.seed", "Files written by 00_demo (1)", "provenance.json", "torch", "up to date"):
        assert text in page, text

    # Warnings are errors: a glue key that the run did not produce fails the build.
    (tmp_path / "book" / "summary.md").write_text("# Summary\n\n{glue:text}`chapters/00_demo.ipynb::nope:.2f`\n")
    with pytest.raises(BookBuildError, match="summary.md:3: WARNING: .*'nope'"):
        build_html(tmp_path / "book", toc=tmp_path / "book" / "chapters" / "_toc.yml", quiet=True)


def test_pages_without_chapters_build_and_the_toc_follows_the_run(tmp_path):
    settings = RunSettings("smoke", tmp_path / "run")
    toc = assemble_book(settings, [], book_dir=tmp_path / "book")
    assert '"file": "chapters/reproducibility"' in toc.read_text() and "Results" not in toc.read_text()
    assert "No chapter notebooks exist yet" in (tmp_path / "book" / "chapters" / "this_build.md").read_text()


def test_set_values_are_json_or_words():
    assert _override("expression.outer_folds=3") == ("expression.outer_folds", 3)
    assert _override("expression.transform=log2") == ("expression.transform", "log2")
    assert _override('expression.models=["ridge"]') == ("expression.models", ["ridge"])
    with pytest.raises(Exception, match="SECTION.FIELD=VALUE"):
        _override("epochs")


def test_cli_refuses_bad_settings_with_a_message(tmp_path, capsys):
    args = ["book", "--preset", "smoke", "--run-dir", str(tmp_path / "run"), "--no-html"]
    assert cli.main([*args, "--set", "train.epoch=1"]) == 2
    assert "unknown preset field 'train.epoch'" in capsys.readouterr().err
    assert cli.main([*args, "--only", "99"]) == 2
    assert "no step '99'" in capsys.readouterr().err
    assert cli.main([*args, "--notebooks-dir", str(tmp_path / "none")]) == 2
    assert "no notebooks directory" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_book_end_to_end(smoke_book):
    """`lmeqtl book --preset smoke`: every notebook of notebooks/ runs, and the HTML builds with -W."""
    code, book = smoke_book  # built once, shared with tests/test_book_pages.py
    assert code == 0
    html = book / "_build" / "html"
    assert (html / "index.html").exists() and (html / "chapters" / "reproducibility.html").exists()
    for step in discover_steps(NOTEBOOKS_DIR):
        assert (html / "chapters" / f"{step.name}.html").exists(), step.name
    # RQ5 ranks the SNPs by the headline contextual method's own weights, which step 03 saved
    ranking = pd.read_csv(book.parent / "run" / "06_rq5_explainability" / "ranking.csv")
    assert {"contextual_weight", "contextual_ig", "contextual_ism", "contextual_dosage_weight",
            "elastic_net"} <= set(ranking["method"])
    page = (html / "chapters" / "06_rq5_explainability.html").read_text()
    assert any(verdict in page for verdict in ("does not differ significantly from", "significantly better than",
                                               "significantly worse than"))


@pytest.mark.slow
def test_smoke_book_on_real_data_without_truth(tmp_path, jupyter_kernel):
    """The smoke cohort in the real files' layout with truth/ removed: every chapter runs and says what it leaves out."""
    import shutil

    from lmeqtl.book.chapters import NO_TRUTH

    assert cli.main(["simulate", "--preset", "smoke", "--out", str(tmp_path / "sim")]) == 0
    shutil.copytree(tmp_path / "sim", tmp_path / "real", ignore=shutil.ignore_patterns("truth"))
    run_dir = tmp_path / "run"
    code = cli.main(["book", "--preset", "smoke", "--data-dir", str(tmp_path / "real"), "--run-dir", str(run_dir),
                     "--no-html", "--kernel", jupyter_kernel])
    assert code == 0
    for step in discover_steps(NOTEBOOKS_DIR):
        assert (run_dir / "chapters" / f"{step.name}.ipynb").exists(), step.name
    for step in ("00_data", "03_rq2_embeddings_expression", "05_rq4_single_snp", "06_rq5_explainability",
                 "07_summary"):
        assert NO_TRUTH in (run_dir / "chapters" / f"{step}.ipynb").read_text(), step
    scores = (run_dir / "05_rq4_single_snp" / "scores.csv").read_text()
    assert "lead_snp" in scores and "oracle" not in scores
