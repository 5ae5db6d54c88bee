#!/usr/bin/env bash
# Prometheus (with promtool), Alertmanager (with amtool), node-exporter and kcat, from Debian's
# packages. Tests start Prometheus and Alertmanager themselves on free ports with temporary
# configs, so this script only makes sure the binaries are installed.
# Usage: tools.sh install|status
source "$(dirname "$0")/lib.sh"

# binary:package pairs. Debian names the Alertmanager binary prometheus-alertmanager.
TOOLS=(prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager
       amtool:prometheus-alertmanager prometheus-node-exporter:prometheus-node-exporter kcat:kcat)

install() {
  local missing=()
  for pair in "${TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if ((${#missing[@]})); then
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  fi
  for pair in "${TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair%%:*} missing after installing Debian package ${pair#*:}"
  done
  say "tools: $(prometheus --version 2>&1 | head -n1 | cut -d' ' -f1-3); $(prometheus-alertmanager --version 2>&1 | head -n1 | cut -d' ' -f1-3)"
}

status() {
  local rc=0
  for pair in "${TOOLS[@]}"; do
    if command -v "${pair%%:*}" >/dev/null 2>&1; then echo "${pair%%:*}: installed"; else echo "${pair%%:*}: missing"; rc=1; fi
  done
  return $rc
}

"${1:-install}"
