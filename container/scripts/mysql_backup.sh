#!/usr/bin/env bash
# Back up one MariaDB/MySQL database to S3: a consistent mysqldump, gzip-compressed and
# streamed to S3 without touching local disk, with a SHA-256 sidecar object.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/toolbox.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/toolbox.sh"

usage() {
    cat <<'EOF'
Usage: mysql_backup.sh [--database NAME] [--bucket BUCKET] [--prefix PREFIX]
                       [--host HOST] [--port PORT] [--user USER]

Dumps one database with mysqldump --single-transaction (consistent for InnoDB without
locking writers), including routines, triggers and events, gzips it and streams it to
  s3://BUCKET/PREFIX<database>/<database>-<UTC timestamp>.sql.gz
plus a checksum object <key>.sha256 (sha256sum format).

Options (defaults from the environment):
  --database NAME   database to dump (default: $MYSQL_DATABASE)
  --bucket BUCKET   target bucket (default: $BUCKET)
  --prefix PREFIX   key prefix (default: $PREFIX, else "mysql/")
  --host HOST       server (default: $MYSQL_HOST, else localhost)
  --port PORT       port (default: $MYSQL_TCP_PORT, else 3306)
  --user USER       user (default: $MYSQL_USER, else root)
  -h, --help        show this help

The password comes from MYSQL_PWD (use a secret reference such as MYSQL_PWD=ssm:/path);
it is never put on the command line.
EOF
}

database=${MYSQL_DATABASE:-}
bucket=${BUCKET:-}
prefix=${PREFIX-mysql/}
host=${MYSQL_HOST:-localhost}
port=${MYSQL_TCP_PORT:-3306}
user=${MYSQL_USER:-root}
parse_options "--database=database" \
    "--bucket=bucket" \
    "--prefix=prefix" \
    "--host=host" \
    "--port=port" \
    "--user=user" \
    -- "$@"
[ -n "$database" ] || fail "no database: pass --database or set MYSQL_DATABASE" 2
[ -n "$bucket" ] || fail "no bucket: pass --bucket or set BUCKET" 2
case "$port" in '' | *[!0-9]*) fail "--port must be a number, got '$port'" 2 ;; esac
require_database_name "$database"

uri="s3://${bucket}/$(backup_key "$prefix" "$database" .sql.gz)"

echo "mysql_backup: dumping database '$database' to $uri"
# pipefail makes a dump failure fail the pipeline even when the upload itself succeeded.
if ! mysqldump --host="$host" --port="$port" --user="$user" --protocol=TCP \
    --single-transaction --routines --triggers --events --hex-blob \
    --databases "$database" |
    gzip -6 |
    upload_with_checksum mysql_backup "$uri"; then
    discard_backup "$uri"
    fail "backup of '$database' failed; nothing was kept"
fi
