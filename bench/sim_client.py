"""The harness's handle on the simulator process: start it, drain its records, stop it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from bench.children import die_with_parent


@dataclass
class SimProcess:
    servers_per_protocol: int
    latency: float
    cpu: int | None = None
    control: int = 0
    ports: dict[str, list[int]] | None = None
    hostile: dict[str, int] | None = None  # "http-drip": the port of that hostile server
    _process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "bench.sim_runner",
            "--servers-per-protocol",
            str(self.servers_per_protocol),
            "--latency",
            str(self.latency),
        ]
        if self.cpu is not None:
            command += ["--cpu", str(self.cpu)]
        # stdin stays a pipe: the simulators stop by themselves if the harness dies.
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulators did not start (exit {self._process.wait()})")
        ready = json.loads(line)
        self.control, self.ports = ready["control"], ready["ports"]
        self.hostile = ready["hostile"]

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def drain(self) -> dict[str, list[tuple[float, float]]]:
        """Every closed connection's (accepted_at, closed_at) since the last drain, by server."""
        raw: dict[str, list[list[float]]] = self._post("/records/drain")
        return {key: [(a, c) for a, c in items] for key, items in raw.items()}

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _post(self, path: str) -> dict[str, list[list[float]]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.control}{path}", method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            data: dict[str, list[list[float]]] = json.loads(response.read())
        return data

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
