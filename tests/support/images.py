"""Test images built on this machine, since no registry can be reached.

`openecs-test/busybox:latest` is `FROM scratch` plus Debian's static busybox at
/bin/busybox and one symlink per applet (`sh`, `httpd`, `wget`, `sleep`, `nc`...),
a world-writable /tmp and a minimal /etc/passwd. CMD is `["sh"]`, no ENTRYPOINT.

The build goes through the Engine API's `/build` with a tar context. The image
carries a label with the hash of what went into it; when an image with the same
hash exists the build is skipped, so only the first test session pays for it.
A file lock keeps parallel test workers from building at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import httpx

__all__ = ["BUSYBOX_IMAGE", "CONTENT_HASH_LABEL", "ImageBuildError", "ensure_busybox_image"]

BUSYBOX_IMAGE = "openecs-test/busybox:latest"
CONTENT_HASH_LABEL = "openecs.test.content-hash"
DOCKER_SOCKET = "/var/run/docker.sock"

# Bump when the layout below changes, so cached images are rebuilt.
_LAYOUT_VERSION = "1"
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


class ImageBuildError(RuntimeError):
    pass


def _busybox_binary() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.exists():
        raise ImageBuildError("busybox is missing: apt-get install busybox-static")
    return path


def _applets(busybox: Path) -> list[str]:
    listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return sorted({name for name in listed.stdout.split() if name and name != "busybox"})


def _dockerfile(content_hash: str) -> str:
    return (
        "FROM scratch\n"
        "COPY rootfs/ /\n"
        "ENV PATH=/bin\n"
        f'LABEL {CONTENT_HASH_LABEL}="{content_hash}"\n'
        'CMD ["sh"]\n'
    )


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _build_context(busybox: bytes, applets: list[str], content_hash: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add_file(tar, "Dockerfile", _dockerfile(content_hash).encode())
        for directory, mode in (("rootfs", 0o755), ("rootfs/bin", 0o755), ("rootfs/etc", 0o755)):
            _add_dir(tar, directory, mode)
        _add_dir(tar, "rootfs/tmp", 0o1777)
        _add_dir(tar, "rootfs/root", 0o700)
        _add_file(tar, "rootfs/bin/busybox", busybox, 0o755)
        for applet in applets:
            link = tarfile.TarInfo(f"rootfs/bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        _add_file(tar, "rootfs/etc/passwd", _PASSWD.encode())
        _add_file(tar, "rootfs/etc/group", _GROUP.encode())
    return buffer.getvalue()


def _content_hash(busybox: bytes, applets: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(_LAYOUT_VERSION.encode())
    digest.update(busybox)
    digest.update("\n".join(applets).encode())
    digest.update((_PASSWD + _GROUP).encode())
    return digest.hexdigest()


def _existing_hash(docker: httpx.Client, image: str) -> str | None:
    response = docker.get(f"/images/{image}/json")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    labels = (response.json().get("Config") or {}).get("Labels") or {}
    return labels.get(CONTENT_HASH_LABEL)


def _build(docker: httpx.Client, image: str, context: bytes) -> None:
    params = {"t": image, "rm": "1", "forcerm": "1"}
    headers = {"Content-Type": "application/x-tar"}
    with docker.stream("POST", "/build", params=params, content=context, headers=headers) as resp:
        if resp.status_code >= 400:
            resp.read()
            raise ImageBuildError(f"build of {image} refused: {resp.text}")
        for line in resp.iter_lines():
            if not line.strip():
                continue
            message = json.loads(line)
            if "error" in message:
                raise ImageBuildError(f"build of {image} failed: {message['error']}")


def ensure_busybox_image(socket_path: str = DOCKER_SOCKET) -> str:
    """Build `openecs-test/busybox:latest` unless an identical one exists; its reference."""
    busybox_path = _busybox_binary()
    busybox = busybox_path.read_bytes()
    applets = _applets(busybox_path)
    content_hash = _content_hash(busybox, applets)
    transport = httpx.HTTPTransport(uds=socket_path)
    lock_path = Path(tempfile.gettempdir()) / "openecs-test-busybox-image.lock"
    with (
        httpx.Client(transport=transport, base_url="http://docker", timeout=120.0) as docker,
        lock_path.open("w") as lock,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _existing_hash(docker, BUSYBOX_IMAGE) != content_hash:
            _build(docker, BUSYBOX_IMAGE, _build_context(busybox, applets, content_hash))
            if _existing_hash(docker, BUSYBOX_IMAGE) != content_hash:
                raise ImageBuildError(f"{BUSYBOX_IMAGE} was built but does not carry its hash")
    return BUSYBOX_IMAGE
