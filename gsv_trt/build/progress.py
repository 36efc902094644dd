"""What a build says while it runs: TensorRT's log (warnings and errors, kept for the error message) and its
progress phases (``IProgressMonitor``) as rich progress bars on a terminal, or one line per major phase in a log
file or CI. A v3 engine takes from seconds (TensorRT-RTX, ahead of time) to minutes (full TensorRT timing tactics).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LOGGED_DEPTH = 2  # without a terminal, print phases this deep (0 = top level only)


class BuildConsole:
    """Messages on stderr; TensorRT loggers and progress monitors that write through it."""

    def __init__(self, verbose: bool = False, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        self.verbose = verbose
        self._progress: Progress | None = None
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def building(self) -> Iterator[None]:
        """Progress bars for the duration of one ``build_serialized_network``."""
        self._started = time.perf_counter()
        if not self.console.is_terminal:
            yield
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            self._progress = progress
            try:
                yield
            finally:
                self._progress = None

    def trt_logger(self, trt):
        """A ``trt.ILogger`` that prints warnings (everything with ``verbose``) and keeps errors for the exception
        that reports them."""
        console = self
        verbose = self.verbose

        class Logger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)
                self.errors: list[str] = []

            def log(self, severity, msg):
                is_error = int(severity) <= int(trt.ILogger.Severity.ERROR)
                if is_error:
                    self.errors.append(msg)
                if verbose or (not is_error and int(severity) <= int(trt.ILogger.Severity.WARNING)):
                    console.say(f"[{trt.__name__} {severity.name}] {msg}")

            def last_error(self) -> str | None:
                return self.errors[-1] if self.errors else None

        return Logger()

    def progress_monitor(self, trt):
        """A ``trt.IProgressMonitor`` feeding the bars (or phase lines) of ``building``."""
        console = self

        class Monitor(trt.IProgressMonitor):
            def __init__(self):
                trt.IProgressMonitor.__init__(self)
                self.tasks: dict[str, int] = {}
                self.depth: dict[str, int] = {}

            def phase_start(self, phase_name, parent_phase, num_steps):
                with console._lock:
                    depth = self.depth.get(parent_phase, -1) + 1 if parent_phase else 0
                    self.depth[phase_name] = depth
                    if console._progress is not None:
                        self.tasks[phase_name] = console._progress.add_task("  " * depth + phase_name,
                                                                            total=num_steps)
                    elif depth <= LOGGED_DEPTH:
                        elapsed = time.perf_counter() - console._started
                        console.say(f"  {elapsed:7.1f} s  {'  ' * depth}{phase_name}")

            def step_complete(self, phase_name, step):
                with console._lock:
                    if console._progress is not None and phase_name in self.tasks:
                        console._progress.update(self.tasks[phase_name], completed=step + 1)
                return True

            def phase_finish(self, phase_name):
                with console._lock:
                    task = self.tasks.pop(phase_name, None)
                    if console._progress is not None and task is not None:
                        console._progress.remove_task(task)
                    elif console._progress is None and self.depth.get(phase_name) == 0:
                        elapsed = time.perf_counter() - console._started
                        console.say(f"  {elapsed:7.1f} s  {phase_name}: done")

        return Monitor()
