#!/usr/bin/env bash
# Prove a PostgreSQL backup can be restored: verify its checksum, restore it into a scratch
# database, run a sanity query, and always drop the scratch database again.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/toolbox.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/toolbox.sh"

usage() {
    cat <<'EOF'
Usage: pg_restore_check.sh [--database NAME] [--bucket BUCKET] [--prefix PREFIX]
                           [--key KEY] [--min-tables N] [--query SQL]

Takes the newest backup written by pg_backup.sh for NAME (or the object KEY), checks it
against its .sha256 object, restores it with pg_restore into a scratch database
"longjob_check_<random>", runs the sanity checks, then drops the scratch database.

Options (defaults from the environment):
  --database NAME   database whose backups are checked (default: $PGDATABASE)
  --bucket BUCKET   bucket holding the backups (default: $BUCKET)
  --prefix PREFIX   key prefix used by pg_backup.sh (default: $PREFIX, else "postgres/")
  --key KEY         check this object instead of the newest one
  --min-tables N    the restore must contain at least N user tables (default: 1)
  --query SQL       a query whose single result must be true or a positive number,
                    e.g. "SELECT count(*) FROM orders"
  -h, --help        show this help

Connection: the standard libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD; the user needs
CREATEDB. Exit 0 when the backup restores and passes the checks, 1 otherwise.
EOF
}

database=${PGDATABASE:-}
bucket=${BUCKET:-}
prefix=${PREFIX-postgres/}
key=""
min_tables=1
query=""
parse_options "--database=database" \
    "--bucket=bucket" \
    "--prefix=prefix" \
    "--key=key" \
    "--min-tables=min_tables" \
    "--query=query" \
    -- "$@"
[ -n "$bucket" ] || fail "no bucket: pass --bucket or set BUCKET" 2
case "$min_tables" in '' | *[!0-9]*) fail "--min-tables must be a whole number, got '$min_tables'" 2 ;; esac
if [ -z "$key" ]; then
    [ -n "$database" ] || fail "no database: pass --database, --key or set PGDATABASE" 2
    require_database_name "$database"
    series="${prefix}${database}/${database}-"
    # Keys carry a UTC timestamp, so the lexically greatest key is the newest backup.
    key=$(s3 latest "$bucket" "$series" .dump) || true
    [ -n "$key" ] || fail "no backup found under s3://$bucket/$series"
fi
uri="s3://${bucket}/${key}"

work=$(mktemp -d)
scratch="longjob_check_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
created=0
cleanup() {
    if [ "$created" = 1 ]; then
        dropdb --no-password --if-exists -- "$scratch" ||
            printf 'pg_restore_check: could not drop scratch database %s\n' "$scratch" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

echo "pg_restore_check: checking $uri"
s3 get "$uri" "$work/backup.dump" || fail "cannot download $uri"
if s3 get "${uri}.sha256" "$work/backup.sha256" 2>/dev/null; then
    expected=$(cut -d' ' -f1 <"$work/backup.sha256")
    actual=$(sha256sum "$work/backup.dump" | cut -d' ' -f1)
    [ "$expected" = "$actual" ] || fail "checksum mismatch for $uri: expected $expected, got $actual"
    echo "pg_restore_check: checksum ok ($actual)"
else
    fail "no checksum object ${uri}.sha256: refusing to trust an unverified backup"
fi

createdb --no-password -- "$scratch"
created=1
if ! pg_restore --exit-on-error --no-owner --no-privileges --no-password \
    --dbname="$scratch" "$work/backup.dump"; then
    fail "pg_restore of $uri failed"
fi

tables=$(psql --no-password -X -At -v ON_ERROR_STOP=1 --dbname="$scratch" -c \
    "SELECT count(*) FROM pg_catalog.pg_tables
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
[ "$tables" -ge "$min_tables" ] ||
    fail "restored database has $tables user tables, expected at least $min_tables"
echo "pg_restore_check: restored $tables user tables"

if [ -n "$query" ]; then
    result=$(psql --no-password -X -At -v ON_ERROR_STOP=1 --dbname="$scratch" -c "$query") ||
        fail "sanity query failed: $query"
    case "$result" in
        t | true) ;;
        '' | f | false | 0 | *[!0-9]*) fail "sanity query returned '$result': $query" ;;
    esac
    echo "pg_restore_check: sanity query ok ($result): $query"
fi
echo "pg_restore_check: $uri restores cleanly"
