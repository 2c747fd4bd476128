#!/usr/bin/env bash
# Debian's Chromium for the Playwright browser tests (never `playwright install`, which downloads its own build).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium from Debian's packages"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
# CJK glyphs for readable screenshots
if ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null || true
fi
/usr/bin/chromium --version
