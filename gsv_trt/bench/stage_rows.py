"""Rows of the CFM and synthesis benchmarks: how one mode is timed, how it is set against upstream eager fp16, and
the three places the rows go (a table on stdout, JSON lines and a markdown table in the report directory).

One row = one input (e.g. "v4 B1 T1000 32 steps") run by one mode. Timing is bench/timing.py's (CUDA events on a
GPU, perf_counter on a CPU); the first call is timed apart (capture, compile, allocation). A speed verdict is drawn
only where the p5-p95 ranges of the mode and of upstream eager fp16 do not overlap (report/verdict.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from ..report.console import heading, output_console
from ..report.writer import _json_safe
from ..report.verdict import MIN_REPEATS, Spread, compare
from .environment import Environment
from .timing import time_calls

BASELINE = "upstream-fp16"  # every ratio and verdict is against upstream's eager fp16 (is_half)


def machine(env: Environment) -> dict:
    """What every row carries about where it ran: GPU (or CPU), driver, torch and Triton versions."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    return {"device": env.device, "machine": env.label, "gpu": env.device_name if env.has_gpu else None,
            "driver": env.cuda_driver, "torch": env.torch, "triton": triton_version}


def sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


def measure(call: Callable[[], object], repeats: int, cuda: bool) -> tuple[object, dict]:
    """(the first call's result, timings): the first call in seconds (wall, synced), then ``repeats`` timed calls."""
    start = time.perf_counter()
    out = call()
    sync(cuda)
    first = time.perf_counter() - start
    timing = time_calls(call, repeats, 0, cuda).to_dict()
    spread = Spread.of(timing)
    return out, {"first_call_s": round(first, 3), "p50_ms": spread.p50, "p5_ms": spread.p5, "p95_ms": spread.p95,
                 "calls": spread.n, "samples_ms": timing["samples_ms"], "timing": timing["method"]}


PART_KEYS = ("front_end", "cfm", "vocoder", "crossfade")  # the synthesis stage's per-part breakdown


def progress_line(result: dict) -> str:
    """The row's time as soon as it is measured, so a run stopped at a time limit still shows what it measured."""
    if result.get("status") != "ran":
        return f"  {result.get('status')}: {result.get('reason', '')}"
    parts = ", ".join(f"{k[:-3].replace('_', ' ')} {v:.1f}" for k, v in result.items()
                      if k.endswith("_ms") and k[:-3] in PART_KEYS)
    first = f", first audio {result['first_audio_p50_ms']:.1f} ms" if "first_audio_p50_ms" in result else ""
    return f"  p50 {result['p50_ms']:.2f} ms (p5-p95 {result['p5_ms']:.2f}-{result['p95_ms']:.2f}), " \
           f"first call {result['first_call_s']} s" + (f"; parts ms: {parts}" if parts else "") + first


def skipped(row: dict, why: str) -> dict:
    return row | {"status": "skipped", "reason": why}


def failed(row: dict, error: BaseException) -> dict:
    text = str(error).splitlines()[0] if str(error) else ""
    return row | {"status": "error", "reason": f"{type(error).__name__}: {text}"[:300]}


def against_baseline(rows: list[dict], baseline_of: Callable[[dict], str | None] = lambda row: BASELINE,
                     min_calls: int = MIN_REPEATS, ratio_key: str = "x_vs_upstream_fp16") -> None:
    """Per input, each measured row's ratio (baseline p50 / its p50) to its baseline mode (upstream eager fp16
    unless ``baseline_of`` says otherwise) and, where both have ``min_calls`` calls, a verdict that needs the
    difference to exceed both p5-p95 spreads."""
    for row in rows:
        mode = baseline_of(row)
        base = next((r for r in rows if r["input"] == row["input"] and r["mode"] == mode and r["status"] == "ran"),
                    None)
        if row["status"] != "ran" or base is None or row is base:
            continue
        row[ratio_key] = round(base["p50_ms"] / row["p50_ms"], 3)
        if min(base["calls"], row["calls"]) < min_calls:
            row["verdict"] = f"no verdict (fewer than {min_calls} calls)"
            continue
        outcome = compare(Spread(base["p5_ms"], base["p50_ms"], base["p95_ms"], base["calls"]),
                          Spread(row["p5_ms"], row["p50_ms"], row["p95_ms"], row["calls"]))
        row["verdict"] = {"faster": "faster", "slower": "slower"}.get(outcome, "within spread")


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if key not in ("p50_ms", "p5_ms", "p95_ms") else f"{value:.2f}"
    return str(value)


def spread_cell(row: dict) -> str:
    return f"{row['p5_ms']:.2f}-{row['p95_ms']:.2f}" if row["status"] == "ran" else "-"


def table_rows(rows: list[dict], columns: list[tuple[str, str]]) -> list[list[str]]:
    """Cells per row: ``columns`` are (header, key); skipped and failed rows say why in the last column."""
    out = []
    for r in rows:
        cells = [spread_cell(r) if key == "spread" else _cell(r, key) for _, key in columns]
        out.append(cells + [r.get("reason") or r.get("note") or ""])
    return out


def print_rows(title: str, rows: list[dict], columns: list[tuple[str, str]], footer: list[str]) -> None:
    """The table on stdout (whole, never cut to 80 columns when piped), then the footer lines."""
    from rich.table import Table

    console = output_console()
    heading(console, title)
    table = Table()
    for header, _ in columns:
        table.add_column(header, justify="left" if header in ("input", "mode", "gate", "verdict") else "right")
    table.add_column("notes")
    for cells in table_rows(rows, columns):
        table.add_row(*cells)
    console.print(table)
    for line in footer:
        console.print(line, markup=False)


def markdown_rows(title: str, rows: list[dict], columns: list[tuple[str, str]], header: list[str],
                  level: str = "#") -> list[str]:
    """The rows as a markdown section: title, header lines, one table."""
    heads = [h for h, _ in columns] + ["notes"]
    lines = [f"{level} {title}", "", *[f"- {h}" for h in header], ""]
    lines += ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
    return lines + ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |"
                    for cells in table_rows(rows, columns)] + [""]


def write_rows(directory: Path, name: str, result: dict) -> None:
    """``directory/{name}.jsonl`` (one line per row) and ``{name}.md`` from a suite's result."""
    with open(directory / f"{name}.jsonl", "w") as f:
        for row in result["rows"]:
            f.write(json.dumps(_json_safe(row)) + "\n")
    (directory / f"{name}.md").write_text("\n".join(
        markdown_rows(result["title"], result["rows"], result["columns"], result["header"])))
