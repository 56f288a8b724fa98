#!/usr/bin/env bash
# Installs the Debian packages the tests need that a fresh machine of this kind lacks:
# Podman + runc (build and run the toolbox image without a Docker engine; crun fails on
# hybrid cgroups here) and debootstrap (the base image, since no registry is reachable).
# Only acts as root with apt-get; otherwise says what is missing and carries on, and the
# image tests then report that they were skipped.
set -euo pipefail

wanted=(podman runc debootstrap)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-system-deps: missing ${missing[*]} (needs root and apt-get); image tests will be skipped" >&2
    exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
