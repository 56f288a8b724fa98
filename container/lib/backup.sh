# shellcheck shell=bash
# Shared by the backup scripts: stream stdin to S3 with a SHA-256 sidecar object.

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
    if ! tee "$work/tap" | aws s3 cp --only-show-errors - "$uri"; then
        wait "$sum_pid" || true
        rm -rf "$work"
        return 1
    fi
    wait "$sum_pid"
    checksum=$(cut -d' ' -f1 <"$work/sum")
    rm -rf "$work"
    printf '%s  %s\n' "$checksum" "${uri##*/}" | aws s3 cp --only-show-errors - "${uri}.sha256" || return 1
    local bucket_key=${uri#s3://}
    size=$(aws s3api head-object --bucket "${bucket_key%%/*}" --key "${bucket_key#*/}" \
        --query ContentLength --output text) || return 1
    printf '%s: wrote %s (%s bytes, sha256 %s)\n' "$tool" "$uri" "$size" "$checksum"
}

# discard_backup URI: remove a partial backup and its sidecar.
discard_backup() {
    aws s3 rm --only-show-errors "$1" >/dev/null 2>&1 || true
    aws s3 rm --only-show-errors "$1.sha256" >/dev/null 2>&1 || true
}
