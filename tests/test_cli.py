"""CLI conventions every command follows (issue 15, items 6-7): help written for users, defaults and help text on
every option, one meaning of --version per place, one-line usage errors raised before anything loads, tables that
are not cut to 80 columns in a log."""

import argparse
import json
import subprocess
import sys

import pytest

from gsv_trt import __version__
from gsv_trt.cli import build_parser, main


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_top_level_help_is_for_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: gsv-trt") and "GPT-SoVITS" in out
    for command in ("engine", "vocode", "optimize", "info"):
        assert f"gsv-trt {command}" in out  # the main commands, with examples
    assert "--version: alone" in out and "v3 or v4" in out  # what --version means where


def test_version_at_the_top_is_the_program_and_after_a_command_the_model(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"gsv-trt {__version__}"
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--version", "v5", "--out", "x.onnx"])
    assert exit_.value.code == 2 and "argument --version: invalid choice: 'v5'" in capsys.readouterr().err


def test_every_option_of_every_command_has_help():
    for name, parser in commands().items():
        for action in parser._actions:
            assert action.help, f"gsv-trt {name} {'/'.join(action.option_strings) or action.dest}: no help text"


@pytest.mark.parametrize("command, default", [("export", "fp32"), ("engine", "fp16"), ("optimize", "fp16")])
def test_help_shows_defaults(command, default):
    text = commands()[command].format_help()
    assert f"(default: {default})" in " ".join(text.split())


def test_commands_added_later_show_defaults_too():
    from gsv_trt.commands._common import add_command

    sub = argparse.ArgumentParser().add_subparsers()
    parser = add_command(sub, "new", "a command another engineer adds", lambda args: 0)
    parser.add_argument("--steps", type=int, default=32, help="Euler steps")
    parser.add_argument("--fast", action="store_true", help="a switch shows no default")
    text = " ".join(parser.format_help().split())
    assert "Euler steps (default: 32)" in text and "a switch shows no default --" not in text


@pytest.mark.parametrize("value, message", [("-3", "-3: must be a positive number"),
                                            ("0", "0: must be a positive number"),
                                            ("soon", "'soon' is not a number")])
def test_clip_seconds_must_be_positive(value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["quality", "eager-fp16", "--version", "v4", "--clip-seconds", value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument --clip-seconds: {message}" in err and err.count("\n") == 1


@pytest.mark.parametrize("option, value", [("--repeats", "0"), ("--max-batch", "-1"), ("--warmup", "-1")])
def test_suite_counts_are_checked_while_parsing(option, value, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--version", "v4", option, value])
    assert f"argument {option}: {value}: must be at least" in capsys.readouterr().err


def test_wrong_output_file_is_refused_before_the_model_loads(tmp_path, capsys):
    important = tmp_path / "important.txt"
    important.write_text("keep me")
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--version", "v3", "--out", str(important)])  # v3 takes many seconds to build
    assert exit_.value.code == 2 and "must end in .onnx" in capsys.readouterr().err
    assert important.read_text() == "keep me"


def test_tables_are_not_cut_when_output_is_a_pipe():
    row = {"label": "a-candidate-with-a-long-label-" * 3, "passed": True, "reasons": [], "note": "",
           "runtime": {"name": "onnxruntime", "precision": "fp16", "device": "cpu"}, "clips": [],
           "worst": {"cosine": 0.999999, "mse": 1e-9, "snr_db": 60.0, "log_mel_l1": 0.01, "mr_stft": 0.02}}
    code = ("import json, sys; from gsv_trt.report.summary import print_quality; "
            "print_quality([json.loads(sys.argv[1])])")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(row)], capture_output=True, text=True,
                         env={"PATH": "/usr/bin", "COLUMNS": "80"}, check=True).stdout
    assert row["label"] in out and "0.999999" in out and "PASS" in out
    assert max(len(line) for line in out.splitlines()) > 80


def test_install_hints_work_from_a_checkout():
    import tomllib
    from pathlib import Path

    from gsv_trt.build.flavour import INSTALL_HINT

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name, hint in INSTALL_HINT.items():  # gsv-trt is not on PyPI: `pip install gsv-trt[...]` cannot work
        assert f"pip install -e '.[{name}]'" in hint and name in extras
