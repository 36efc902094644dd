"""``reports/<timestamp>/``: report.json (the whole run), report.md (tables people read) and the PNG plots."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from ..bench.suite import throughput_length
from .plots import write_plots
from .summary import compute_summary, ran


def new_report_dir(out_dir: str | Path) -> Path:
    """A fresh ``out_dir/<UTC timestamp>`` (suffixed when two runs start in the same second)."""
    base = Path(out_dir) / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def write_report(report: dict, out_dir: str | Path) -> Path:
    """Add the summary and plot names to ``report``, write everything, return the report directory."""
    directory = new_report_dir(out_dir)
    report["summary"] = compute_summary(report)
    report["plots"] = [p.name for p in write_plots(report, directory)]
    (directory / "report.json").write_text(json.dumps(_json_safe(report), indent=1) + "\n")
    (directory / "report.md").write_text(markdown(report))
    return directory


def _f(x, spec: str = ".4g") -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return "inf" if math.isinf(x) else format(x, spec)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(report: dict) -> str:
    s, env, voc = report["summary"], report["bench"]["environment"], report["vocoder"]
    lines = [f"# gsv-trt {report['kind']}: GPT-SoVITS {voc['version']} vocoder", ""]
    lines += [f"- created: {report['created']} (gsv-trt {report['gsv_trt_version']})",
              f"- command: `{report['command']}`" if report.get("command") else "- command: (API call)",
              f"- machine: {env['label']}; torch {env['torch']}, onnxruntime {env['onnxruntime']} "
              f"({', '.join(env['onnxruntime_providers'])}); TensorRT: "
              + "; ".join(f"{k}: {v}" for k, v in env["tensorrt"].items()),
              f"- weights: {voc['provenance']}",
              "- quality clips: " + "; ".join(f"{c['name']} ({c['frames']} frames; {c['attribution']})"
                                              for c in report["clips"]), ""]
    if voc["random_weights"]:
        lines += ["> RANDOM weights: speed figures are representative of the architecture; quality figures describe "
                  "an untrained vocoder.", ""]

    lines += ["## Summary", ""]
    if "best" in s:
        b, c, q = s["baseline"], s["best"], s["best"]["quality"]
        rows = [
            ["speed-up", f"{s['speedup']:.2f}x", f"{c['runtime']} {c['spread']} vs {b['runtime']} {b['spread']}, "
                                                 f"at {s['length']} ({s['length_frames']} frames, "
                                                 f"{s['length_audio_s']:.2f} s), {c['device']}"],
            ["throughput gain", f"{s['throughput_gain']:.2f}x", f"{c['max_requests_per_s']:.1f} req/s (batch "
                                                                f"{c['at_batch']}) vs {b['max_requests_per_s']:.1f} (batch {b['at_batch']})"],
        ]
        if "time_saved_s_per_audio_hour" in s:
            rows.append(["time saved", f"{s['time_saved_s_per_audio_hour']:.1f} s per hour of audio",
                         f"{c['runtime']} instead of {b['runtime']}, from p50 at {s['length']}"])
        rows += [["similarity", f"cosine {_f(q['cosine'], '.6f')}", "worst clip vs torch-eager fp32"],
                 ["MSE", _f(q["mse"], ".3e"), f"SNR {_f(q['snr_db'], '.1f')} dB"]]
        lines += _table(["figure", "value", "produced by"], rows)
        lines.append("")
    lines += [f"Verdict: **{s['verdict']}**. Baseline: {s['baseline_is']}.", ""]
    lines += [f"- not credited: {x}" for x in s["not_credited"]]
    lines += [f"- check this: {x}" for x in s.get("anomalies", [])]
    lines += [""] if s["not_credited"] or s.get("anomalies") else []

    opt = report.get("optimize")
    if opt:
        lines += ["## Precision and fallback", "", f"Requested {opt['requested']}; chain {' -> '.join(opt['chain'])}; "
                  f"chosen: **{opt['chosen'] or 'none'}**. {opt['why']}", ""]
        rows = []
        for a in opt["attempts"]:
            engine = (f"{Path(a['engine']).name} ({'built in ' + _f(a['build_s'], '.1f') + ' s' if a['engine_built'] else 'cached'}"
                      f"{'' if a['engine_cannot_run'] is None else '; cannot run here: ' + a['engine_cannot_run']})"
                      if a["engine"] else f"none: {a['engine_skip']}")
            score = a["score"] or {}
            rt = score.get("runtime")
            rows.append([a["step"], f"{Path(a['onnx']).name} ({'reused' if a['onnx_reused'] else 'exported in ' + _f(a['export_s'], '.1f') + ' s'})"
                         if a["onnx"] else "-", engine,
                         f"{rt['name']} {rt['precision']} on {rt['device']}" if rt else "-",
                         "PASS" if a["passed"] else "FAIL", "; ".join(score.get("reasons", []))])
        lines += _table(["step", "ONNX", "engine", "gated runtime", "verdict", "reasons"], rows) + [""]

    if report.get("quality"):
        lines += ["## Quality vs torch-eager fp32", ""]
        rows = []
        for q in report["quality"]:
            w, rt = q["worst"], q["runtime"]
            bar = q["clips"][0]["gate"]["thresholds"] if q["clips"] else None
            rows.append([q["label"], f"{rt['name']} {rt['precision']} on {rt['device']}" if rt else "-",
                         _f(w.get("cosine"), ".6f"), _f(w.get("mse"), ".3e"), _f(w.get("snr_db"), ".1f"),
                         _f(w.get("log_mel_l1")), _f(w.get("mr_stft")),
                         (f"SNR >= {bar['min_snr_db']:.1f}, cos >= {bar['min_cosine']:.6f}, L1 <= "
                          f"{bar['max_log_mel_l1']:.4g}, MR-STFT <= {bar['max_mr_stft']:.4g}") if bar else "-",
                         "PASS" if q["passed"] else "FAIL: " + "; ".join(q["reasons"])])
        lines += _table(["candidate", "runtime", "cosine", "MSE", "SNR dB", "log-mel L1", "MR-STFT", "bar", "verdict"],
                        rows) + [""]
        sources = {c["gate"]["thresholds"]["source"] for q in report["quality"] for c in q["clips"]}
        lines += [f"- bar source: {src}" for src in sorted(sources)]
        lines += [f"- {q['label']}: {q['note']}" for q in report["quality"] if q["note"]] + [""]

    bench = report["bench"]
    st = bench["settings"]
    lines += ["## Benchmark", "", f"Same process, same inputs (real-speech mel tiled to length), batch 1 latency: "
              f"{st['repeats']} timed calls after {st['warmup']} warm-up calls (warm-up reported apart); throughput "
              f"at batch 1..{st['max_batch']} ({st['batch_repeats']} calls each), at "
              f"{throughput_length(st['lengths'])} only. Timing: "
              + ("CUDA events." if env["device"] == "cuda" else "perf_counter (CPU)."), ""]
    rows = []
    for r in bench["runtimes"]:
        key = f"{r['name']} {r['precision']}"
        if not ran(r):
            rows.append([key, r["role"], "-", "-", "-", "-", "-", "-", "-", "-", "-",
                         f"not measured: {r['skipped'] or r['error'] or 'no lengths'}"])
            continue
        for l in r["lengths"]:
            tp = max(l["throughput"], key=lambda t: t["requests_per_s"])
            rows.append([key, r["role"], r["info"]["device"], f"{l['name']} ({l['frames']} fr, {l['audio_s']:.2f} s)",
                         f"{l['timing']['p50_ms']:.2f}", f"{l['timing']['p95_ms']:.2f}", f"{l['x_real_time']:.3g}",
                         _f(l["timing"]["warmup_ms"][0] if l["timing"]["warmup_ms"] else None, ".1f"),
                         f"{tp['requests_per_s']:.2f} (b{tp['batch']})", _f(r["peak_gpu_mib"], ".0f"),
                         f"load {_f(r['load_s'], '.2f')} s; build {_f(r['build_s'], '.1f')} s; "
                         f"size {_f(r['artifact_bytes'] / 2**20 if r['artifact_bytes'] else None, '.1f')} MiB",
                         "; ".join(filter(None, [r["io"], r["note"], l["batch_limit"]]))])
    lines += _table(["runtime", "role", "device", "length", "p50 ms", "p95 ms", "x real time", "first call ms",
                     "max req/s", "peak GPU MiB", "load / build / size", "notes"], rows) + [""]
    methods = {r["memory_method"] for r in bench["runtimes"] if r["memory_method"] and r["memory_method"] != "no GPU"}
    lines += [f"- GPU memory: {m}" for m in sorted(methods)]
    lines += [""] + [f"![{p}]({p})" for p in report.get("plots", [])] + [""]
    return "\n".join(lines)
