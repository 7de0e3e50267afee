"""Packaging: ranges in pyproject.toml, the lock in constraints.txt, one repository URL, LICENSE and CITATION.cff."""

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lmeqtl.book.template import COLAB_CELL, repository_url

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _lock() -> dict[str, str]:
    pins = [line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return {canonicalize_name(name): version.strip() for name, version in pins}


def test_the_package_declares_ranges_and_the_lock_pins_each_inside_them():
    lock = _lock()
    requirements = [Requirement(r) for r in
                    [*PROJECT["dependencies"], *(r for extra in PROJECT["optional-dependencies"].values() for r in extra)]]
    for requirement in requirements:
        assert "==" not in str(requirement.specifier), f"{requirement}: exact pins belong in constraints.txt"
        assert requirement.specifier, f"{requirement}: give the range it is known to work with"
        version = lock.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not locked in constraints.txt"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name}=={version}"


def test_make_and_conda_install_with_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*\\\n\s*-c constraints\.txt -e '\.\[sim,book,dev\]'", makefile)
    env = [line.strip() for line in (ROOT / "environment.yml").read_text().splitlines()]
    assert "- -c constraints.txt" in env and "- -e .[sim,book]" in env


def test_one_repository_url_for_colab_the_readme_and_the_book():
    url = PROJECT["urls"]["Repository"]
    assert repository_url() == url and f"git+{url}" in COLAB_CELL
    owner_repo = url.removeprefix("https://github.com/")
    readme = (ROOT / "README.md").read_text()
    badges = re.findall(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/", readme)
    assert badges and set(badges) == {owner_repo}
    config = (ROOT / "_config.yml").read_text()
    assert re.search(rf"^\s*url: {re.escape(url)}\s*$", config, re.M)
    cells = json.loads((ROOT / "notebooks" / "colab_full_book.ipynb").read_text())["cells"]
    full_book = "".join("".join(cell["source"]) for cell in cells)  # clones the repository
    assert f'os.environ.get("LMEQTL_REPOSITORY", "{url}")' in full_book
    for other in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", readme + config + full_book):
        assert other == url, other


def test_license_and_citation_match_the_package():
    assert PROJECT["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf'^version: "?{re.escape(PROJECT["version"])}"?$', citation, re.M)
    assert "license: MIT" in citation and f"repository-code: {PROJECT['urls']['Repository']}" in citation
