#!/usr/bin/env bash
# Debian's headless Chromium and its driver for the end-to-end UI test
# (tests/frontend/test_browser.py drives it with Selenium). Never downloads a browser
# or driver build of its own: both come from the distribution's packages.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-browser: not root; skipping (the browser test will be skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null); $(/usr/bin/chromedriver --version)"
