#!/usr/bin/env bash
# Start dockerd if no Docker engine answers. Published ports default to 127.0.0.1.
set -euo pipefail

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: dockerd is not installed (apt-get install docker.io)" >&2
  exit 1
fi
log=/var/log/openecs-dockerd.log
echo "ensure-docker: starting dockerd (log: $log)" >&2
nohup dockerd --ip 127.0.0.1 >"$log" 2>&1 &
for _ in $(seq 1 120); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "ensure-docker: dockerd did not come up; last lines of $log:" >&2
tail -n 30 "$log" >&2
exit 1
