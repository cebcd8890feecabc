#!/usr/bin/env bash
# Install and start what OpenECS and its tests need on a Debian machine:
# Docker Engine (docker.io, dockerd started if not running, ports published on
# 127.0.0.1), HAProxy, PostgreSQL, busybox-static (test images), chromium (console
# browser tests, driven by Playwright).
# Idempotent: whatever is already installed or running is left alone.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# The demo's images: debootstrap (Debian base), node + npm (the React frontend).
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  echo "system-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The postgresql package may start a cluster of its own; our tests run their own.
exec "$(dirname "$0")/ensure-docker.sh"
