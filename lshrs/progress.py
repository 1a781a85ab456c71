"""A one-line progress report on stderr (rows done, rows/s), shown when interactive."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label: done/total rows, rate rows/s`` at most a few times a second.

    Args:
        label: what is being done, e.g. ``"indexing"``.
        total: expected rows, if known.
        stream: where to write; defaults to stderr.
        enabled: None shows it only when the stream is a terminal.

    Example:
        >>> progress = Progress("indexing", total=10, enabled=False)
        >>> progress.update(4)
        >>> progress.done
        4
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self.started = time.perf_counter()
        self._last_shown = 0.0

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, rows: int) -> None:
        """Count ``rows`` more rows done."""
        self.done += rows
        now = time.perf_counter()
        if self.enabled and now - self._last_shown >= 0.25:
            self._last_shown = now
            self._show(end="\r")

    def close(self) -> None:
        """Print the final line."""
        if self.enabled:
            self._show(end="\n")

    def _show(self, end: str) -> None:
        total = f"/{self.total:,}" if self.total is not None else ""
        self.stream.write(f"{self.label}: {self.done:,}{total} rows, {self.rate:,.0f} rows/s{end}")
        self.stream.flush()
