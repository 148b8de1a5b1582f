#!/usr/bin/env bash
# The accessibility tests run axe-core (from npm, pinned in package-lock.json) in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f node_modules/axe-core/axe.min.js ]; then exit 0; fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "ERROR: npm is missing; the accessibility tests need it: sudo apt-get install npm" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
echo "Installing axe-core for the accessibility tests..."
npm ci --no-audit --no-fund --silent
