#!/usr/bin/env bash
# Builds the toolbox image with Podman on a machine with no Docker engine and no registry
# access (see shared notes: containers.md). The base is a Debian bookworm rootfs made with
# debootstrap from the mirror apt already uses, imported once and cached.
#
#   tools/build-image.sh [TAG]            default TAG: localhost/longjob-toolbox:dev
#
# Environment: LONGJOB_PODMAN_ROOT (podman storage; default ~/.cache/longjob/podman) keeps
# the host's own podman state alone. Prints timings and the image size.
set -euo pipefail

tag=${1:-localhost/longjob-toolbox:dev}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
state=${LONGJOB_PODMAN_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/longjob/podman}
base=localhost/longjob-base:bookworm
podman_cmd=(podman --root "$state/storage" --runroot "$state/run")
mkdir -p "$state"

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

mirror() {
    # The mirror apt uses here (deb822 or one-line format); never a hard-coded host.
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1 || true)
    [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
        awk '{print $2}' | grep -v security | head -n 1 || true)
    [ -n "$uri" ] || { echo "build-image: no Debian mirror found in apt's sources" >&2; exit 1; }
    printf '%s' "$uri"
}

if ! "${podman_cmd[@]}" image exists "$base"; then
    t=$(seconds)
    rootfs=$(mktemp -d "$state/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)" >"$state/debootstrap.log" 2>&1 ||
        { tail -n 20 "$state/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # A proxy here re-signs TLS: its CA must be in the base for apt and pip in the build.
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    tar -C "$rootfs" --numeric-owner -c . | "${podman_cmd[@]}" import - "$base" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    echo "build-image: base $base made in $(elapsed "$t") s"
fi

t=$(seconds)
"${podman_cmd[@]}" build --pull=never --isolation chroot --network=host \
    --build-arg BASE_IMAGE="$base" -t "$tag" "$here/container" >"$state/build.log" 2>&1 ||
    { tail -n 40 "$state/build.log" >&2; exit 1; }
size=$("${podman_cmd[@]}" image inspect --format '{{.Size}}' "$tag")
echo "build-image: $tag built in $(elapsed "$t") s, size $((size / 1024 / 1024)) MiB"
