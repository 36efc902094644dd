"""``gsv-trt gpt-sovits api_v2``'s argument errors: one line and exit status 2 before anything loads. Its serving
path runs upstream's real api_v2 in tests/upstream/test_upstream_launcher.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gsv_trt.cli import build_parser, main
from gsv_trt.gpt_sovits.server import RELIED_ON, launcher_argv
from gsv_trt.gpt_sovits.upstream import MARKERS


def checkout(tmp_path: Path, api_v2_lines=tuple(RELIED_ON)) -> Path:
    """A directory with the files that make a GPT-SoVITS checkout, its api_v2.py holding ``api_v2_lines``."""
    root = tmp_path / "GPT-SoVITS"
    for marker in MARKERS:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("")
    (root / "api_v2.py").write_text("\n".join(f"    {line})" for line in api_v2_lines) + "\n")
    return root


def error_of(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        sys.exit(main(argv))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1, err
    return err


def test_root_is_required(capsys):
    assert "the following arguments are required: --root" in error_of(["gpt-sovits", "api_v2"], capsys)


def test_a_directory_that_is_not_a_checkout_is_refused(tmp_path, capsys):
    err = error_of(["gpt-sovits", "api_v2", "--root", str(tmp_path)], capsys)
    assert f"{tmp_path}: not a GPT-SoVITS checkout with v3/v4 inference code (api_v2.py is missing)" in err
    assert "not a directory" in error_of(["gpt-sovits", "api_v2", "--root", str(tmp_path / "nowhere")], capsys)


def test_an_api_v2_without_a_line_the_launcher_relies_on_is_refused(tmp_path, capsys):
    restart = "os.execl(sys.executable, sys.executable, *argv)"
    root = checkout(tmp_path, [line for line in RELIED_ON if line != restart])
    err = error_of(["gpt-sovits", "api_v2", "--root", str(root)], capsys)
    assert (f"{root / 'api_v2.py'}: differs from the api_v2.py gsv-trt knows (GPT-SoVITS 48b1a01): no line "
            f"`{restart}` (how /control?command=restart re-runs it)") in err


@pytest.mark.parametrize("option, value, message", [
    ("-p", "70000", "argument -p/--port: 70000: a port is 0-65535"),
    ("-p", "http", "argument -p/--port: 'http' is not a port number"),
    ("--workers", "4", "unrecognized arguments: --workers 4"),
])
def test_bad_options_are_refused(tmp_path, option, value, message, capsys):
    assert message in error_of(["gpt-sovits", "api_v2", "--root", str(checkout(tmp_path)), option, value], capsys)


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is not None, reason="fastapi is installed here")
def test_an_environment_without_the_server_packages_is_refused(tmp_path, capsys):
    err = error_of(["gpt-sovits", "api_v2", "--root", str(checkout(tmp_path))], capsys)
    assert "fastapi" in err and "run gsv-trt with the Python of the GPT-SoVITS environment" in err


def test_a_restart_runs_the_launcher_again_with_the_same_arguments(tmp_path):
    root, config = checkout(tmp_path), tmp_path / "my.yaml"
    argv = launcher_argv(root, config, "None", 9000)
    assert argv[:2] == ["-m", "gsv_trt"]  # api_v2 re-executes `sys.executable *argv`
    args = build_parser().parse_args(argv[2:])
    assert (args.root, args.tts_config, args.bind_addr, args.port) == (root, config, "None", 9000)
    # the command line api_v2's restart runs is the launcher's: its checks answer, not api_v2's
    (root / "api_v2.py").write_text("")
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    assert done.returncode == 2 and "gsv-trt gpt-sovits: error:" in done.stderr and "differs from" in done.stderr
