"""``gsv-trt gpt-sovits api_v2 --root /path/to/GPT-SoVITS [-a ADDR] [-p PORT] [-c CONFIG]``: upstream's own api_v2
(same endpoints, fields and responses) with its pipeline accelerated as the config's ``gsv_trt:`` section asks.

Run it with the Python of the GPT-SoVITS environment (where this package is pip-installed). Arguments and the
checkout are checked before any model loads; a refused or absent ``gsv_trt:`` section (or config file: upstream then
writes its defaults there) prints one line and the stock pipeline serves.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import traceback
from pathlib import Path

from ..errors import GsvTrtError
from ._common import HelpFormatter, add_command

SERVER_PACKAGES = ("fastapi", "uvicorn")  # what api_v2 serves with; GPT-SoVITS's environment has them


def port(text: str) -> int:
    """An argparse type: a TCP port, 0-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: a port is 0-65535")
    return value


def run_api_v2(args: argparse.Namespace) -> int:
    from ..gpt_sovits.server import DEFAULT_CONFIG, api_v2_app, check_api_v2, launcher_argv
    from ..gpt_sovits.upstream import checkout_root

    root = checkout_root(args.root)
    check_api_v2(root)
    config = args.tts_config.resolve() if args.tts_config else root / DEFAULT_CONFIG
    missing = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise GsvTrtError(f"{sys.executable}: {', '.join(missing)} not installed; run gsv-trt with the Python of "
                          "the GPT-SoVITS environment (pip install -e /path/to/gsv-trt there)")
    import uvicorn

    restart = launcher_argv(root, config, args.bind_addr, args.port)
    with api_v2_app(root, config, args.bind_addr, args.port, restart_argv=restart) as launched:
        print(f"gsv-trt: {launched.what_runs}", flush=True)
        host = None if args.bind_addr == "None" else args.bind_addr  # api_v2's rule: -a None listens dual-stack
        try:
            uvicorn.run(app=launched.app, host=host, port=args.port, workers=1)
        except Exception:  # as api_v2's __main__ block: the traceback, then the process ends
            traceback.print_exc()
            os.kill(os.getpid(), signal.SIGTERM)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "gpt-sovits", "run GPT-SoVITS's own programs with the overlay applied", run_api_v2,
                         description="Run a program of your GPT-SoVITS checkout unchanged, with its CFM and vocoder "
                                     "accelerated as the gsv_trt: section of its tts_infer.yaml asks.")
    programs = parser.add_subparsers(dest="program", required=True, metavar="PROGRAM", title="programs",
                                     help="the upstream program to run")
    api = programs.add_parser(
        "api_v2", formatter_class=HelpFormatter, help="upstream's api_v2.py HTTP server (same endpoints and fields)",
        description="Upstream's api_v2.py from --root, with -a, -p and -c as upstream takes them; its pipeline "
                    "accelerated as the config's gsv_trt: section asks (use_tensorrt: true).")
    api.add_argument("--root", type=Path, required=True, metavar="DIR",
                     help="your GPT-SoVITS checkout (the directory holding api_v2.py)")
    api.add_argument("-a", "--bind_addr", default="127.0.0.1", metavar="ADDR",
                     help="address to listen on; None listens on all (dual-stack), as upstream's")
    api.add_argument("-p", "--port", type=port, default=9880, help="port to listen on")
    api.add_argument("-c", "--tts_config", type=Path, default=None, metavar="CONFIG",
                     help="tts_infer.yaml (relative: to the current directory; default: "
                          "GPT_SoVITS/configs/tts_infer.yaml in --root)")
    api.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                     help="show tracebacks instead of one-line errors")
    api.set_defaults(run=run_api_v2)
