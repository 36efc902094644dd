"""Where the terminal summaries print: rich's own width on a terminal; on a pipe or in a log, lines as long as
their content, because rich would otherwise cut tables to 80 columns there."""

from __future__ import annotations

from rich.console import Console

UNBOUNDED = 10_000  # columns: wide enough for any table; tables are not expanded, so they keep their own width


def output_console() -> Console:
    """A Console for stdout that never truncates what it prints."""
    console = Console()
    return console if console.is_terminal else Console(width=UNBOUNDED)


def heading(console: Console, title: str) -> None:
    """A rule across a terminal; a plain line elsewhere (a rule would be UNBOUNDED wide)."""
    if console.is_terminal:
        console.rule(title)
    else:
        console.print(f"── {title} ──", markup=False)
