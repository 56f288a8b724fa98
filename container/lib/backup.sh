# shellcheck shell=bash
# Shared by the backup scripts: stream stdin to S3 with a SHA-256 sidecar object.

# s3 COMMAND ARGS...: the S3 calls of the scripts (lib/s3_object.py, boto3: the image has
# no AWS CLI). put URI (stdin), get URI FILE, size URI, rm URI, latest BUCKET PREFIX SUFFIX.
s3_object_py=$(realpath -- "$(dirname -- "${BASH_SOURCE[0]}")/s3_object.py")
s3() {
    python3 "$s3_object_py" "$@"
}

# backup_key PREFIX DATABASE SUFFIX: the timestamped key of a new backup. UTC timestamps
# sort lexically in time order, which is how the restore check finds the newest one.
backup_key() {
    printf '%s%s/%s-%s%s' "$1" "$2" "$2" "$(date -u +%Y%m%dT%H%M%SZ)" "$3"
}

# upload_with_checksum TOOL URI: reads the backup on stdin, uploads it to URI without
# touching local disk, then writes URI.sha256 (sha256sum format). Run it at the end of a
# pipeline under pipefail; if the producer or the upload fails, the caller must call
# discard_backup so no partial object is left for a restore to pick up.
upload_with_checksum() {
    local tool=$1 uri=$2 work sum_pid checksum size
    work=$(mktemp -d)
    mkfifo "$work/tap"
    sha256sum <"$work/tap" >"$work/sum" &
    sum_pid=$!
    if ! tee "$work/tap" | s3 put "$uri"; then
        wait "$sum_pid" || true
        rm -rf "$work"
        return 1
    fi
    wait "$sum_pid"
    checksum=$(cut -d' ' -f1 <"$work/sum")
    rm -rf "$work"
    printf '%s  %s\n' "$checksum" "${uri##*/}" | s3 put "${uri}.sha256" || return 1
    size=$(s3 size "$uri") || return 1
    printf '%s: wrote %s (%s bytes, sha256 %s)\n' "$tool" "$uri" "$size" "$checksum"
}

# discard_backup URI: remove a partial backup and its sidecar.
discard_backup() {
    s3 rm "$1" >/dev/null 2>&1 || true
    s3 rm "$1.sha256" >/dev/null 2>&1 || true
}
