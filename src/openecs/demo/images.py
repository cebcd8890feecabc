"""The shop's images, built on this machine (no registry can be reached) and cached.

* base      a Debian root filesystem from `debootstrap` with the packages listed
            in demo/base/packages.txt (Flask, psycopg2, gunicorn, PostgreSQL),
            turned into an image with `docker import`;
* backend   demo/backend (Flask app) on the base;
* database  demo/database (PostgreSQL entrypoint) on the base;
* frontend  demo/frontend built with Vite (`npm ci`, `npm run build`), served by
            busybox httpd on an empty image (busybox-static from the host).

Each image is tagged with a hash of everything that went into it, so an image is
rebuilt only when its recipe changes, and a changed image gets a new tag (hence a
new task definition revision and a rolling deployment). A file lock keeps
concurrent builders (a test and `make demo`) from building the same image twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEBIAN_MIRROR",
    "DEBIAN_SUITE",
    "ImageBuildError",
    "ShopImages",
    "base_packages",
    "build_images",
    "default_sources",
    "recipe_hash",
]

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
REPOSITORY = "openecs-demo"
RECIPE_LABEL = "openecs.demo.recipe"
# Bump when the build steps below change in a way the inputs do not show.
_LAYOUT_VERSION = "1"
_LOCK = Path(tempfile.gettempdir()) / "openecs-demo-images.lock"
_BUSYBOX_APPLETS = ("sh", "httpd", "wget", "sleep", "cat", "ls", "echo")

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ShopImages:
    frontend: str
    backend: str
    database: str


def default_sources() -> Path:
    """demo/ at the root of the checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "demo"


def base_packages(sources: Path) -> list[str]:
    lines = (sources / "base" / "packages.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def recipe_hash(parts: Iterable[bytes | str]) -> str:
    """A short hash of a build's inputs, used as the image tag."""
    digest = hashlib.sha256(_LAYOUT_VERSION.encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:16]


def _files(root: Path, names: Iterable[str]) -> Iterator[bytes | str]:
    for name in names:
        path = root / name
        if path.is_dir():
            for item in sorted(p for p in path.rglob("*") if p.is_file()):
                yield str(item.relative_to(root))
                yield item.read_bytes()
        else:
            yield name
            yield path.read_bytes()


def _docker(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise ImageBuildError(
            f"docker {' '.join(args[:2])} failed: {done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done.stdout.decode(errors="replace")


def image_exists(ref: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", ref], capture_output=True)
    return done.returncode == 0


def _run(command: list[str], cwd: Path | None, what: str, log: Log) -> None:
    log(f"  {what}: {' '.join(command)}")
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise ImageBuildError(f"{what} failed ({' '.join(command)}):\n{tail}")


@contextmanager
def _build_lock() -> Iterator[None]:
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _base(sources: Path, log: Log) -> str:
    packages = base_packages(sources)
    tag = recipe_hash([DEBIAN_SUITE, DEBIAN_MIRROR, "minbase", *packages])
    ref = f"{REPOSITORY}/base:{tag}"
    if image_exists(ref):
        return ref
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is missing: apt-get install debootstrap")
    log(f"building {ref}: debootstrap {DEBIAN_SUITE} with {', '.join(packages)} (a few minutes)")
    work = Path(tempfile.mkdtemp(prefix="openecs-demo-base-", dir="/var/tmp"))
    try:
        rootfs = work / "rootfs"
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            None,
            "debootstrap",
            log,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"LABEL {RECIPE_LABEL}={tag}",
            'CMD ["/bin/bash"]',
        ]
        args = ["docker", "import"]
        for change in changes:
            args += ["--change", change]
        imported = subprocess.run([*args, "-", ref], stdin=tar.stdout, capture_output=True)
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ImageBuildError(f"docker import failed: {imported.stderr.decode()[-2000:]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ref


def _on_base(name: str, base: str, sources: Path, files: list[str], log: Log) -> str:
    root = sources / name
    tag = recipe_hash([base, *_files(root, ["Dockerfile", *files])])
    ref = f"{REPOSITORY}/{name}:{tag}"
    if image_exists(ref):
        return ref
    log(f"building {ref}")
    _docker(
        "build",
        "-q",
        "--build-arg",
        f"BASE={base}",
        "--label",
        f"{RECIPE_LABEL}={tag}",
        "-t",
        ref,
        str(root),
    )
    return ref


def _busybox() -> Path:
    found = Path(shutil.which("busybox") or "/bin/busybox")
    if not found.exists():
        raise ImageBuildError("busybox is missing: apt-get install busybox-static")
    return found


_FRONTEND_INPUTS = [
    "Dockerfile",
    "httpd.conf",
    "package.json",
    "package-lock.json",
    "vite.config.js",
    "index.html",
    "src",
]


def _frontend(sources: Path, log: Log) -> str:
    root = sources / "frontend"
    busybox = _busybox()
    tag = recipe_hash([*_files(root, _FRONTEND_INPUTS), busybox.read_bytes()])
    ref = f"{REPOSITORY}/frontend:{tag}"
    if image_exists(ref):
        return ref
    log(f"building {ref}: npm ci, vite build")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise ImageBuildError(f"{tool} is missing: apt-get install nodejs npm")
    _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], root, "npm ci", log)
    _run(["npm", "run", "build"], root, "vite build", log)
    context = Path(tempfile.mkdtemp(prefix="openecs-demo-frontend-"))
    try:
        shutil.copy(root / "Dockerfile", context / "Dockerfile")
        shutil.copytree(root / "dist", context / "dist")
        bin_dir = context / "rootfs" / "bin"
        bin_dir.mkdir(parents=True)
        (context / "rootfs" / "etc").mkdir()
        (context / "rootfs" / "tmp").mkdir(mode=0o1777)
        shutil.copy(busybox, bin_dir / "busybox")
        for applet in _BUSYBOX_APPLETS:
            os.symlink("busybox", bin_dir / applet)
        shutil.copy(root / "httpd.conf", context / "rootfs" / "etc" / "httpd.conf")
        (context / "rootfs" / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
        _docker("build", "-q", "--label", f"{RECIPE_LABEL}={tag}", "-t", ref, str(context))
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return ref


def build_images(sources: Path | None = None, log: Log = print) -> ShopImages:
    """The three images, built when missing; their references."""
    sources = sources or default_sources()
    with _build_lock():
        base = _base(sources, log)
        return ShopImages(
            frontend=_frontend(sources, log),
            backend=_on_base("backend", base, sources, ["app.py"], log),
            database=_on_base("database", base, sources, ["entrypoint.sh"], log),
        )
