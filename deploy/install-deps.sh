#!/usr/bin/env bash
# Installs what Mneme needs to build and run on Debian 12: the C libraries it links and pkg-config.
# Idempotent: installs only what is missing. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(pkg-config libopenblas-dev libmicrohttpd-dev libjpeg-dev libpng-dev libdnnl-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$candidate/swift" ] && { echo "swift is at $candidate; add it to PATH" >&2; exit 1; }
    done
    echo "Swift 6 toolchain not found: install it from https://www.swift.org/install/linux/ and put it on PATH" >&2
    exit 1
fi
