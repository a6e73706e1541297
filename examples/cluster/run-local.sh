#!/usr/bin/env bash
# Two edgehost hosts and nginx in front, all on loopback: the smallest
# "beyond one machine" setup. Usage: examples/cluster/run-local.sh [TENANTS_DIR]
# (default: the bundled examples). ^C stops all three.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT
edgehost serve "$@" --listen 127.0.0.1:8081 --admin 127.0.0.1:9091 &
edgehost serve "$@" --listen 127.0.0.1:8082 --admin 127.0.0.1:9092 &
nginx -p "$work" -c "$here/nginx.conf" &
echo "load balancer on http://127.0.0.1:8080 (try: curl localhost:8080/hello-c/hello)"
wait
