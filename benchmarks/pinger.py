"""A second client that PINGs Redis in a tight loop while a call runs: the worst round
trip it sees is how long the call kept Redis from serving anyone else."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

PING_GAP_S = 0.0002
PINGER_STARTUP_S = 60.0
SLOWLOG_US = 200
"""Redis logs commands slower than this (µs) during a measurement."""


def _ping_loop(url: str, ready: Any, recording: Any, stop: Any, worst: Any, pings: Any) -> None:
    """PING on a connection of its own while ``recording`` is set; keep the worst."""
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    while not stop.is_set():
        if not recording.wait(0.05):
            continue
        start = time.perf_counter()
        client.ping()
        rtt = time.perf_counter() - start
        with worst.get_lock():
            worst.value = max(worst.value, rtt)
            pings.value += 1
        time.sleep(PING_GAP_S)
    client.close()


class PingMonitor:
    """A second client in a process of its own (so the GIL of the measured process
    adds nothing) PINGs Redis in a loop; :meth:`measure` reports the worst round trip
    during a call, and the slowest command Redis itself logged (SLOWLOG)."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        self.recording = context.Event()
        self.stop = context.Event()
        self.worst = context.Value("d", 0.0)
        self.pings = context.Value("q", 0)
        self.process = context.Process(
            target=_ping_loop,
            args=(url, ready, self.recording, self.stop, self.worst, self.pings),
            daemon=True,
        )
        self.client = redis.Redis.from_url(url)
        self.client.config_set("slowlog-log-slower-than", SLOWLOG_US)
        self.client.config_set("slowlog-max-len", 10_000)
        self.process.start()
        if not ready.wait(PINGER_STARTUP_S):
            raise RuntimeError("the PING process did not start")

    def measure(self, call: Callable[[], object]) -> dict[str, Any]:
        with self.worst.get_lock():
            self.worst.value, self.pings.value = 0.0, 0
        self.client.slowlog_reset()
        self.recording.set()
        time.sleep(0.05)
        start = time.perf_counter()
        call()
        seconds = time.perf_counter() - start
        self.recording.clear()
        time.sleep(0.05)
        slow = self.client.slowlog_get(10_000)
        longest = max(slow, key=lambda entry: entry["duration"], default=None)
        return {
            "call_ms": round(seconds * 1000, 1),
            "worst_ping_ms": round(self.worst.value * 1000, 2),
            "pings": int(self.pings.value),
            "redis_slowest_ms": round(longest["duration"] / 1000, 2) if longest else None,
            "redis_slowest_command": _command_name(longest),
            "redis_commands_over_threshold": len(slow),
            "redis_commands_over_20ms": sum(entry["duration"] > 20_000 for entry in slow),
        }

    def close(self) -> None:
        self.stop.set()
        self.recording.set()
        self.process.join(timeout=10)
        self.client.config_set("slowlog-log-slower-than", 10_000)
        self.client.close()


def _command_name(entry: dict[str, Any] | None) -> str | None:
    if entry is None:
        return None
    command = entry["command"]
    text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
    return text.split(" ", 1)[0]


@contextlib.contextmanager
def ping_monitor(url: str) -> Iterator[PingMonitor]:
    monitor = PingMonitor(url)
    try:
        yield monitor
    finally:
        monitor.close()
