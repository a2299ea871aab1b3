"""Network namespaces made by the tests, so that Ray and torchrun only ever talk inside them.

``Hosts`` creates namespaces (each with ``lo`` up); ``Hosts.pair()`` joins two of them with a
veth pair (``10.213.0.1`` and ``10.213.0.2``) so they are two hosts of one small network.
Closing it kills every process still inside the namespaces (all of them started by the test)
and deletes the namespaces, which also removes the veth pair. Needs root and iproute2.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Any

SUBNET = "10.213.0"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    return None


class Hosts:
    """Namespaces named ``<prefix><i>``; use as a context manager."""

    def __init__(self, count: int, *, link: bool = False) -> None:
        if link and count != 2:
            raise ValueError(f"a veth link joins exactly 2 namespaces, got count={count}")
        tag = f"prl{os.getpid() % 100000}{int(time.time() * 1000) % 1000}"
        self.names = [f"{tag}n{i}" for i in range(count)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(count)] if link else \
            ["127.0.0.1"] * count
        self._link = (f"{tag}a", f"{tag}b") if link else None
        self._made: list[str] = []

    def __enter__(self) -> Hosts:
        try:
            for name in self.names:
                _ip("netns", "add", name)
                self._made.append(name)
                _ip("-n", name, "link", "set", "lo", "up")
            if self._link is not None:
                a, b = self._link
                _ip("link", "add", a, "type", "veth", "peer", "name", b)
                for dev, name, addr in zip(self._link, self.names, self.addresses, strict=True):
                    _ip("link", "set", dev, "netns", name)
                    _ip("-n", name, "addr", "add", f"{addr}/24", "dev", dev)
                    _ip("-n", name, "link", "set", dev, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, host: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside namespace ``host``."""
        return ["ip", "netns", "exec", self.names[host], *argv]

    def run(self, host: int, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """Run ``argv`` inside namespace ``host`` (text output captured)."""
        kwargs.setdefault("capture_output", True)
        return subprocess.run(self.command(host, argv), text=True, **kwargs)

    def popen(self, host: int, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` inside namespace ``host``."""
        return subprocess.Popen(self.command(host, argv), text=True, **kwargs)

    def pids(self, host: int) -> list[int]:
        """Processes inside namespace ``host``."""
        out = subprocess.run(["ip", "netns", "pids", self.names[host]], capture_output=True,
                             text=True, timeout=20)
        return [int(p) for p in out.stdout.split()]

    def kill_all(self, host: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process inside namespace ``host``."""
        for pid in self.pids(host):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Stop what runs inside (TERM, then KILL) and delete the namespaces."""
        for i, name in enumerate(self.names):
            if name not in self._made:
                continue
            self.kill_all(i, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.pids(i) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.kill_all(i, signal.SIGKILL)
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20)
            self._made.remove(name)


def cmdline(pid: int) -> str:
    """A process's command line (its title, for Ray workers), or '' if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
