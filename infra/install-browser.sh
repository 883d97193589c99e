#!/usr/bin/env bash
# Debian's headless Chromium for the end-to-end UI test. Never downloads a
# browser build of its own: it comes from the distribution's packages.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-browser: not root; skipping (the browser test will be skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-browser: $(/usr/bin/chromium --version)"
