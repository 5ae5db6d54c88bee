#!/usr/bin/env bash
# Provision and start every real service the tests and `make run` use. Idempotent.
# Usage: scripts/services.sh up|down|status [postgres|kafka|ferretdb|tools ...]
set -euo pipefail
here="$(cd "$(dirname "$0")/services" && pwd)"
action="${1:-up}"; shift || true
names=("$@"); ((${#names[@]})) || names=(tools postgres kafka ferretdb)

case "$action" in
  up)     for n in "${names[@]}"; do if [[ $n == tools ]]; then "$here/tools.sh" install; else "$here/$n.sh" start >/dev/null; fi; done ;;
  down)   for n in "${names[@]}"; do [[ $n == tools ]] || "$here/$n.sh" stop; done ;;
  status) rc=0; for n in "${names[@]}"; do if [[ $n == tools ]]; then "$here/tools.sh" status || rc=1; else "$here/$n.sh" status || rc=1; fi; done; exit $rc ;;
  *) echo "usage: $0 up|down|status [service...]" >&2; exit 2 ;;
esac
