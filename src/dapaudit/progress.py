"""Progress for long work: a one-line bar on a terminal, silence otherwise.

Library code reports progress through a plain callback `(stage, done, total)`; the CLI
passes the one made here. Nothing is drawn when the stream is not a terminal (pipes, CI,
files) or until the work has run for DELAY_SECONDS, so quick commands stay quiet.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

# Work shorter than this shows nothing, so quick commands stay quiet.
DELAY_SECONDS = 1.0
# Redraw at most this often: a bar over 100,000 tenants must not cost more than the work.
REDRAW_SECONDS = 0.1
WIDTH = 30

ProgressFn = Callable[[str, int, int], None]


class ProgressBar:
    """Draws `label (stage) [####....] done/total  pct  elapsed  eta` on one line."""

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        delay: float = DELAY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        eta: bool = True,
    ) -> None:
        self.label = label
        self.eta = eta
        self.stream = stream
        self.delay = delay
        self.clock = clock
        self.started = clock()
        self.last_draw = float("-inf")
        self.shown = False
        self.width = 0  # of the last line drawn, to blank it fully on redraw

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        elapsed = now - self.started
        finished = total > 0 and done >= total
        if elapsed < self.delay:
            return  # quick work (even when it finishes now) shows nothing
        if not finished and now - self.last_draw < REDRAW_SECONDS:
            return
        self.last_draw = now
        self.shown = True
        line = self.line(stage, done, total, elapsed)
        self.stream.write("\r" + line.ljust(self.width))
        self.width = len(line)
        if finished:
            self.stream.write("\n")
            self.width = 0
        self.stream.flush()

    def line(self, stage: str, done: int, total: int, elapsed: float) -> str:
        fraction = min(1.0, done / total) if total > 0 else 0.0
        filled = int(WIDTH * fraction)
        text = (
            f"{self.label} ({stage}) [{'#' * filled}{'.' * (WIDTH - filled)}] "
            f"{done:,}/{total:,} {fraction:4.0%} {_clock(elapsed)}"
        )
        if self.eta and 0 < done < total:
            text += f" eta {_clock(elapsed * (total - done) / done)}"
        return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def progress_printer(
    label: str,
    stream: TextIO | None = None,
    *,
    delay: float = DELAY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    eta: bool = True,
) -> ProgressFn | None:
    """A callback (stage, done, total) that redraws one line; None when not a terminal.
    `eta=False` for steps of unlike lengths, where done/total foretells nothing."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    return ProgressBar(label, stream, delay=delay, clock=clock, eta=eta)


class Ticking:
    """`progress` called again every `interval` seconds with the last (stage, done, total)
    until the work is done: a step with no counts of its own (the layout of a PDF) still
    shows the bar once DELAY_SECONDS have passed, and its clock moves. Use it in a `with`."""

    def __init__(self, progress: ProgressFn, interval: float = 0.5) -> None:
        self.progress = progress
        self.interval = interval
        self.state: tuple[str, int, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="dapaudit-progress", daemon=True)

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self.state = (stage, done, total)
            self.progress(stage, done, total)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self.state is not None and self.state[1] < self.state[2]:
                    self.progress(*self.state)

    def __enter__(self) -> Ticking:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
