"""The HAProxy process: start, reload on a changed configuration, restart after death, stop.

HAProxy runs in master-worker mode (`-W`, master CLI on `-S`): the master keeps
its pid for the process's whole life and re-executes itself on a reload (SIGUSR2,
same as the master CLI's `reload`), handing the listening sockets to the new
worker (`expose-fd listeners`), so no connection is refused during a reload.
Before a reload the servers' state (addresses, maintenance/drain, health) is
saved to the server-state file the new worker loads, so targets set through
the runtime API survive it.

Files, all in the state directory: haproxy.cfg (written atomically, checked with
`haproxy -c` before use), server-state, haproxy.pid (the master's pid, used to
stop one left behind by a previous server that died), haproxy.log (HAProxy's
own messages). Sockets sit in `ConfigSettings.sockets`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from openecs.lb.haproxy_config import ConfigSettings, significant_lines
from openecs.lb.runtime_api import RuntimeApi, RuntimeApiError

__all__ = ["HAProxyError", "HAProxyProcess", "write_atomically"]

log = logging.getLogger("openecs.lb.haproxy")

DEFAULT_BINARY = "/usr/sbin/haproxy"
# Seconds before a configuration HAProxy refused, or failed to reload with, is tried again.
RETRY_AFTER = 30.0


class HAProxyError(RuntimeError):
    """HAProxy refused a configuration, or did not come up or reload in time."""


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class HAProxyProcess:
    def __init__(
        self,
        settings: ConfigSettings,
        *,
        binary: str = DEFAULT_BINARY,
        ready_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.api = RuntimeApi(settings.admin_socket)
        self._process: subprocess.Popen[bytes] | None = None
        self._applied: list[str] | None = None
        self._refused: str | None = None
        self._refused_at = 0.0
        self.worker_pid: int | None = None
        self.starts = 0
        self.reloads = 0

    @property
    def config_path(self) -> Path:
        return self.settings.state_dir / "haproxy.cfg"

    @property
    def pid_path(self) -> Path:
        return self.settings.state_dir / "haproxy.pid"

    @property
    def log_path(self) -> Path:
        return self.settings.state_dir / "haproxy.log"

    @property
    def master_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def ensure(self, config: str) -> str:
        """Make HAProxy run `config`: "started", "reloaded" or "unchanged".

        A configuration HAProxy refuses (or a reload that does not complete) is
        reported once (HAProxyError) and then left alone until it changes or
        `RETRY_AFTER` seconds passed; the running one keeps serving meanwhile.
        """
        if (
            config == self._refused
            and self.running()
            and time.monotonic() - self._refused_at < RETRY_AFTER
        ):
            return "unchanged"
        if not self.running():
            if self._process is not None:
                log.warning(
                    "HAProxy died; restarting it",
                    extra={"exit_code": self._process.returncode, "log": str(self.log_path)},
                )
            self._write_and_check(config)
            await self._start()
            self._applied = significant_lines(config)
            return "started"
        if significant_lines(config) == self._applied:
            if self.config_path.read_text() != config:
                write_atomically(self.config_path, config)
            return "unchanged"
        self._write_and_check(config)
        try:
            await self._reload()
        except HAProxyError:
            self._refuse(config)
            raise
        self._applied = significant_lines(config)
        return "reloaded"

    def _refuse(self, config: str) -> None:
        self._refused = config
        self._refused_at = time.monotonic()

    def _write_and_check(self, config: str) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings.sockets.mkdir(parents=True, exist_ok=True)
        if not self.settings.server_state_file.exists():
            self.settings.server_state_file.write_text("1\n")
        candidate = self.config_path.with_name("haproxy.cfg.new")
        candidate.write_text(config)
        checked = subprocess.run(
            [self.binary, "-c", "-f", str(candidate)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            self._refuse(config)
            raise HAProxyError(f"HAProxy refused the configuration: {checked.stderr.strip()}")
        self._refused = None
        os.replace(candidate, self.config_path)

    async def _start(self) -> None:
        self._stop_leftover()
        with contextlib.suppress(FileNotFoundError):
            self.settings.admin_socket.unlink()
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "-W",
                    "-S",
                    f"{self.settings.master_socket},mode,600",
                    "-f",
                    str(self.config_path),
                    "-p",
                    str(self.pid_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        self.starts += 1
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise HAProxyError(f"HAProxy exited at start (code {code}); see {self.log_path}")
            try:
                self.worker_pid = await self.api.worker_pid()
                return
            except RuntimeApiError:
                if time.monotonic() > deadline:
                    raise HAProxyError(
                        f"HAProxy did not answer on {self.api.socket_path}"
                    ) from None
                await asyncio.sleep(0.02)

    async def _reload(self) -> None:
        assert self._process is not None
        old_worker = await self.api.worker_pid()
        # The new worker restores addresses, admin states and health from this file.
        write_atomically(self.settings.server_state_file, await self.api.show_servers_state())
        os.kill(self._process.pid, signal.SIGUSR2)
        self.reloads += 1
        deadline = time.monotonic() + self.ready_timeout
        while True:
            with contextlib.suppress(RuntimeApiError):
                pid = await self.api.worker_pid()
                if pid != old_worker:
                    self.worker_pid = pid
                    return
            if time.monotonic() > deadline or not self.running():
                raise HAProxyError(f"HAProxy did not reload; see {self.log_path}")
            await asyncio.sleep(0.02)

    def _stop_leftover(self) -> None:
        """Stop a master a previous server left running (it would hold our ports)."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return
        if self._process is not None and pid == self._process.pid:
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if str(self.config_path).encode() in cmdline:
            log.warning("stopping a HAProxy left running", extra={"pid": pid})
            _terminate(pid)

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        self._applied = None
        self.worker_pid = None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for leftover in (self.pid_path, self.settings.admin_socket, self.settings.master_socket):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        if self.settings.sockets != self.settings.state_dir:
            with contextlib.suppress(OSError):
                self.settings.sockets.rmdir()


def _terminate(pid: int, timeout: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
