#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian's packages, for the alert console's browser
# test (Selenium drives /usr/bin/chromedriver; nothing is downloaded at test time).
# Usage: browser.sh install|status
source "$(dirname "$0")/lib.sh"

install() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}"
  fi
  command -v chromium >/dev/null 2>&1 || die "chromium missing after installing Debian package chromium"
  command -v chromedriver >/dev/null 2>&1 || die "chromedriver missing after installing Debian package chromium-driver"
  say "browser: $(chromium --version 2>/dev/null | head -n1)"
}

status() {
  local rc=0
  for binary in chromium chromedriver; do
    if command -v "$binary" >/dev/null 2>&1; then echo "$binary: installed"; else echo "$binary: missing"; rc=1; fi
  done
  return $rc
}

"${1:-install}"
