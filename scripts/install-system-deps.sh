#!/usr/bin/env bash
# Debian packages the tests need: headless Chromium and its driver (browser tests), jq (the
# docs' shell examples pipe JSON through it).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v jq >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install Chromium and ChromeDriver with your package manager to run the browser tests" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "not root and no sudo: skipping Chromium install (browser tests will not run)" >&2
    exit 0
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver jq >/dev/null
