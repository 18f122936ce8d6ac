"""Progress of a sweep: a bar on a terminal, plain log lines otherwise.

Counts chunks over the whole sweep (every cell, batch and chunk), shows the current cell and an
ETA from the mean time of the chunks computed in this invocation (chunks found finished on disk
count as done and take no time).
"""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """``done(n)`` after n finished chunks; ``cell(i, name)`` when a cell starts; ``close()``."""

    def __init__(
        self, total_chunks: int, num_cells: int, stream=None, enabled: bool = True, width: int = 24
    ):
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.cells, self.enabled, self.width = total_chunks, num_cells, enabled, width
        self.finished = self.computed = 0
        self.compute_seconds = 0.0
        self.current = ""
        self.started = time.perf_counter()

    def note(self, message: str) -> None:
        """A status message (e.g. compiling): a line, or the bar's current text on a terminal."""
        if not self.enabled:
            return
        if self.tty:
            self.current = message
            self._draw()
        else:
            print(f"zoprl: {message}", file=self.stream, flush=True)

    def cell(self, index: int, name: str) -> None:
        self.current = f"cell {index + 1}/{self.cells} {name}"
        if self.enabled and not self.tty:
            print(f"zoprl: {self.current}", file=self.stream, flush=True)

    def skipped(self, count: int) -> None:
        """``count`` chunks found finished on disk (resumed)."""
        self.finished += count
        if self.enabled and count and not self.tty:
            print(
                f"zoprl: {self.current}: {count} finished chunks found, resuming",
                file=self.stream,
                flush=True,
            )
        self._draw()

    def done(self, seconds: float, what: str = "") -> None:
        self.finished += 1
        self.computed += 1
        self.compute_seconds += seconds
        if self.enabled and not self.tty:
            print(
                f"zoprl: {self.current} {what} ({seconds:.1f} s; {self.finished}/{self.total} "
                f"chunks; ETA {_clock(self.eta())})",
                file=self.stream,
                flush=True,
            )
        self._draw()

    def eta(self) -> float:
        if not self.computed:
            return 0.0
        return self.compute_seconds / self.computed * (self.total - self.finished)

    def _draw(self) -> None:
        if not (self.enabled and self.tty):
            return
        filled = int(self.width * self.finished / max(1, self.total))
        bar = "#" * filled + "." * (self.width - filled)
        print(
            f"\r[{bar}] {self.finished}/{self.total} chunks  {self.current:<32.32} "
            f"elapsed {_clock(time.perf_counter() - self.started)}  ETA {_clock(self.eta())}",
            end="",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=self.stream, flush=True)
