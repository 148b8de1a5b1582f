#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it once if it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "ERROR: /usr/bin/chromium is missing. Install it with: sudo apt-get install chromium" >&2
  exit 1
fi
echo "Installing Chromium for the browser tests..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
