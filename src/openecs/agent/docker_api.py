"""A small async client for the Docker Engine API, over the daemon's Unix socket.

It speaks the Engine's REST API directly (no docker SDK): one persistent
`httpx.AsyncClient` on a Unix-socket transport, connections kept alive, the API
version negotiated once (the server's `ApiVersion`, capped at `MAX_API_VERSION`).
Inputs and outputs are in Docker's own JSON shapes (dicts); the typed view the
agent works with lives in `container_runtime`.

Operations, by family (methods are named `<family>_<verb>`):

* system:     ping, version, info, events (async iterator, optional reconnect)
* images:     image_inspect, image_exists, image_pull, image_build, image_remove
* containers: container_create, _start, _stop, _kill, _wait, _remove,
              _inspect, _list, _logs, _stats
* networks:   network_create, _inspect, _list, _connect, _disconnect, _remove
* volumes:    volume_create, _inspect, _list, _remove

Exceptions (Docker's own message is the exception text):

    DockerError                 any error answer, `status_code` when there was one
    ├── DockerUnavailable       socket missing, daemon not answering, stream cut
    ├── NotFound                404: no such container / image / network / volume
    ├── Conflict                409: name in use, container not running, in use
    └── ImagePullError          a pull failed, whatever the reason (`image` says which)

Docker answers 304 when a container is already started or already stopped;
start and stop treat that as success, so both are idempotent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from openecs.agent.http_transport import unix_socket_transport

__all__ = [
    "DEFAULT_SOCKET",
    "MAX_API_VERSION",
    "MIN_API_VERSION",
    "RECONNECTED",
    "Conflict",
    "ContainerLogs",
    "DockerClient",
    "DockerError",
    "DockerUnavailable",
    "ImagePullError",
    "NotFound",
    "label_filter",
    "split_image_reference",
    "unix_socket_transport",
]

DEFAULT_SOCKET = "/var/run/docker.sock"
MAX_API_VERSION = "1.43"
MIN_API_VERSION = "1.40"

RECONNECTED = "openecs.reconnected"
"""`Type` of the marker `events(reconnect=True)` yields after it had to reconnect."""

_NO_TIMEOUT = httpx.Timeout(None, connect=5.0)
# Docker sends the final status of `stop` only after the container has exited:
# allow its grace period plus time to kill and reap.
_STOP_MARGIN_SECONDS = 30.0

JSON = dict[str, Any]
_T = TypeVar("_T")


class DockerError(Exception):
    """The Docker Engine refused or failed an operation."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class DockerUnavailable(DockerError):
    """The daemon could not be reached, did not answer in time, or cut a stream."""


class NotFound(DockerError):
    """No such container, image, network or volume."""


class Conflict(DockerError):
    """The object is in a state that forbids the operation (name taken, not running...)."""


class ImagePullError(DockerError):
    """Pulling `image` failed; the message is Docker's."""

    def __init__(self, image: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(f"pull of {image} failed: {message}", status_code=status_code)
        self.image = image
        self.reason = message


@dataclass(frozen=True, slots=True)
class ContainerLogs:
    stdout: bytes
    stderr: bytes


def label_filter(labels: Mapping[str, str | None]) -> list[str]:
    """Docker's `label` filter values: `key=value`, or `key` for "has this label"."""
    return [key if value is None else f"{key}={value}" for key, value in labels.items()]


def split_image_reference(image: str) -> tuple[str, str]:
    """(`fromImage`, `tag`) for a pull: an untagged reference means `latest`.

    Docker pulls every tag of a repository when `tag` is empty, so never send it
    empty. A digest (`repo@sha256:...`) travels as the tag.
    """
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, digest
    last_slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > last_slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip()
    return text or f"HTTP {response.status_code}"


def _error_from(response: httpx.Response) -> DockerError:
    message = _error_message(response)
    status = response.status_code
    if status == 404:
        return NotFound(message, status_code=status)
    if status == 409:
        return Conflict(message, status_code=status)
    return DockerError(message, status_code=status)


@asynccontextmanager
async def _forbidden_as_conflict() -> AsyncIterator[None]:
    """Docker answers 403 for network states that forbid an operation ("has active
    endpoints", "endpoint already exists"): they are conflicts."""
    try:
        yield
    except DockerError as exc:
        if exc.status_code == 403:
            raise Conflict(exc.message, status_code=exc.status_code) from exc
        raise


def _filters(filters: Mapping[str, Sequence[str]] | None) -> dict[str, str]:
    if not filters:
        return {}
    return {"filters": json.dumps({key: list(values) for key, values in filters.items()})}


def _demultiplex(raw: bytes) -> ContainerLogs:
    """Split Docker's multiplexed stream: frames of [stream, 0, 0, 0, size(4, BE)] + payload."""
    out = bytearray()
    err = bytearray()
    pos = 0
    while pos + 8 <= len(raw):
        stream = raw[pos]
        size = int.from_bytes(raw[pos + 4 : pos + 8], "big")
        payload = raw[pos + 8 : pos + 8 + size]
        (err if stream == 2 else out).extend(payload)
        pos += 8 + size
    return ContainerLogs(stdout=bytes(out), stderr=bytes(err))


def _nanos_param(nanos: int) -> str:
    return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


def _seconds_param(seconds: float) -> str:
    return _nanos_param(int(seconds * 1_000_000_000))


class DockerClient:
    """One long-lived connection pool to one Docker daemon.

    Use as `async with DockerClient() as docker: ...` or call `aclose()`.
    `transport` replaces the Unix-socket transport (tests pass `httpx.MockTransport`).
    `api_version` pins a version and skips negotiation.
    """

    def __init__(
        self,
        socket_path: str = DEFAULT_SOCKET,
        *,
        api_version: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.socket_path = socket_path
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self._http = httpx.AsyncClient(
            transport=transport or unix_socket_transport(socket_path),
            base_url="http://docker",
            timeout=self._timeout,
        )
        self._api_version = api_version
        self._negotiation = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> DockerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------

    async def api_version(self) -> str:
        """The API version in use, negotiated with the daemon on first use."""
        if self._api_version is not None:
            return self._api_version
        async with self._negotiation:
            if self._api_version is None:
                response = await self._send("GET", "/version")
                server = str(response.json().get("ApiVersion", MIN_API_VERSION))
                if _version_tuple(server) < _version_tuple(MIN_API_VERSION):
                    raise DockerError(
                        f"Docker Engine API {server} is too old; {MIN_API_VERSION} or newer needed"
                    )
                self._api_version = min(server, MAX_API_VERSION, key=_version_tuple)
            return self._api_version

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json_body: Any = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                json=json_body,
                timeout=timeout or self._timeout,
            )
        except httpx.TransportError as exc:
            raise DockerUnavailable(
                f"Docker daemon at {self.socket_path} did not answer {method} {path}: {exc!r}"
            ) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json_body: Any = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        version = await self.api_version()
        return await self._send(
            method, f"/v{version}{path}", params=params, json_body=json_body, timeout=timeout
        )

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> AsyncIterator[httpx.Response]:
        version = await self.api_version()
        url = f"/v{version}{path}"
        try:
            async with self._http.stream(
                method,
                url,
                params=params,
                headers=headers,
                content=content,
                timeout=timeout or self._timeout,
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from(response)
                yield response
        except httpx.TransportError as exc:
            raise DockerUnavailable(
                f"Docker daemon at {self.socket_path} cut {method} {path}: {exc!r}"
            ) from exc

    # -- system -----------------------------------------------------------

    async def ping(self) -> None:
        """Succeeds when the daemon answers; raises DockerUnavailable otherwise."""
        await self._send("GET", "/_ping")

    async def version(self) -> JSON:
        response = await self._call("GET", "/version")
        return dict(response.json())

    async def info(self) -> JSON:
        response = await self._call("GET", "/info")
        return dict(response.json())

    # -- images -----------------------------------------------------------

    async def image_inspect(self, image: str) -> JSON:
        response = await self._call("GET", f"/images/{image}/json")
        return dict(response.json())

    async def image_exists(self, image: str) -> bool:
        try:
            await self.image_inspect(image)
        except NotFound:
            return False
        return True

    async def image_pull(
        self,
        image: str,
        *,
        auth: Mapping[str, str] | None = None,
        on_progress: Callable[[JSON], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Pull `image` (untagged means `latest`), reading Docker's progress stream.

        `auth` is Docker's registry auth object (`username`, `password`,
        `serveraddress`...). `on_progress` sees each progress message. `timeout`
        bounds the whole pull; a stall longer than the client timeout also fails
        it. Any failure is an ImagePullError carrying Docker's message.
        """
        name, tag = split_image_reference(image)
        headers = {}
        if auth:
            encoded = base64.urlsafe_b64encode(json.dumps(dict(auth)).encode())
            headers["X-Registry-Auth"] = encoded.decode()
        try:
            async with asyncio.timeout(timeout):
                await self._pull_stream(image, name, tag, headers, on_progress)
        except TimeoutError as exc:
            raise ImagePullError(image, f"no result within {timeout} s") from exc
        except ImagePullError:
            raise
        except DockerUnavailable as exc:
            raise ImagePullError(image, exc.message) from exc
        except DockerError as exc:
            raise ImagePullError(image, exc.message, status_code=exc.status_code) from exc

    async def _pull_stream(
        self,
        image: str,
        name: str,
        tag: str,
        headers: Mapping[str, str],
        on_progress: Callable[[JSON], None] | None,
    ) -> None:
        params = {"fromImage": name, "tag": tag}
        async with self._stream("POST", "/images/create", params=params, headers=headers) as resp:
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                message = json.loads(line)
                if "error" in message:
                    detail = message.get("errorDetail") or {}
                    raise ImagePullError(image, str(detail.get("message") or message["error"]))
                if on_progress is not None:
                    on_progress(message)

    async def image_remove(self, image: str, *, force: bool = False) -> None:
        """Untag and delete an image; Conflict while a container uses it."""
        await self._call("DELETE", f"/images/{image}", params={"force": force})

    async def image_build(
        self,
        context: bytes,
        *,
        tag: str,
        on_progress: Callable[[JSON], None] | None = None,
    ) -> str:
        """Build an image from a tar `context` holding a Dockerfile; its id.

        The classic builder runs the Dockerfile; a failed step raises DockerError
        with the builder's message.
        """
        params: dict[str, str | int | bool] = {"t": tag, "rm": True, "forcerm": True}
        headers = {"Content-Type": "application/x-tar"}
        image_id = ""
        async with self._stream(
            "POST", "/build", params=params, headers=headers, content=context, timeout=_NO_TIMEOUT
        ) as response:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                message = json.loads(line)
                if "error" in message:
                    detail = message.get("errorDetail") or {}
                    raise DockerError(
                        f"build of {tag} failed: {detail.get('message') or message['error']}"
                    )
                image_id = str((message.get("aux") or {}).get("ID") or image_id)
                if on_progress is not None:
                    on_progress(message)
        return image_id

    # -- containers -------------------------------------------------------

    async def container_create(self, config: Mapping[str, Any], *, name: str | None = None) -> str:
        """Create a container from a config in Docker's API shape; returns its id.

        `config` is the body of `POST /containers/create` (Image, Cmd, Env,
        Labels, HostConfig, NetworkingConfig...). A missing image is NotFound,
        a name in use is Conflict.
        """
        params = {"name": name} if name else None
        response = await self._call("POST", "/containers/create", params=params, json_body=config)
        return str(response.json()["Id"])

    async def container_start(self, container: str) -> None:
        await self._call("POST", f"/containers/{container}/start")

    async def container_stop(self, container: str, *, timeout: int | None = None) -> None:
        """SIGTERM (or the container's StopSignal), then SIGKILL after `timeout` seconds.

        Without `timeout` Docker uses the container's StopTimeout (default 10 s).
        Returns once the container has exited.
        """
        params = {"t": timeout} if timeout is not None else None
        grace = float(timeout if timeout is not None else 10)
        http_timeout = httpx.Timeout(grace + _STOP_MARGIN_SECONDS, connect=5.0)
        await self._call(
            "POST", f"/containers/{container}/stop", params=params, timeout=http_timeout
        )

    async def container_kill(self, container: str, *, signal: str = "SIGKILL") -> None:
        """Send `signal`; Conflict when the container is not running."""
        await self._call("POST", f"/containers/{container}/kill", params={"signal": signal})

    async def container_wait(self, container: str, *, condition: str = "not-running") -> int:
        """Block until the container stops (per `condition`); returns its exit code."""
        response = await self._call(
            "POST",
            f"/containers/{container}/wait",
            params={"condition": condition},
            timeout=_NO_TIMEOUT,
        )
        body = response.json()
        error = body.get("Error") or {}
        if error.get("Message"):
            raise DockerError(str(error["Message"]))
        return int(body["StatusCode"])

    async def container_remove(
        self, container: str, *, force: bool = False, volumes: bool = False
    ) -> None:
        """Remove a container; `force` kills it first, `volumes` drops its anonymous volumes."""
        params = {"force": force, "v": volumes}
        await self._call("DELETE", f"/containers/{container}", params=params)

    async def container_inspect(self, container: str) -> JSON:
        response = await self._call("GET", f"/containers/{container}/json")
        return dict(response.json())

    async def container_list(
        self,
        *,
        all: bool = False,
        labels: Mapping[str, str | None] | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[JSON]:
        """Containers (running only unless `all`), narrowed by `labels` and raw `filters`."""
        merged: dict[str, list[str]] = {k: list(v) for k, v in (filters or {}).items()}
        if labels:
            merged.setdefault("label", []).extend(label_filter(labels))
        params: dict[str, str | int | bool] = {"all": all, **_filters(merged)}
        response = await self._call("GET", "/containers/json", params=params)
        return [dict(item) for item in response.json()]

    async def container_logs(
        self,
        container: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        tail: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
        tty: bool = False,
    ) -> ContainerLogs:
        """The logs so far. Pass `tty=True` for containers created with a TTY (one raw stream)."""
        params: dict[str, str | int | bool] = {
            "stdout": stdout,
            "stderr": stderr,
            "timestamps": timestamps,
            "tail": "all" if tail is None else tail,
        }
        if since is not None:
            params["since"] = _seconds_param(since)
        response = await self._call("GET", f"/containers/{container}/logs", params=params)
        if tty:
            return ContainerLogs(stdout=response.content, stderr=b"")
        return _demultiplex(response.content)

    async def container_stats(self, container: str, *, one_shot: bool = True) -> JSON:
        """One stats sample. `one_shot` answers at once without `precpu_stats`;
        otherwise Docker takes two samples a second apart so CPU deltas can be computed.
        """
        params = {"stream": False, "one-shot": one_shot}
        response = await self._call("GET", f"/containers/{container}/stats", params=params)
        return dict(response.json())

    # -- networks ---------------------------------------------------------

    async def network_create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        labels: Mapping[str, str] | None = None,
        internal: bool = False,
        options: Mapping[str, str] | None = None,
    ) -> str:
        """Create a network; returns its id. A name in use is Conflict."""
        body = {
            "Name": name,
            "Driver": driver,
            "CheckDuplicate": True,
            "Internal": internal,
            "Labels": dict(labels or {}),
            "Options": dict(options or {}),
        }
        response = await self._call("POST", "/networks/create", json_body=body)
        return str(response.json()["Id"])

    async def network_inspect(self, network: str) -> JSON:
        response = await self._call("GET", f"/networks/{network}")
        return dict(response.json())

    async def network_list(self, *, labels: Mapping[str, str | None] | None = None) -> list[JSON]:
        params = _filters({"label": label_filter(labels)} if labels else None)
        response = await self._call("GET", "/networks", params=params)
        return [dict(item) for item in response.json()]

    async def network_connect(
        self,
        network: str,
        container: str,
        *,
        aliases: Sequence[str] = (),
        ipv4_address: str | None = None,
    ) -> None:
        endpoint: JSON = {}
        if aliases:
            endpoint["Aliases"] = list(aliases)
        if ipv4_address:
            endpoint["IPAMConfig"] = {"IPv4Address": ipv4_address}
        body = {"Container": container, "EndpointConfig": endpoint}
        async with _forbidden_as_conflict():
            await self._call("POST", f"/networks/{network}/connect", json_body=body)

    async def network_disconnect(
        self, network: str, container: str, *, force: bool = False
    ) -> None:
        body = {"Container": container, "Force": force}
        await self._call("POST", f"/networks/{network}/disconnect", json_body=body)

    async def network_remove(self, network: str) -> None:
        """Remove a network; Conflict while running containers are attached."""
        async with _forbidden_as_conflict():
            await self._call("DELETE", f"/networks/{network}")

    # -- volumes ----------------------------------------------------------

    async def volume_create(
        self,
        name: str | None = None,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        driver_options: Mapping[str, str] | None = None,
    ) -> JSON:
        """Create (or, for an existing name, return) a volume; Docker's volume object."""
        body: JSON = {
            "Driver": driver,
            "Labels": dict(labels or {}),
            "DriverOpts": dict(driver_options or {}),
        }
        if name:
            body["Name"] = name
        response = await self._call("POST", "/volumes/create", json_body=body)
        return dict(response.json())

    async def volume_inspect(self, name: str) -> JSON:
        response = await self._call("GET", f"/volumes/{name}")
        return dict(response.json())

    async def volume_list(self, *, labels: Mapping[str, str | None] | None = None) -> list[JSON]:
        params = _filters({"label": label_filter(labels)} if labels else None)
        response = await self._call("GET", "/volumes", params=params)
        return [dict(item) for item in response.json().get("Volumes") or []]

    async def volume_remove(self, name: str, *, force: bool = False) -> None:
        """Remove a volume; Conflict while a container uses it."""
        await self._call("DELETE", f"/volumes/{name}", params={"force": force})

    # -- events -----------------------------------------------------------

    def events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
        reconnect: bool = False,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
    ) -> AsyncGenerator[JSON, None]:
        """Docker's event stream as parsed dicts (`Type`, `Action`, `Actor`, `timeNano`...).

        The stream starts at the moment of this call, not of the first iteration:
        events in between are replayed. `since` (epoch seconds) starts it earlier,
        as far back as Docker still holds events; `until` ends it. `filters` are
        Docker's (`type`, `label`, `event`...).

        Without `reconnect` a cut stream raises DockerUnavailable; a caller resumes
        by passing the last event's time as `since`. With `reconnect` the iterator
        does that itself, waiting for the daemon with backoff, skipping events it
        already yielded, and yields `{"Type": RECONNECTED, "time": ...}` after each
        reconnect: events may have been lost meanwhile (a restarted daemon keeps
        none), so a consumer re-lists. It ends when the client is closed.
        """
        start = int(since * 1_000_000_000) if since is not None else time.time_ns()
        return self._events(start, until, filters, reconnect, retry_delay, max_retry_delay)

    async def _events(
        self,
        start_nanos: int,
        until: float | None,
        filters: Mapping[str, Sequence[str]] | None,
        reconnect: bool,
        retry_delay: float,
        max_retry_delay: float,
    ) -> AsyncGenerator[JSON, None]:
        last_nanos = start_nanos
        seen_at_last: set[tuple[Any, ...]] = set()
        delay = retry_delay
        reconnecting = False
        while True:
            params: dict[str, str | int | bool] = {**_filters(filters)}
            params["since"] = _nanos_param(last_nanos)
            if until is not None:
                params["until"] = _seconds_param(until)
            try:
                async with self._stream("GET", "/events", params=params, timeout=_NO_TIMEOUT) as r:
                    delay = retry_delay
                    if reconnecting:
                        reconnecting = False
                        yield {"Type": RECONNECTED, "time": time.time(), "timeNano": time.time_ns()}
                    async for line in r.aiter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        nanos = int(event.get("timeNano") or int(event.get("time", 0)) * 10**9)
                        actor = event.get("Actor") or {}
                        key = (event.get("Type"), event.get("Action"), actor.get("ID"))
                        if nanos < last_nanos or (nanos == last_nanos and key in seen_at_last):
                            continue
                        if nanos > last_nanos:
                            last_nanos = nanos
                            seen_at_last.clear()
                        seen_at_last.add(key)
                        yield event
                if until is not None or not reconnect or self._closed:
                    return
            except DockerUnavailable:
                if self._closed:
                    return
                if not reconnect:
                    raise
            except RuntimeError:
                # httpx refuses requests on a closed client: the owner shut us down.
                if self._closed:
                    return
                raise
            reconnecting = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_delay)
