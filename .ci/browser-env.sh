#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver server are installed for the browser test
# (tests/browser.rs), and prints their paths: `chromium` first, `chromedriver` last (on
# stdout; progress goes to stderr).
#
# Quick when both are already on PATH. Otherwise installs Debian's `chromium` and
# `chromium-driver` packages with apt-get, through `sudo -n` when not root. Selenium, which
# drives them, comes with the Python virtualenv (.ci/python-env.sh).
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
chromium="$(bash "$here/debian-install.sh" chromium chromium chromium-driver)"
chromedriver="$(bash "$here/debian-install.sh" chromedriver chromium chromium-driver)"
echo "$chromium"
echo "$chromedriver"
