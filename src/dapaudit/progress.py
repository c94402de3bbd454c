"""Progress for long work: a one-line counter on a terminal, silence otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

# Work shorter than this shows nothing, so quick commands stay quiet.
DELAY_SECONDS = 1.0


def progress_printer(label: str, stream=None) -> Callable[[str, int, int], None] | None:
    """A callback (stage, done, total) that redraws one stderr line; None when not a TTY."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    started = time.monotonic()
    shown = False

    def update(stage: str, done: int, total: int) -> None:
        nonlocal shown
        if time.monotonic() - started < DELAY_SECONDS and done < total:
            return
        if not shown and done >= total and time.monotonic() - started < DELAY_SECONDS:
            return
        shown = True
        width = 30
        filled = int(width * done / total) if total else width
        stream.write(f"\r{label} ({stage}) [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return update
