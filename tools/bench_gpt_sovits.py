"""End-to-end benchmark of upstream GPT-SoVITS's api_v2, stock vs accelerated by gsv-trt, with RANDOM weights.

Upstream's own ``api_v2.py`` (unchanged, from a checkout) is served by uvicorn on 127.0.0.1 in this process and
measured over HTTP with httpx, per GPT-SoVITS version and CFM step count, first with the stock pipeline, then after
``gsv_trt.gpt_sovits.accelerate(tts, OverlayConfig(use_tensorrt=True, ...))`` on the same pipeline:

- request latency of api_v2's default request (``parallel_infer`` on, cut5) over ``--requests`` requests, after
  ``--warmup`` requests (the first one's latency is reported as ``first_request_s``: compilation, autotuning);
- time to first audio with ``streaming_mode`` 1: the first body bytes after the 44-byte WAV header (after one
  untimed streaming request when ``--warmup`` is on: a stream's first use captures its own shapes);
- requests per second with ``--clients`` clients sending ``--concurrent-requests`` requests in all;
- peak GPU memory (torch's allocator, and the device's used memory at the end of the row);
- the share of each part of the latency: the text front end (``text_preprocessor``), text-to-semantic (the T2S
  model's ``infer_panel*``) and the synthesis stage (``using_vocoder_synthesis*`` as found on the pipeline, i.e. the
  overlay's after ``accelerate``), timed with CUDA-synchronised timers around each outermost call; the rest of the
  request (HTTP, prompt handling, audio post-processing) is ``other``.

The models are RANDOM (gsv_trt/gpt_sovits/random_models; ``--full-size``: the text-to-semantic model, BERT and
HuBERT at upstream's real sizes, the SoVITS/CFM and vocoders always are): audio is noise-like, and a request's
length comes from the T2S token cap, which is set (``configs.max_sec``) so that a request makes about
``--audio-seconds`` of audio; the audio actually produced is reported. Output under ``--out-dir``: ``results.jsonl``
(one environment line, one line per row) and ``results.md``, both brought up to date after every row (a run
stopped at a time limit keeps what it measured); every line says RANDOM weights.

    python tools/bench_gpt_sovits.py --upstream ../shared/upstream/GPT-SoVITS --workspace /tmp/gsv-bench \\
        --full-size --out-dir reports/api_v2
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))  # run as a script from any working directory

from gsv_trt.errors import GsvTrtError  # noqa: E402
from gsv_trt.gpt_sovits.random_models import write_workspace  # noqa: E402
from gsv_trt.gpt_sovits.random_models.workspace import BASE_FILES, PRETRAINED  # noqa: E402
from gsv_trt.gpt_sovits.server import api_v2_app, describe_pipeline  # noqa: E402

WEIGHTS = "RANDOM"
# ~10 s of Cantonese speech in two sentences without commas: cut5 makes them two segments of the T2S batch
TEXT = "今日天氣好好我哋一齊去公園散步之後再去飲茶食點心。聽日我哋要返工所以今晚要早啲瞓覺唔好玩到太夜。"
PROMPT_TEXT = "我哋去飲茶。"
SEED = 1234
WAV_HEADER = 44
TOKENS_PER_SECOND = 25  # semantic tokens per second of audio; the cap is configs.hz (50) * max_sec tokens
PART_NAMES = ("text", "t2s", "synthesis")


# -- part timers ---------------------------------------------------------------------------------------------------

class PartTimer:
    """Seconds spent in each part, summed over calls; only a thread's outermost timed call counts (upstream's
    ``preprocess`` calls ``segment_and_extract_feature_for_text``, the overlay's synthesis calls the stock one)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.lock = threading.Lock()
        self.local = threading.local()
        self.totals = dict.fromkeys(PART_NAMES, 0.0)

    def reset(self) -> dict[str, float]:
        with self.lock:
            totals, self.totals = self.totals, dict.fromkeys(PART_NAMES, 0.0)
        return totals

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _timed(self, part: str, call: Callable[[], object]) -> object:
        depth = getattr(self.local, "depth", 0)
        if depth:
            return call()
        self.local.depth = 1
        try:
            self._sync()
            start = time.perf_counter()
            result = call()
            self._sync()
            with self.lock:
                self.totals[part] += time.perf_counter() - start
            return result
        finally:
            self.local.depth = 0

    def wrap(self, owner: object, name: str, part: str) -> None:
        """Replace ``owner.name`` (on the instance) by a timed call of whatever is there now; generators are timed
        item by item. Wrapping an already wrapped attribute does nothing."""
        inner = getattr(owner, name)
        if getattr(inner, "bench_part", None):
            return

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            result = self._timed(part, lambda: inner(*args, **kwargs))
            return self._timed_items(part, result) if inspect.isgenerator(result) else result

        timed.bench_part = part
        setattr(owner, name, timed)

    def _timed_items(self, part: str, items):
        iterator = iter(items)
        while True:
            try:
                item = self._timed(part, lambda: next(iterator))
            except StopIteration:
                return
            yield item

    def install(self, tts) -> None:
        """Time the text front end, the T2S decoder and the synthesis functions of upstream's ``TTS`` object."""
        for name in ("preprocess", "pre_seg_text", "segment_and_extract_feature_for_text"):
            self.wrap(tts.text_preprocessor, name, "text")
        decoder = tts.t2s_model.model  # TTS.run assigns model.infer_panel = model.infer_panel_<variant> per request
        for name in dir(type(decoder)):
            if name.startswith("infer_panel"):
                self.wrap(decoder, name, "t2s")
        for name in ("using_vocoder_synthesis", "using_vocoder_synthesis_batched_infer"):
            self.wrap(tts, name, "synthesis")


# -- the server and its requests -----------------------------------------------------------------------------------

class Server:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread of this process."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise GsvTrtError(f"uvicorn did not start on 127.0.0.1:{self.port}")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def audio_seconds(body: bytes) -> float:
    with wave.open(io.BytesIO(body[:WAV_HEADER])) as header:
        rate, width = header.getframerate(), header.getsampwidth()
    return (len(body) - WAV_HEADER) / (rate * width)


def check(response) -> None:
    if response.status_code != 200:
        raise GsvTrtError(f"api_v2 answered {response.status_code}: {response.text[:300]}")


def request_once(client, body: dict) -> tuple[float, float]:
    """(latency s, audio s) of one whole-WAV /tts request."""
    start = time.perf_counter()
    response = client.post("/tts", json=body)
    latency = time.perf_counter() - start
    check(response)
    return latency, audio_seconds(response.content)


def stream_once(client, body: dict) -> tuple[float, float, float]:
    """(time to first audio s, total s, audio s) of one ``streaming_mode`` 1 request: first audio = the first body
    bytes after the WAV header."""
    start, first, data = time.perf_counter(), None, bytearray()
    with client.stream("POST", "/tts", json={**body, "streaming_mode": 1}) as response:
        if response.status_code != 200:
            response.read()
            check(response)
        for chunk in response.iter_raw():
            data += chunk
            if first is None and len(data) > WAV_HEADER:
                first = time.perf_counter() - start
    return first if first is not None else float("nan"), time.perf_counter() - start, audio_seconds(bytes(data))


def concurrent(url: str, body: dict, clients: int, total: int) -> float:
    """Requests per second of ``total`` whole-WAV requests sent by ``clients`` clients at once."""
    import httpx

    counts = [total // clients + (i < total % clients) for i in range(clients)]
    errors: list[BaseException] = []

    def client_loop(n: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=900) as client:
                for _ in range(n):
                    request_once(client, body)
        except BaseException as error:  # raised below, in the caller
            errors.append(error)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in counts]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return total / (time.perf_counter() - start)


def spread(values: list[float]) -> dict:
    if not values:
        return {}
    return {"p50": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# -- one row -------------------------------------------------------------------------------------------------------

def measure_row(args, client, url: str, tts, timer: PartTimer, body: dict) -> dict:
    """Warm-up, latency, streaming and concurrency of one (mode, version, steps) on the running server."""
    cuda = torch.device(args.device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timer.install(tts)
    first_request_s = [request_once(client, body)[0] for _ in range(args.warmup)]
    timer.reset()
    latencies, produced = [], []
    for _ in range(args.requests):
        latency, seconds = request_once(client, body)
        latencies.append(latency)
        produced.append(seconds)
    parts = timer.reset()
    if args.stream_requests and args.warmup:  # streaming meets its own shapes (short first pieces): warm them too
        stream_once(client, body)
    streams = [stream_once(client, body) for _ in range(args.stream_requests)]
    rps = concurrent(url, body, args.clients, args.concurrent_requests) if args.concurrent_requests else None
    timer.reset()
    mean_latency = statistics.fmean(latencies)
    part_s = {name: seconds / args.requests for name, seconds in parts.items()}
    part_s["other"] = mean_latency - sum(part_s.values())
    row = {"first_request_s": first_request_s[0] if first_request_s else None, "latency_s": spread(latencies),
           "audio_s": statistics.fmean(produced), "rtf": mean_latency / statistics.fmean(produced),
           "part_s": part_s, "share": {name: seconds / mean_latency for name, seconds in part_s.items()},
           "ttfa_s": spread([s[0] for s in streams]), "stream_total_s": spread([s[1] for s in streams]),
           "stream_audio_s": statistics.fmean([s[2] for s in streams]) if streams else None,
           "rps": rps, "clients": args.clients if rps is not None else None}
    if cuda:
        free, total = torch.cuda.mem_get_info()
        row["peak_gpu_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        row["gpu_mem_used_gib"] = (total - free) / 2**30
    return row


# -- the environment -----------------------------------------------------------------------------------------------

def environment(args, upstream: Path) -> dict:
    import numpy

    env = {"weights": WEIGHTS, "python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__, "device": args.device, "cpu_count": os.cpu_count(),
           "upstream": str(upstream)}
    for name in ("torchaudio", "transformers", "fastapi", "uvicorn", "librosa"):
        try:
            env[name] = __import__(name).__version__
        except Exception as error:  # a version we cannot read is reported, not fatal
            env[name] = f"unavailable ({type(error).__name__})"
    try:
        from gsv_trt import __version__ as gsv_version
        env["gsv_trt"] = gsv_version
    except ImportError:
        env["gsv_trt"] = "unknown"
    if torch.device(args.device).type == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                           capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            env["driver"] = "unknown (nvidia-smi failed)"
        env["cuda"] = torch.version.cuda
    return env


def patch_torchaudio_load() -> str | None:
    """torchaudio >= 2.9 loads files only through TorchCodec (and FFmpeg); where TorchCodec is absent (the GPU
    machine), upstream's one ``torchaudio.load`` call (the reference audio) reads through soundfile instead, as
    torchaudio <= 2.8 did. Returns what was done, or None."""
    import importlib.util

    import torchaudio

    if importlib.util.find_spec("torchcodec") is not None:
        return None
    major, minor = (int(part) for part in torchaudio.__version__.split(".")[:2])
    if (major, minor) < (2, 9):
        return None
    import soundfile as sf

    def load(path, *args, **kwargs):
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(audio.T.copy()), rate

    torchaudio.load = load
    return f"torchaudio {torchaudio.__version__} without TorchCodec: torchaudio.load reads through soundfile"


def patch_bigvgan_for_hub1(root: Path) -> str | None:
    """huggingface_hub >= 1.0 (the GPU machine's, with transformers 5) no longer passes ``proxies`` and
    ``resume_download`` to ``_from_pretrained``, which upstream's BigVGAN (the v3 vocoder) requires as keywords: its
    ``init_vocoder`` fails with a TypeError. Both are unused for a local directory; they are filled in with the old
    defaults. Returns what was done, or None."""
    from gsv_trt.gpt_sovits.upstream import use_checkout

    with use_checkout(root):
        from BigVGAN.bigvgan import BigVGAN  # the module object TTS.py imports by the same name
    load = BigVGAN._from_pretrained.__func__
    proxies = inspect.signature(load).parameters.get("proxies")
    if proxies is None or proxies.default is not inspect.Parameter.empty:
        return None
    import huggingface_hub

    if int(huggingface_hub.__version__.split(".")[0]) < 1:
        return None

    @functools.wraps(load)
    def from_pretrained(cls, **kwargs):
        kwargs.setdefault("proxies", None)
        kwargs.setdefault("resume_download", None)
        return load(cls, **kwargs)

    BigVGAN._from_pretrained = classmethod(from_pretrained)
    return (f"huggingface_hub {huggingface_hub.__version__}: upstream's BigVGAN._from_pretrained gets proxies=None, "
            "resume_download=None (hub 1.x no longer passes them)")


# -- the run -------------------------------------------------------------------------------------------------------

def prepare_workspace(args) -> tuple[Path, dict]:
    """The random tree (written when absent), and what writing it cost."""
    if (args.workspace / PRETRAINED / BASE_FILES["v4"]).is_file():
        return args.workspace, {"workspace": "reused"}
    wall, cpu = time.perf_counter(), time.process_time()
    write_workspace(args.upstream, args.workspace, full_size=args.full_size)
    cost = {"workspace": "written", "workspace_full_size": args.full_size,
            "workspace_write_s": time.perf_counter() - wall, "workspace_write_cpu_s": time.process_time() - cpu}
    print(f"RANDOM workspace written to {args.workspace} in {cost['workspace_write_s']:.1f} s "
          f"({cost['workspace_write_cpu_s']:.1f} CPU-s)", flush=True)
    return args.workspace, cost


def bench_config(root: Path, version: str, device: str) -> Path:
    """A private tts_infer.yaml (upstream rewrites it) running ``version``'s LoRA on ``device``, fp16 on a GPU."""
    source = yaml.safe_load((root / "GPT_SoVITS" / "configs" / f"random-{version}.yaml").read_text())
    custom = {**source["custom"], "device": device, "is_half": torch.device(device).type == "cuda"}
    path = root / "GPT_SoVITS" / "configs" / f"bench-{version}.yaml"
    path.write_text(yaml.dump({"custom": custom}))
    return path


def overlay_config(args):
    """The OverlayConfig for the accelerated rows, or the reason they cannot run."""
    try:
        from gsv_trt.gpt_sovits import OverlayConfig, accelerate
    except ImportError as error:
        return None, f"gsv_trt.gpt_sovits.accelerate not importable ({error})"
    return (accelerate, OverlayConfig(use_tensorrt=True, precision=args.precision, runtime=args.runtime,
                                      parts=tuple(args.parts))), None


def run(args) -> list[dict]:
    root, cost = prepare_workspace(args)
    env = {**environment(args, args.upstream), **cost}
    for key, shim in (("torchaudio_load", patch_torchaudio_load()), ("bigvgan_hub", patch_bigvgan_for_hub1(root))):
        if shim:
            env[key] = shim
    rows: list[dict] = []
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    jsonl = (out / "results.jsonl").open("w")

    def emit(line: dict) -> None:
        jsonl.write(json.dumps(line) + "\n")
        jsonl.flush()
        print(json.dumps(line), flush=True)

    versions = args.versions
    start = time.perf_counter()
    with api_v2_app(root, bench_config(root, versions[0], args.device)) as launched:
        tts = launched.module.tts_pipeline
        env["load_s"] = time.perf_counter() - start
        if torch.device(args.device).type == "cuda":
            env["gpu_mem_after_load_gib"] = torch.cuda.memory_allocated() / 2**30
        segments = len(tts.text_preprocessor.pre_seg_text(args.text, "all_yue", "cut5"))
        tts.configs.max_sec = args.audio_seconds / segments * TOKENS_PER_SECOND / tts.configs.hz
        env.update(segments=segments, max_sec=tts.configs.max_sec, text=args.text)
        emit({"kind": "environment", **env})
        timer = PartTimer(torch.device(args.device))
        loras = {v: root / f"SoVITS_weights_{v}" / f"random-{v}-lora.pth" for v in ("v3", "v4")}
        reference = str(root / "random-reference.wav")
        import httpx

        with Server(launched.app) as url, httpx.Client(base_url=url, timeout=900) as client:
            check(client.get("/set_refer_audio", params={"refer_audio_path": reference}))
            loaded = versions[0]
            for mode in args.modes:
                order = versions if mode == "stock" else list(reversed(versions))  # fewest weight switches
                extra = {}
                if mode == "accelerated":
                    hook, why = overlay_config(args)
                    if hook is None:
                        emit({"kind": "skipped", "weights": WEIGHTS, "mode": mode, "reason": why})
                        continue
                    accelerate, config = hook
                    began, said = time.perf_counter(), io.StringIO()
                    with contextlib.redirect_stderr(said):  # the hook says what it does, or why it refuses
                        overlay = accelerate(tts, config)
                    print(said.getvalue(), end="", file=sys.stderr, flush=True)
                    if overlay is None:
                        emit({"kind": "skipped", "weights": WEIGHTS, "mode": mode,
                              "reason": f"accelerate refused: {said.getvalue().strip()}"})
                        continue
                    extra = {"accelerate_s": time.perf_counter() - began, "overlay": repr(config)}
                for version in order:
                    if version != loaded:
                        began = time.perf_counter()
                        check(client.get("/set_sovits_weights", params={"weights_path": str(loras[version])}))
                        extra["switch_s"] = time.perf_counter() - began
                        loaded = version
                    for steps in args.steps:
                        body = {"text": args.text, "text_lang": "all_yue", "ref_audio_path": reference,
                                "prompt_text": PROMPT_TEXT, "prompt_lang": "all_yue", "sample_steps": steps,
                                "seed": SEED, "parallel_infer": args.parallel_infer, "media_type": "wav"}
                        row = {"kind": "row", "weights": WEIGHTS, "mode": mode, "version": version, "steps": steps,
                               "pipeline": describe_pipeline(tts), **extra,
                               **measure_row(args, client, url, tts, timer, body),
                               **{k: env.get(k) for k in ("gpu", "driver", "torch", "device")}}
                        extra = {}
                        rows.append(row)
                        emit(row)
                        (out / "results.md").write_text(markdown(env, rows))  # a run cut short keeps its rows
    jsonl.close()
    print((out / "results.md").read_text())
    return rows


def markdown(env: dict, rows: list[dict]) -> str:
    """The table, headed by what made it."""
    where = (f"{env.get('gpu', 'CPU')}, driver {env.get('driver', '-')}, CUDA {env.get('cuda', '-')}; Python "
             f"{env['python']}, torch {env['torch']}, torchaudio {env['torchaudio']}, transformers "
             f"{env['transformers']}, gsv-trt {env['gsv_trt']}")
    lines = [f"**RANDOM weights** (gsv_trt/gpt_sovits/random_models; text-to-semantic, BERT, HuBERT "
             f"{'full size' if env.get('workspace_full_size') else 'as found in the workspace'}). {where}. "
             f"Upstream api_v2 over HTTP (uvicorn, 127.0.0.1), text: {env['segments']} Cantonese segments, "
             f"T2S cap {env['max_sec']:.2f} s per segment.", "",
             "| mode | version | steps | audio s | latency s p50 (min-max) | TTFA s p50 | req/s | peak GPU GiB | "
             "text % | T2S % | synthesis % | other % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lat, ttfa, share = row["latency_s"], row["ttfa_s"], row["share"]
        cells = [row["mode"], row["version"], str(row["steps"]), f"{row['audio_s']:.1f}",
                 f"{lat['p50']:.3f} ({lat['min']:.3f}-{lat['max']:.3f})",
                 f"{ttfa['p50']:.3f}" if ttfa else "-",
                 f"{row['rps']:.2f} ({row['clients']} clients)" if row["rps"] is not None else "-",
                 f"{row['peak_gpu_mem_gib']:.1f}" if "peak_gpu_mem_gib" in row else "-",
                 *(f"{100 * share[part]:.0f}" for part in (*PART_NAMES, "other"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", type=Path, default=HERE.parent / "shared" / "upstream" / "GPT-SoVITS",
                        help="GPT-SoVITS checkout the workspace is copied from")
    parser.add_argument("--workspace", type=Path, required=True,
                        help="random-weight GPT-SoVITS tree: reused when it holds the models, else written")
    parser.add_argument("--full-size", action="store_true",
                        help="write T2S, BERT and HuBERT at upstream's real sizes (a new workspace only)")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--versions", default="v4,v3", type=lambda s: s.split(","))
    parser.add_argument("--steps", default="8,32", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--modes", default="stock,accelerated", type=lambda s: s.split(","))
    parser.add_argument("--warmup", type=int, default=1, help="untimed requests first in each row (0: none)")
    parser.add_argument("--requests", type=int, default=3, help="timed whole-WAV requests per row")
    parser.add_argument("--stream-requests", type=int, default=1, help="streaming_mode 1 requests per row")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--concurrent-requests", type=int, default=4, help="requests in all, 0: no req/s")
    parser.add_argument("--audio-seconds", type=float, default=10.0, help="audio a request should make")
    parser.add_argument("--text", default=TEXT, help="Cantonese text (all_yue)")
    parser.add_argument("--parallel-infer", action=argparse.BooleanOptionalAction, default=True,
                        help="api_v2's parallel_infer (its default: on)")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--precision", default="fp16", help="the accelerated parts' precision (fp32 on a CPU)")
    parser.add_argument("--runtime", default="auto", help="the overlay's runtime: auto|tensorrt|torch-fast|eager")
    parser.add_argument("--parts", default="cfm,vocoder", type=lambda s: s.split(","),
                        help="what the overlay replaces (cfm: ~96 %% of the synthesis stage; the vocoder's torch-fast "
                             "compilation takes ~50 s per version on a first start)")
    args = parser.parse_args(argv)
    args.workspace, args.out_dir = args.workspace.resolve(), args.out_dir.resolve()
    args.upstream = args.upstream.resolve()
    bad = [v for v in args.versions if v not in ("v3", "v4")] + [m for m in args.modes
                                                                   if m not in ("stock", "accelerated")]
    if bad or args.requests < 1 or args.clients < 1 or any(s < 1 for s in args.steps):
        parser.error(f"bad values: {bad or 'requests, clients and steps must be >= 1'}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except GsvTrtError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
