#!/bin/sh
# Test stand-in for the docker CLI inside the Debian test server (there is no Docker engine here).
# It records every call, reports versions that satisfy misp-docker, and turns
# `docker compose up` / `down` into request files that the test's controller, running on the
# host, answers by starting or stopping the MISP double.
set -u
state=/var/lib/docker-standin
mkdir -p "$state/requests"
printf '%s\tcwd=%s\t%s\n' "$(date +%s)" "$(pwd)" "$*" >> "$state/calls.log"

request() {
  sequence=$(date +%s%N)
  printf '%s\n%s\n' "$1" "$(pwd)" > "$state/requests/.$sequence.tmp"
  mv "$state/requests/.$sequence.tmp" "$state/requests/$sequence.req"
}

case "$*" in
  "version --format {{.Server.Version}}") echo "27.3.1" ;;
  "version"*) echo "Client: Docker Engine - Community"; echo " Version: 27.3.1"; echo "Server: Docker Engine - Community"; echo " Version: 27.3.1" ;;
  "compose version --short") echo "2.29.7" ;;
  "compose version"*) echo "Docker Compose version v2.29.7" ;;
  "compose pull"*) [ -f .env ] || { echo "required variable CORE_TAG is missing a value: Missing or outdated .env file" >&2; exit 1; } ;;
  "compose up"*)
    [ -f .env ] || { echo "required variable CORE_TAG is missing a value: Missing or outdated .env file" >&2; exit 1; }
    request up ;;
  "compose down"*) request down ;;
  "compose logs"*) cat "$state/misp-core.log" 2>/dev/null ;;
  "compose ps"*) [ -f "$state/running" ] && echo "misp-core running" ;;
  *) echo "docker stand-in: unsupported call: $*" >&2; exit 125 ;;
esac
