"""An asyncio client of HAProxy's runtime API (the admin unix socket).

One connection per batch: the client switches the socket to `prompt` mode and
pipelines every command of the batch at once; HAProxy answers each one in turn,
terminated by its prompt, so a whole reconcile pass (read servers, push slot
changes) costs one or two round trips, not one connection per command.

    api = RuntimeApi(Path("/run/haproxy/admin.sock"))
    servers = await api.servers()          # show servers state + show stat, per slot
    await api.execute(["set server be/t1 state drain"])
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ADMIN_DRAIN",
    "ADMIN_MAINT",
    "RuntimeApi",
    "RuntimeApiError",
    "ServerView",
    "parse_servers_state",
    "parse_stat",
]

_PROMPT = b"\n> "
# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced/inherited/resolution/hostname
# maintenance, and forced/inherited drain. CMAINT (0x04) only records the `disabled`
# keyword of the configuration and says nothing about the server now.
ADMIN_MAINT = 0x01 | 0x02 | 0x20 | 0x40
ADMIN_DRAIN = 0x08 | 0x10


class RuntimeApiError(RuntimeError):
    """The socket is unreachable, or HAProxy answered something unexpected."""


@dataclass(frozen=True)
class ServerView:
    """One server (slot) as HAProxy sees it now."""

    backend: str
    server: str
    address: str | None
    port: int | None
    admin_state: int
    # From `show stat`: "UP", "DOWN", "MAINT", "DRAIN", "NOLB", "no check", or
    # transitional forms such as "DOWN 1/3".
    status: str = ""
    # Last health check: "INI" before the first one, then L4OK, L7OK, L4CON, L4TOUT,
    # L7TOUT, L7STS (code in check_code), L7RSP, SOCKERR, ...
    check_status: str = ""
    check_code: int | None = None
    check_description: str = ""

    @property
    def in_maintenance(self) -> bool:
        return bool(self.admin_state & ADMIN_MAINT)

    @property
    def draining(self) -> bool:
        return bool(self.admin_state & ADMIN_DRAIN)

    @property
    def status_word(self) -> str:
        return self.status.split(" ", 1)[0] if self.status else ""


def parse_servers_state(text: str) -> dict[tuple[str, str], ServerView]:
    """`show servers state` (format version 1) → views keyed by (backend, server)."""
    views: dict[tuple[str, str], ServerView] = {}
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("# "):
            columns = line[2:].split()
            continue
        fields = line.split()
        if not columns or len(fields) < len(columns):
            continue
        row = dict(zip(columns, fields, strict=False))
        address = row["srv_addr"]
        port = row.get("srv_port", "0")
        key = (row["be_name"], row["srv_name"])
        views[key] = ServerView(
            backend=row["be_name"],
            server=row["srv_name"],
            address=None if address in ("-", "0.0.0.0", "::") else address,
            port=int(port) if port.isdigit() and int(port) > 0 else None,
            admin_state=int(row["srv_admin_state"]),
        )
    return views


@dataclass(frozen=True)
class _Stat:
    status: str
    check_status: str
    check_code: int | None
    check_description: str


def parse_stat(text: str) -> dict[tuple[str, str], _Stat]:
    """`show stat` CSV → status and last check per (backend, server); servers only."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    reader = csv.DictReader([lines[0][2:], *lines[1:]])
    stats: dict[tuple[str, str], _Stat] = {}
    for row in reader:
        server = row.get("svname") or ""
        if server in ("", "FRONTEND", "BACKEND"):
            continue
        code = (row.get("check_code") or "").strip()
        stats[(row["pxname"], server)] = _Stat(
            status=row.get("status") or "",
            # "* L7OK" marks a check in progress: the result shown is the last one.
            check_status=(row.get("check_status") or "").removeprefix("* ").strip(),
            check_code=int(code) if code.isdigit() else None,
            check_description=row.get("check_desc") or "",
        )
    return stats


class RuntimeApi:
    def __init__(self, socket_path: Path, *, timeout: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    async def execute(self, commands: Sequence[str]) -> list[str]:
        """Run `commands` in order on one connection; their answers, in the same order."""
        if not commands:
            return []
        for command in commands:
            if "\n" in command or ";" in command:
                raise ValueError(f"one command per entry: {command!r}")
        try:
            return await asyncio.wait_for(self._exchange(commands), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise RuntimeApiError(f"HAProxy runtime API at {self.socket_path}: {exc}") from exc

    async def _exchange(self, commands: Sequence[str]) -> list[str]:
        reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
        try:
            payload = "prompt\n" + "".join(f"{c}\n" for c in commands) + "quit\n"
            writer.write(payload.encode())
            await writer.drain()
            buffer = bytearray()
            # One prompt answers "prompt" itself, then one per command.
            wanted = len(commands) + 1
            while buffer.count(_PROMPT) < wanted:
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeApiError(
                        f"HAProxy closed the runtime API after {buffer.count(_PROMPT) - 1}"
                        f" of {len(commands)} answers"
                    )
                buffer.extend(chunk)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        parts = bytes(buffer).split(_PROMPT)
        return [part.decode(errors="replace").strip("\n") for part in parts[1:wanted]]

    async def show_info(self) -> dict[str, str]:
        (text,) = await self.execute(["show info"])
        info = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip()] = value.strip()
        return info

    async def worker_pid(self) -> int:
        pid = (await self.show_info()).get("Pid", "")
        if not pid.isdigit():
            raise RuntimeApiError("HAProxy's `show info` carries no Pid")
        return int(pid)

    async def show_servers_state(self) -> str:
        (text,) = await self.execute(["show servers state"])
        return text + "\n"

    async def servers(self) -> tuple[dict[tuple[str, str], ServerView], str]:
        """Every server with its address, admin state, status and last check, read in one
        round trip; and the raw `show servers state` text (a server-state file)."""
        state_text, stat_text = await self.execute(["show servers state", "show stat -1 4 -1"])
        views = parse_servers_state(state_text)
        stats = parse_stat(stat_text)
        merged = {}
        for key, view in views.items():
            stat = stats.get(key)
            if stat is not None:
                view = ServerView(
                    backend=view.backend,
                    server=view.server,
                    address=view.address,
                    port=view.port,
                    admin_state=view.admin_state,
                    status=stat.status,
                    check_status=stat.check_status,
                    check_code=stat.check_code,
                    check_description=stat.check_description,
                )
            merged[key] = view
        return merged, state_text + "\n"
