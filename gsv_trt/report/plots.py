"""PNG plots of a report (matplotlib, Agg: no display needed). Titles carry the machine and the weights, so a plot
that travels alone still says what produced it."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .summary import headline_length, ran  # noqa: E402


def _subtitle(report: dict) -> str:
    weights = "RANDOM weights" if report["vocoder"]["random_weights"] else report["vocoder"]["provenance"]
    return f"{report['vocoder']['version']} | {report['bench']['environment']['label']} | {weights}"


def latency_plot(report: dict, path: Path) -> Path | None:
    """p50 latency against audio length with its p5-p95 range, one series per runtime, and the real-time line
    (latency = audio length). Points are joined only when three or more lengths were measured: two points are no
    trend. Log-log, because GPU runtimes take milliseconds where CPU ones take seconds."""
    runtimes = [r for r in report["bench"]["runtimes"] if ran(r)]
    if not runtimes:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    lengths = sorted({l["audio_s"] for r in runtimes for l in r["lengths"]})
    for r in runtimes:
        pts = sorted((l["audio_s"], *np.percentile(l["timing"]["samples_ms"], [5, 50, 95])) for l in r["lengths"])
        x, p5, p50, p95 = (np.array(v) for v in zip(*pts))
        style = "--" if r["role"] == "upstream" else "-"
        line = ax.errorbar(x, p50, yerr=[p50 - p5, p95 - p50], fmt="o", capsize=3, markersize=4,
                           label=f"{r['name']} {r['precision']} ({r['info']['device']})")
        if len(x) >= 3:
            ax.plot(x, p50, style, color=line[0].get_color(), linewidth=1, alpha=0.7)
    span = np.array([lengths[0] / 1.5, lengths[-1] * 1.5])
    ax.plot(span, span * 1e3, color="black", linewidth=1, linestyle=":",
            label="real time: latency = audio length (below: faster than real time)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(lengths, [f"{v:g}" for v in lengths])
    ax.set_xlabel("audio length (s)")
    ax.set_ylabel("latency, batch 1 (ms): p50, bars p5-p95")
    ax.set_title(f"Vocoder latency vs audio length ({report['bench']['settings']['repeats']} calls per point)\n"
                 f"{_subtitle(report)}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def throughput_plot(report: dict, path: Path) -> Path | None:
    """Requests per second against batch size at the headline length."""
    runtimes = [r for r in report["bench"]["runtimes"] if ran(r)]
    name = headline_length(runtimes)
    series = [(r, l) for r in runtimes for l in r["lengths"] if l["name"] == name]
    if not series or all(len(l["throughput"]) < 2 for _, l in series):
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for r, l in series:
        pts = [(t["batch"], t["requests_per_s"]) for t in l["throughput"]]
        ax.plot(*zip(*pts), marker="o", label=f"{r['name']} {r['precision']}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("requests / s")
    ax.set_title(f"Throughput at '{name}' ({series[0][1]['frames']} frames)\n{_subtitle(report)}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _num(x) -> float:
    if isinstance(x, str):
        return math.inf if x == "inf" else math.nan
    return math.nan if x is None else float(x)


QUALITY_PANELS = (("snr_db", "min_snr_db", "SNR vs fp32 (dB, higher is better)"),
                  ("log_mel_l1", "max_log_mel_l1", "log-mel L1 (lower is better)"),
                  ("mr_stft", "max_mr_stft", "MR-STFT distance (lower is better)"))


def quality_plot(report: dict, path: Path) -> Path | None:
    """Each scored runtime's worst-clip metric (coloured: green passed, red failed) beside the bar it was held to
    (grey: upstream's eager fp16 against fp32, with the gate's margin), on linear scales, so bar lengths compare."""
    scores = [q for q in report.get("quality", []) if q["clips"]]
    if not scores:
        return None
    fig, axes = plt.subplots(1, len(QUALITY_PANELS), figsize=(4.5 * len(QUALITY_PANELS) + 1, 4.8))
    width = 0.38
    x = np.arange(len(scores))
    for ax, (metric, bar_key, title) in zip(axes, QUALITY_PANELS):
        values = [_num(q["worst"].get(metric)) for q in scores]
        bars = [_worst_bar(q, bar_key) for q in scores]
        top = max([v for v in values + bars if math.isfinite(v)] + [1e-12])
        shown = [v if math.isfinite(v) else top for v in values]
        colors = ["tab:green" if q["passed"] else "tab:red" for q in scores]
        ax.bar(x - width / 2, bars, width, color="0.75", label="bar: upstream eager fp16 vs fp32 (+ margin)")
        drawn = ax.bar(x + width / 2, shown, width, color=colors, label="candidate (green pass, red fail)")
        for patch, v in zip(drawn, values):
            if not math.isfinite(v):  # identical audio (SNR inf) or no number: a hatched stand-in, labelled
                patch.set_hatch("//")
        for i, (v, b) in enumerate(zip(values, bars)):
            text = "identical" if v == math.inf else "n/a" if not math.isfinite(v) else f"{v:.3g}"
            ax.text(i + width / 2, shown[i], text, ha="center", va="bottom", fontsize=7)
            ax.text(i - width / 2, b, f"{b:.3g}", ha="center", va="bottom", fontsize=7, color="0.35")
        ax.set_ylim(0, top * 1.15)
        ax.set_xlim(-1, len(scores))
        ax.set_xticks(x, [q["label"] for q in scores], rotation=30, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="upper right", ncol=2)
    fig.suptitle(f"Quality vs torch-eager fp32, worst clip, beside the bar each was held to\n{_subtitle(report)}",
                 fontsize=9, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _worst_bar(score: dict, key: str) -> float:
    """The strictest bar over the clips (bars measured live differ per clip)."""
    values = [float(c["gate"]["thresholds"][key]) for c in score["clips"]]
    return max(values) if key.startswith("min_") else min(values)


def write_plots(report: dict, directory: Path) -> list[Path]:
    made = [latency_plot(report, directory / "latency_vs_length.png"),
            throughput_plot(report, directory / "throughput_vs_batch.png"),
            quality_plot(report, directory / "quality.png")]
    return [p for p in made if p is not None]
