import subprocess
import sys

import pytest

from lmeqtl import cli


def test_package_imports_and_has_version():
    import lmeqtl

    assert lmeqtl.__version__


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_console_script_help_runs():
    result = subprocess.run([sys.executable, "-m", "lmeqtl.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "commands:" in result.stdout


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"lmeqtl {name}" in capsys.readouterr().out


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2


def _command_parser(name):
    import argparse
    import importlib

    from lmeqtl.cli.options import HelpFormatter

    parser = argparse.ArgumentParser(prog=f"lmeqtl {name}", formatter_class=HelpFormatter)
    importlib.import_module(cli.COMMANDS[name].module).add_arguments(parser)
    return parser


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_flag_has_help_and_no_switch_shows_a_default(name, capsys):
    parser = _command_parser(name)
    silent = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert silent == []  # hidden aliases have help=SUPPRESS, which is not empty
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "default: True" not in text and "default: False" not in text and "default: None" not in text
    assert "--output-dir" not in text and "--output_dir" not in text  # old spellings are hidden


@pytest.mark.parametrize("name", ["simulate", "train", "embed", "rq1", "finetune", "evaluate"])
def test_one_output_flag_and_the_same_preset_default(name):
    parser = _command_parser(name)
    flags = {s for a in parser._actions for s in a.option_strings}
    assert "--out" in flags
    preset = next((a for a in parser._actions if "--preset" in a.option_strings), None)
    assert preset is None or preset.default == "top10"
    if name != "simulate":
        assert "--threads" in flags
