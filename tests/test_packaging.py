"""environment.yml (conda/Colab) must list the same pins as pyproject.toml."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("sim", "book"):
        wanted += project["optional-dependencies"][extra]
    lines = [ln.strip()[2:] for ln in (ROOT / "environment.yml").read_text().splitlines()
             if ln.strip().startswith("- ") and not ln.strip().startswith("- -e")]
    env = {_name(x): x.replace(" ", "") for x in lines}
    for requirement in wanted:
        assert env.get(_name(requirement)) == requirement.replace(" ", ""), requirement
