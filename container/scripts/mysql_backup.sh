#!/usr/bin/env bash
# Back up one MariaDB/MySQL database to S3: a consistent mysqldump, gzip-compressed and
# streamed to S3 without touching local disk, with a SHA-256 sidecar object.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/backup.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/backup.sh"
# shellcheck source=SCRIPTDIR/../lib/database.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/database.sh"

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

fail() {
    printf 'mysql_backup: %s\n' "$1" >&2
    exit "${2:-1}"
}

database=${MYSQL_DATABASE:-}
bucket=${BUCKET:-}
prefix=${PREFIX-mysql/}
host=${MYSQL_HOST:-localhost}
port=${MYSQL_TCP_PORT:-3306}
user=${MYSQL_USER:-root}
while [ "$#" -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --database) [ "$#" -ge 2 ] || fail "--database needs a value" 2; database=$2; shift 2 ;;
        --bucket) [ "$#" -ge 2 ] || fail "--bucket needs a value" 2; bucket=$2; shift 2 ;;
        --prefix) [ "$#" -ge 2 ] || fail "--prefix needs a value" 2; prefix=$2; shift 2 ;;
        --host) [ "$#" -ge 2 ] || fail "--host needs a value" 2; host=$2; shift 2 ;;
        --port) [ "$#" -ge 2 ] || fail "--port needs a value" 2; port=$2; shift 2 ;;
        --user) [ "$#" -ge 2 ] || fail "--user needs a value" 2; user=$2; shift 2 ;;
        *) fail "unknown argument '$1' (see --help)" 2 ;;
    esac
done
[ -n "$database" ] || fail "no database: pass --database or set MYSQL_DATABASE" 2
[ -n "$bucket" ] || fail "no bucket: pass --bucket or set BUCKET" 2
case "$port" in '' | *[!0-9]*) fail "--port must be a number, got '$port'" 2 ;; esac
require_database_name mysql_backup "$database"

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
