#!/usr/bin/env bash
# Back up one PostgreSQL database to S3: pg_dump in custom format (compressed), streamed
# to S3 without touching local disk, with a SHA-256 sidecar object for later verification.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/toolbox.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/toolbox.sh"

usage() {
    cat <<'EOF'
Usage: pg_backup.sh [--database NAME] [--bucket BUCKET] [--prefix PREFIX] [--compress 0-9]

Dumps one PostgreSQL database with pg_dump --format=custom and streams it to
  s3://BUCKET/PREFIX<database>/<database>-<UTC timestamp>.dump
plus a checksum object <key>.sha256 (sha256sum format).

Options (defaults from the environment):
  --database NAME   database to dump (default: $PGDATABASE)
  --bucket BUCKET   target bucket (default: $BUCKET)
  --prefix PREFIX   key prefix (default: $PREFIX, else "postgres/")
  --compress N      pg_dump compression level 0-9 (default: 6)
  -h, --help        show this help

Connection: the standard libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD (use a secret
reference such as PGPASSWORD=ssm:/path), PGSSLMODE...
Prints the object's URI, size and checksum; exits non-zero if the dump or upload fails.
EOF
}

database=${PGDATABASE:-}
bucket=${BUCKET:-}
prefix=${PREFIX-postgres/}
compress=6
parse_options "--database=database" \
    "--bucket=bucket" \
    "--prefix=prefix" \
    "--compress=compress" \
    -- "$@"
[ -n "$database" ] || fail "no database: pass --database or set PGDATABASE" 2
[ -n "$bucket" ] || fail "no bucket: pass --bucket or set BUCKET" 2
case "$compress" in [0-9]) ;; *) fail "--compress must be a digit 0-9, got '$compress'" 2 ;; esac
require_database_name "$database"

uri="s3://${bucket}/$(backup_key "$prefix" "$database" .dump)"

echo "pg_backup: dumping database '$database' to $uri"
# pipefail makes a dump failure fail the pipeline even when the upload itself succeeded.
if ! pg_dump --format=custom --compress="$compress" --no-password -- "$database" |
    upload_with_checksum pg_backup "$uri"; then
    discard_backup "$uri"
    fail "backup of '$database' failed; nothing was kept"
fi
