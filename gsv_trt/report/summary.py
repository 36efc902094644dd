"""The headline numbers of a run and the terminal summary that prints them.

Speed-up, throughput gain and time saved compare the fastest *optimised runtime that ran here and passed the
quality gate* with upstream's own mode on this device: eager fp16 on a GPU (``is_half``, what GPT-SoVITS ships),
eager fp32 on a CPU (upstream forces ``is_half`` off there). Speed that did not keep quality is not credited, and a
verdict (and time saved per hour of audio) is given only when the difference is larger than the measured spread
(report/verdict.py). Every figure carries the runtime, precision, device and weights that produced it.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from .console import heading, output_console
from .verdict import Spread, anomalies, compare, why_no_verdict


def ran(runtime: dict) -> bool:
    return runtime["skipped"] is None and runtime["error"] is None and bool(runtime["lengths"])


def _length(runtime: dict, name: str) -> dict | None:
    return next((l for l in runtime["lengths"] if l["name"] == name), None)


def _quality_for(report: dict, runtime: dict) -> dict | None:
    for q in report.get("quality", []):
        info = q.get("runtime")
        ran_as = runtime["info"]
        if info and ran_as and (info["name"], info["precision"]) == (ran_as["name"], ran_as["precision"]):
            return q
    return None


def headline_length(runtimes: list[dict]) -> str | None:
    """"chunk" when measured (upstream's own call size), else the longest length measured."""
    names = [l["name"] for r in runtimes for l in r["lengths"]]
    if "chunk" in names:
        return "chunk"
    longest = max((l for r in runtimes for l in r["lengths"]), key=lambda l: l["audio_s"], default=None)
    return longest["name"] if longest else None


def _figure(runtime: dict, length: dict, env: dict) -> dict:
    best_tp = max(length["throughput"], key=lambda t: t["requests_per_s"])
    return {"runtime": f"{runtime['info']['name']} {runtime['precision']}", "device": runtime["info"]["device"],
            "p50_ms": length["timing"]["p50_ms"], "p95_ms": length["timing"]["p95_ms"],
            "x_real_time": length["x_real_time"], "max_requests_per_s": best_tp["requests_per_s"],
            "at_batch": best_tp["batch"], "timing": length["timing"]["method"], "io": runtime["io"],
            "machine": env["label"]}


def compute_summary(report: dict) -> dict:
    """The numbers the terminal summary and report.md lead with, from a report dict."""
    bench, vocoder = report["bench"], report["vocoder"]
    env = bench["environment"]
    measured = [r for r in bench["runtimes"] if ran(r)]
    baseline_key = "torch-eager fp16" if env["device"] == "cuda" else "torch-eager fp32"
    base = next((r for r in measured if f"{r['name']} {r['precision']}" == baseline_key), None)
    name = headline_length(measured)
    out: dict = {"device": env["label"], "weights": vocoder["provenance"], "random_weights": vocoder["random_weights"],
                 "baseline_is": f"upstream {baseline_key} ({'is_half, as GPT-SoVITS runs on a GPU' if env['device'] == 'cuda' else 'upstream forces is_half off on a CPU'})",
                 "length": name, "not_credited": [], "skipped": {},
                 "anomalies": [a for r in measured for a in anomalies(r)]}
    for r in bench["runtimes"]:
        if not ran(r):
            out["skipped"][f"{r['name']} {r['precision']}"] = r["skipped"] or r["error"] or "no measurements"
    if base is None or name is None or _length(base, name) is None:
        out["verdict"] = f"no speed comparison: the baseline {baseline_key} was not measured"
        return out
    base_len = _length(base, name)
    out["length_frames"], out["length_audio_s"] = base_len["frames"], base_len["audio_s"]
    out["baseline"] = _figure(base, base_len, env)
    credited = []
    for r in measured:
        if r["role"] != "optimized" or _length(r, name) is None:
            continue
        q = _quality_for(report, r)
        if q is None or not q["passed"]:
            why = "not scored" if q is None else "; ".join(q["reasons"])
            out["not_credited"].append(f"{r['name']} {r['precision']}: quality gate {why}")
            continue
        credited.append((r, q))
    if not credited:
        out["verdict"] = "no optimised runtime both ran here and passed the quality gate: keep upstream's eager vocoder"
        return out
    best, q = min(credited, key=lambda rq: _length(rq[0], name)["timing"]["p50_ms"])
    best_len = _length(best, name)
    out["best"] = _figure(best, best_len, env) | {"quality": q["worst"], "quality_runtime": q["runtime"],
                                                   "quality_note": q["note"]}
    b, c = out["baseline"], out["best"]
    out["speedup"] = b["p50_ms"] / c["p50_ms"]
    out["throughput_gain"] = c["max_requests_per_s"] / b["max_requests_per_s"]
    base_spread, best_spread = Spread.of(base_len["timing"]), Spread.of(best_len["timing"])
    b["spread"], c["spread"] = base_spread.describe(), best_spread.describe()
    withheld = why_no_verdict(bench["settings"])
    if withheld:
        out["verdict"] = f"no verdict: {withheld}"
        return out
    outcome = compare(base_spread, best_spread)
    if outcome == "same":
        out["verdict"] = (f"no measurable difference: {c['runtime']} {best_spread.describe()} vs {b['runtime']} "
                          f"{base_spread.describe()}; the difference is within the spread")
    elif outcome == "slower":
        out["verdict"] = f"keep {b['runtime']}: {c['runtime']} is slower beyond the measured spread"
    else:
        out["time_saved_s_per_audio_hour"] = (b["p50_ms"] - c["p50_ms"]) / 1e3 / base_len["audio_s"] * 3600
        out["verdict"] = (f"use {c['runtime']}: {out['speedup']:.2f}x faster than {b['runtime']}, beyond the "
                          "measured spread of both")
    return out


def _fmt(x: float | str | None, spec: str = ".4g") -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if math.isinf(x):
        return "inf"
    return format(x, spec)


def print_summary(report: dict, console: Console | None = None) -> None:
    """The terminal summary: what was chosen and why, the headline numbers with their provenance, every runtime."""
    console = console or output_console()
    s = report["summary"]
    opt = report.get("optimize")
    heading(console, f"gsv-trt {report['kind']}: {report['vocoder']['version']}")
    console.print(f"machine: {s['device']}", markup=False)
    console.print(f"weights: {s['weights']}", markup=False)
    if opt:
        chosen = opt["chosen"] or "nothing (keep upstream eager)"
        console.print(f"requested {opt['requested']}, chose {chosen}: {opt['why']}", markup=False)
    if "best" in s:
        b, c = s["baseline"], s["best"]
        at = f"at {s['length']} = {s['length_frames']} frames ({s['length_audio_s']:.2f} s of audio)"
        q = c["quality"]
        lines = [
            ("speed-up", f"{s['speedup']:.2f}x: {c['runtime']} {c['spread']} vs {b['runtime']} {b['spread']} "
                         f"{at}; {c['device']}"),
            ("throughput", f"{s['throughput_gain']:.2f}x: {c['max_requests_per_s']:.1f} req/s (batch {c['at_batch']}) "
                           f"vs {b['max_requests_per_s']:.1f} req/s (batch {b['at_batch']}) {at}"),
        ]
        if "time_saved_s_per_audio_hour" in s:
            lines.append(("time saved", f"{s['time_saved_s_per_audio_hour']:.1f} s of compute per hour of audio "
                                        f"({c['runtime']} instead of {b['runtime']}, from p50 {at})"))
        lines += [
            ("similarity", f"cosine {_fmt(q['cosine'], '.6f')} vs torch-eager fp32 (worst clip; "
                           f"{c['quality_runtime']['name']} {c['quality_runtime']['precision']})"),
            ("MSE", f"{_fmt(q['mse'], '.3e')}, SNR {_fmt(q['snr_db'], '.1f')} dB (same runtime, same clips)"),
        ]
        if c["quality_note"]:
            lines.append(("quality", c["quality_note"]))
        for label, text in lines:
            console.print(f"  {label:<11} {text}", markup=False)
    console.print(f"verdict: {s['verdict']}", markup=False)
    for line in s["not_credited"]:
        console.print(f"  not credited: {line}", markup=False)
    for line in s.get("anomalies", []):
        console.print(f"  check this: {line}", markup=False)
    console.print(runtime_table(report))
    for key, why in s["skipped"].items():
        console.print(f"  {key}: not measured: {why}", markup=False)
    if report["vocoder"]["random_weights"]:
        console.print("note: RANDOM weights: speed is representative, quality numbers are of an untrained vocoder",
                      markup=False)


def runtime_table(report: dict) -> Table:
    """p50 latency and x real time of every runtime at every length, with the device it ran on."""
    runtimes = [r for r in report["bench"]["runtimes"] if ran(r)]
    names = []
    for r in runtimes:
        names += [l["name"] for l in r["lengths"] if l["name"] not in names]
    table = Table(title="latency p50 (x real time)", title_justify="left")
    table.add_column("runtime")
    table.add_column("device")
    for n in names:
        table.add_column(n, justify="right")
    for r in runtimes:
        cells = []
        for n in names:
            l = _length(r, n)
            cells.append(f"{l['timing']['p50_ms']:.2f} ms ({l['x_real_time']:.3g}x)" if l else "-")
        table.add_row(f"{r['name']} {r['precision']}", r["info"]["device"], *cells)
    return table


def print_quality(scores: list[dict], console: Console | None = None) -> None:
    """One row per scored runtime with its verdict, then the bar it was held to."""
    console = console or output_console()
    table = Table(title="quality vs torch-eager fp32", title_justify="left")
    for col in ("candidate", "runtime", "cosine", "MSE", "SNR dB", "log-mel L1", "MR-STFT", "gate"):
        table.add_column(col, justify="left" if col in ("candidate", "runtime", "gate") else "right")
    for q in scores:
        w, info = q["worst"], q["runtime"]
        runtime = f"{info['name']} {info['precision']} on {info['device']}" if info else "-"
        verdict = "PASS" if q["passed"] else "FAIL"
        table.add_row(q["label"], runtime, _fmt(w.get("cosine"), ".6f"), _fmt(w.get("mse"), ".3e"),
                      _fmt(w.get("snr_db"), ".1f"), _fmt(w.get("log_mel_l1")), _fmt(w.get("mr_stft")), verdict)
    console.print(table)
    for q in scores:
        bars = {c["gate"]["thresholds"]["source"]: c["gate"]["thresholds"] for c in q["clips"]}
        for t in bars.values():
            console.print(f"  {q['label']}: bar SNR >= {t['min_snr_db']:.1f} dB, cosine >= {t['min_cosine']:.6f}, "
                          f"log-mel L1 <= {t['max_log_mel_l1']:.4g}, MR-STFT <= {t['max_mr_stft']:.4g} "
                          f"({t['source']})", markup=False)
        if not q["passed"]:
            console.print(f"  {q['label']}: " + "; ".join(q["reasons"]), markup=False)
        if q["note"]:
            console.print(f"  {q['label']}: {q['note']}", markup=False)
