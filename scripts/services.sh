#!/usr/bin/env bash
# Provision and start every real service the tests and `make run` use. Idempotent.
# Usage: scripts/services.sh up|down|status [postgres|kafka|ferretdb|victoriametrics|tools|browser ...]
# tools and browser only install Debian packages (nothing to start or stop).
set -euo pipefail
here="$(cd "$(dirname "$0")/services" && pwd)"
action="${1:-up}"; shift || true
names=("$@"); ((${#names[@]})) || names=(tools browser postgres kafka ferretdb victoriametrics)

case "$action" in
  up)     for n in "${names[@]}"; do if [[ $n == tools || $n == browser ]]; then "$here/$n.sh" install; else "$here/$n.sh" start >/dev/null; fi; done ;;
  down)   for n in "${names[@]}"; do [[ $n == tools || $n == browser ]] || "$here/$n.sh" stop; done ;;
  status) rc=0; for n in "${names[@]}"; do "$here/$n.sh" status || rc=1; done; exit $rc ;;
  *) echo "usage: $0 up|down|status [service...]" >&2; exit 2 ;;
esac
