"""Progress of a sweep: a bar on a terminal, plain log lines otherwise.

Two kinds of work are shown. Phases (``with progress.phase("compiling ZPG"):``) are timed: a
line when each starts and when it ends, with its seconds (on a terminal, the bar's text with an
elapsed clock that ticks while the phase runs: compiling is often most of a short sweep).
Chunks are counted over the whole sweep (every cell, batch and chunk), with an ETA from the mean
time of the chunks computed in this invocation (chunks found finished on disk count as done and
take no time); no ETA is shown before a chunk has been timed or when under a second is left
(never "ETA 0:00:00"), and no chunk count before the total is known (never "0/0 chunks").
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """``phase(text)`` around timed work (compiling); ``cell(i, name)`` when a cell starts;
    ``skipped(n)`` for chunks found finished; ``done(seconds)`` after each computed chunk;
    ``close()`` at the end. ``total`` (chunks) may be set once it is known."""

    def __init__(
        self,
        total_chunks: int,
        num_cells: int,
        stream=None,
        enabled: bool = True,
        width: int = 24,
        tick: float = 1.0,
    ):
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.cells, self.enabled, self.width = total_chunks, num_cells, enabled, width
        self.finished = self.computed = 0
        self.compute_seconds = 0.0
        self.current = ""
        self.started = time.perf_counter()
        self.tick = tick
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        if self.enabled and not self.tty:
            print(f"zoprl: {text}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """A status message: a line, or the bar's current text on a terminal."""
        self.current = message
        self._line(message)
        self._draw()

    @contextlib.contextmanager
    def phase(self, text: str):
        """Time the ``with`` block as ``text`` (module doc)."""
        before, self.current = self.current, text
        self._line(f"{text} ...")
        stop = threading.Event()
        ticker = None
        if self.enabled and self.tty:
            ticker = threading.Thread(target=self._ticking, args=(stop,), daemon=True)
            ticker.start()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            self._line(f"{text}: done in {time.perf_counter() - t0:.1f} s")
            self.current = before
            self._draw()

    def _ticking(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick):
            self._draw()

    def cell(self, index: int, name: str) -> None:
        self.current = f"cell {index + 1}/{self.cells} {name}"
        self._line(self.current)

    def skipped(self, count: int) -> None:
        """``count`` chunks found finished on disk (resumed)."""
        self.finished += count
        if count:
            self._line(f"{self.current}: {count} finished chunks found, resuming")
        self._draw()

    def done(self, seconds: float, what: str = "") -> None:
        self.finished += 1
        self.computed += 1
        self.compute_seconds += seconds
        self._line(f"{self.current} {what} ({seconds:.1f} s; {self._count()}{self._eta(';')})")
        self._draw()

    def eta(self) -> float | None:
        """Seconds left, from the mean time of the chunks computed so far; None before the
        first, when none is left, or when under a second is."""
        left = self.total - self.finished
        if not self.computed or left <= 0:
            return None
        eta = self.compute_seconds / self.computed * left
        return eta if eta >= 0.5 else None

    def _eta(self, separator: str) -> str:
        eta = self.eta()
        return "" if eta is None else f"{separator} ETA {clock(eta)}"

    def _count(self) -> str:
        return f"{self.finished}/{self.total} chunks" if self.total else ""

    def _draw(self) -> None:
        if not (self.enabled and self.tty):
            return
        elapsed = f"elapsed {clock(time.perf_counter() - self.started)}"
        if self.total:
            filled = int(self.width * self.finished / self.total)
            head = f"[{'#' * filled}{'.' * (self.width - filled)}] {self._count()}  "
        else:
            head = ""
        with self._lock:
            print(
                f"\r{head}{self.current:<40.40} {elapsed}{self._eta(' ')}\033[K",
                end="",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=self.stream, flush=True)
