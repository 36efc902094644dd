"""PNG plots of a report (matplotlib, Agg: no display needed). Titles carry the machine and the weights, so a plot
that travels alone still says what produced it."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .summary import headline_length, ran  # noqa: E402


def _subtitle(report: dict) -> str:
    weights = "RANDOM weights" if report["vocoder"]["random_weights"] else report["vocoder"]["provenance"]
    return f"{report['vocoder']['version']} | {report['bench']['environment']['label']} | {weights}"


def latency_plot(report: dict, path: Path) -> Path | None:
    """p50 latency against audio length, one line per runtime (log-log: launch-bound at the left, linear after)."""
    runtimes = [r for r in report["bench"]["runtimes"] if ran(r)]
    if not runtimes:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in runtimes:
        pts = sorted((l["audio_s"], l["timing"]["p50_ms"]) for l in r["lengths"])
        style = "--" if r["role"] == "upstream" else "-"
        ax.plot(*zip(*pts), style, marker="o", label=f"{r['name']} {r['precision']} ({r['info']['device']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("audio length (s)")
    ax.set_ylabel("latency p50, batch 1 (ms)")
    ax.set_title(f"Vocoder latency vs audio length\n{_subtitle(report)}", fontsize=9)
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


def quality_plot(report: dict, path: Path) -> Path | None:
    """Each scored runtime's worst-clip metrics against the bar it was held to (the bar is the red tick)."""
    scores = [q for q in report.get("quality", []) if q["clips"]]
    if not scores:
        return None
    panels = [("snr_db", "min_snr_db", "SNR vs fp32 (dB, higher is better)"),
              ("log_mel_l1", "max_log_mel_l1", "log-mel L1 (lower is better)"),
              ("mr_stft", "max_mr_stft", "MR-STFT distance (lower is better)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels) + 1, 4.5))
    labels = [q["label"] for q in scores]
    for ax, (metric, bar_key, title) in zip(axes, panels):
        values = [_num(q["worst"].get(metric)) for q in scores]
        shown = [v if math.isfinite(v) else 0.0 for v in values]
        colors = ["tab:green" if q["passed"] else "tab:red" for q in scores]
        ax.bar(range(len(scores)), shown, color=colors)
        for i, q in enumerate(scores):
            bar = q["clips"][0]["gate"]["thresholds"][bar_key]
            ax.plot([i - 0.4, i + 0.4], [bar, bar], color="black", linewidth=2)
            if not math.isfinite(values[i]):
                ax.text(i, 0, "identical" if values[i] == math.inf else "n/a", ha="center", va="bottom", fontsize=7)
        if metric != "snr_db" and all(v > 0 for v in shown):
            ax.set_yscale("log")  # errors span decades between precisions
        ax.set_xticks(range(len(scores)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"Quality vs torch-eager fp32 (worst clip; black line = gate bar; green = pass)\n{_subtitle(report)}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(report: dict, directory: Path) -> list[Path]:
    made = [latency_plot(report, directory / "latency_vs_length.png"),
            throughput_plot(report, directory / "throughput_vs_batch.png"),
            quality_plot(report, directory / "quality.png")]
    return [p for p in made if p is not None]
