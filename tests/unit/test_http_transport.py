"""The agent's HTTP/1.1 transports against scripted servers: unix_socket_transport
(the DockerClient's, on a temporary socket) for bodies by length, chunked and
until close, kept-alive reuse, stale connections, timeouts, and closing open
streams; tcp_transport (the control plane's) on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from openecs.agent.docker_api import DockerClient, DockerUnavailable
from openecs.agent.http_transport import tcp_transport, unix_socket_transport

pytestmark = pytest.mark.anyio

Reply = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request (head, body, writer); False closes the connection after."""


@dataclass
class ScriptedServer:
    path: str
    reply: Reply
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if not await self.reply(head, body, writer):
                    return
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def scripted(tmp_path: Path, reply: Reply) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(str(tmp_path / "docker.sock"), reply)
    unix = await asyncio.start_unix_server(server.handle, path=server.path)
    try:
        yield server
    finally:
        unix.close()
        await unix.wait_closed()


def client(server: ScriptedServer, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=unix_socket_transport(server.path), base_url="http://docker", timeout=timeout
    )


async def json_reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
    payload = json.dumps({"path": head.split(b" ")[1].decode(), "got": len(body)}).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    await writer.drain()
    return True


async def test_bodies_by_length_and_one_kept_alive_connection(tmp_path: Path) -> None:
    async with scripted(tmp_path, json_reply) as server, client(server) as http:
        for i in range(3):
            response = await http.get(f"/v1.41/things/{i}", params={"all": "1"})
            assert response.status_code == 200
            assert response.json() == {"path": f"/v1.41/things/{i}?all=1", "got": 0}
        big = b"x" * 300_000
        response = await http.post("/build", content=big)
        assert response.json()["got"] == len(big)
    assert server.connections == 1
    head = server.requests[-1][0]
    assert b"Content-Length: 300000" in head and b"Host: docker" in head


async def test_chunked_bodies_are_decoded_and_streamed(tmp_path: Path) -> None:
    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for line in (b'{"n": 1}\n', b'{"n": 2}\n{"n"', b": 3}\n"):
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    async with scripted(tmp_path, reply) as server, client(server) as http:
        async with http.stream("GET", "/events") as response:
            lines = [json.loads(line) async for line in response.aiter_lines() if line]
        assert lines == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert (await http.get("/again")).text == '{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    assert server.connections == 1


async def test_a_body_until_close_and_answers_without_body(tmp_path: Path) -> None:
    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"/empty" in head:
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()
        return False

    async with scripted(tmp_path, reply) as server, client(server) as http:
        assert (await http.post("/empty")).status_code == 204
        assert (await http.get("/close")).text == "all of it"
        assert (await http.post("/empty")).status_code == 204
    assert server.connections == 2


async def test_a_connection_the_daemon_closed_is_replaced(tmp_path: Path) -> None:
    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await json_reply(head, body, writer)
        return False  # answer, then hang up (as on an idle timeout)

    async with scripted(tmp_path, reply) as server, client(server) as http:
        for _ in range(3):
            assert (await http.post("/containers/create", json={})).status_code == 200
            await asyncio.sleep(0.01)
    assert server.connections == 3
    assert len(server.requests) == 3  # each request reached the daemon exactly once


async def test_a_silent_daemon_is_a_read_timeout(tmp_path: Path) -> None:
    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async with scripted(tmp_path, reply) as server, client(server, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/slow")


async def test_a_missing_socket_is_a_connect_error(tmp_path: Path) -> None:
    transport = unix_socket_transport(str(tmp_path / "nothing.sock"))
    async with httpx.AsyncClient(transport=transport, base_url="http://docker") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/_ping")
    async with DockerClient(str(tmp_path / "nothing.sock")) as docker:
        with pytest.raises(DockerUnavailable):
            await docker.ping()


async def test_closing_the_transport_ends_open_streams(tmp_path: Path) -> None:
    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n")
        await writer.drain()
        await asyncio.sleep(30)
        return False

    async with scripted(tmp_path, reply) as server:
        http = client(server, timeout=60)
        seen: list[str] = []

        async def follow() -> None:
            async with http.stream("GET", "/events") as response:
                async for line in response.aiter_lines():
                    seen.append(line)

        reading = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        await http.aclose()
        with pytest.raises(httpx.TransportError):
            await asyncio.wait_for(reading, 2)
        assert seen == ["{}"]


async def test_tcp_requests_go_to_the_transports_server_on_one_kept_alive_connection() -> None:
    server = ScriptedServer("", json_reply)
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    try:
        transport = tcp_transport("127.0.0.1", port)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://127.0.0.1:{port}", timeout=5.0
        ) as http:
            for i in range(3):
                response = await http.post(f"/agent/v1/report/{i}", content=b"{}")
                assert response.json() == {"path": f"/agent/v1/report/{i}", "got": 2}
        assert server.connections == 1
        assert f"Host: 127.0.0.1:{port}".encode() in server.requests[-1][0]
    finally:
        tcp.close()
        await tcp.wait_closed()


async def test_a_tcp_server_that_is_not_listening_is_a_connect_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with httpx.AsyncClient(transport=tcp_transport("127.0.0.1", port), timeout=5.0) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/healthz")
