"""The benchmark runner shared by every suite.

Each case warms up once (JIT compilation), then times the median of ``repeat`` runs of numopt and of the
peer on the same input in the same process, checks the two answers agree, and prints one row:
``case, size, numopt_s, peer, peer_s, ratio (peer_s / numopt_s), accuracy, peak memory``.
Peak memory (:func:`peak_memory`) is the high-water mark of the bytes allocated during one extra,
untimed call, traced by ``tracemalloc`` (NumPy reports its array allocations to it, Numba kernels here
write into preallocated NumPy arrays); :class:`PeakRSS` is the cruder resident-set growth.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import threading
import time
from typing import Callable

__all__ = ["Row", "median_time", "peak_memory", "PeakRSS", "print_rows", "mib"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # pragma: no cover - not Linux
        return 0


class PeakRSS:
    """Context manager measuring the peak growth of the resident set size (bytes) inside the block."""

    def __init__(self, interval: float = 1e-3):
        self.interval = interval
        self.peak = 0

    def __enter__(self):
        self._base = _rss_bytes()
        self._max = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self._max = max(self._max, _rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, _rss_bytes())
        self.peak = self._max - self._base
        return False


def peak_memory(fn: Callable[[], object]) -> int:
    """Bytes allocated at the high-water mark of one call of ``fn`` (tracemalloc), the inputs excluded."""
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, clock=time.perf_counter):
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times; return (median seconds, last output).
    ``clock`` is wall time by default (``time.process_time`` for CPU seconds)."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeat):
        t = clock()
        out = fn()
        times.append(clock() - t)
    return statistics.median(times), out


@dataclasses.dataclass
class Row:
    case: str
    size: str
    numopt_s: float
    peer: str
    peer_s: float
    accuracy: str
    memory: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.peer_s / self.numopt_s if self.numopt_s > 0 else float("nan")


_HEADER = ("case", "size", "numopt_s", "peer", "peer_s", "ratio", "accuracy", "peak_mem", "note")
_WIDTHS = (28, 36, 10, 26, 10, 9, 30, 12, 0)


def _fmt_time(t: float) -> str:
    return "n/a" if t != t else f"{t:.4f}"


def print_rows(rows: list[Row], stream=None) -> None:
    """Print rows as a fixed-width table (also readable as whitespace-separated text)."""
    import sys

    stream = stream or sys.stdout
    line = "".join(h.ljust(w) if w else h for h, w in zip(_HEADER, _WIDTHS))
    stream.write(line + "\n")
    for r in rows:
        cells = (r.case, r.size, _fmt_time(r.numopt_s), r.peer, _fmt_time(r.peer_s), f"{r.ratio:.2f}x",
                 r.accuracy, r.memory, r.note)
        stream.write("".join(str(c).ljust(w) if w else str(c) for c, w in zip(cells, _WIDTHS)) + "\n")
    stream.flush()


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"
