"""The pause image: what holds an awsvpc task's network namespace.

No registry can be assumed reachable, so the agent builds it from the host's
static busybox (Debian's busybox-static) the first time it needs it.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from openecs.agent.container_runtime import ContainerRuntime

__all__ = ["PauseImageError", "ensure_pause_image"]

_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class PauseImageError(RuntimeError):
    pass


def _busybox() -> Path:
    found = shutil.which("busybox")
    for candidate in (found, *_CANDIDATES):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise PauseImageError(
        "the pause image needs a static busybox on the host: apt-get install busybox-static"
    )


def _context(binary: Path) -> bytes:
    data = binary.read_bytes()
    dockerfile = (
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        f'LABEL openecs.pause.sha256="{hashlib.sha256(data).hexdigest()}"\n'
        'ENTRYPOINT ["/bin/busybox"]\n'
        'CMD ["sleep", "2147483647"]\n'
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, payload, mode in (("Dockerfile", dockerfile, 0o644), ("busybox", data, 0o755)):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = mode
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


async def ensure_pause_image(runtime: ContainerRuntime, tag: str) -> str:
    if await runtime.image_exists(tag):
        return tag
    await runtime.build_image(tag, _context(_busybox()))
    return tag
