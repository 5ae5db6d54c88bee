# Shared shell functions for the service scripts. Sourced, never run.
# Every script is idempotent: "start" on a running, healthy service does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${MONITORING_CACHE:-$ROOT/.cache}"
LOGS="$CACHE/logs"
RUN="$CACHE/run"
BIN="$CACHE/bin"
mkdir -p "$LOGS" "$RUN" "$BIN"

say() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.3
  done
}

# pid_alive NAME: the process recorded in $RUN/NAME.pid is running.
pid_alive() {
  local f="$RUN/$1.pid"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# stop_pid NAME: TERM the recorded process, wait, then KILL.
stop_pid() {
  local name="$1" f="$RUN/$1.pid" pid
  [[ -f "$f" ]] || { say "$name: not started by these scripts"; return 0; }
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    say "$name: stopped (pid $pid)"
  fi
  rm -f "$f"
}

# apt_install PACKAGE...: install Debian packages, running 'apt-get update' at most once per machine-day.
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* with your package manager"
  local stamp="$CACHE/apt-updated-$(date +%F)"
  if [[ ! -f "$stamp" ]]; then
    say "apt-get update"
    apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update failed, see $LOGS/apt.log"
    touch "$stamp"
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$LOGS/apt.log" 2>&1 \
    || die "apt-get install $* failed, see $LOGS/apt.log"
}

# need_command BINARY PACKAGE: make BINARY available, installing PACKAGE when it is missing.
need_command() {
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 is still missing after installing Debian package $2"
}
