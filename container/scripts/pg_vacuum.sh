#!/usr/bin/env bash
# VACUUM (ANALYZE) one PostgreSQL database, and say how long it took and what it reclaimed.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/database.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/database.sh"

usage() {
    cat <<'USAGE'
Usage: pg_vacuum.sh [--database NAME] [--full] [--analyze-only]

Runs VACUUM (ANALYZE) on every table of one database (default: $PGDATABASE) with
vacuumdb, then prints the database size before and after.
  --full          VACUUM FULL (rewrites tables, takes exclusive locks: plan a window)
  --analyze-only  only refresh planner statistics
Connection: the standard libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD.
USAGE
}

fail() {
    printf 'pg_vacuum: %s\n' "$1" >&2
    exit "${2:-1}"
}

database=${PGDATABASE:-}
mode=(--analyze)
while [ "$#" -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --database) [ "$#" -ge 2 ] || fail "--database needs a value" 2; database=$2; shift 2 ;;
        --full) mode=(--full --analyze); shift ;;
        --analyze-only) mode=(--analyze-only); shift ;;
        *) fail "unknown argument '$1' (see --help)" 2 ;;
    esac
done
[ -n "$database" ] || fail "no database: pass --database or set PGDATABASE" 2
require_database_name pg_vacuum "$database"

size() {
    psql --no-password -X -At -v ON_ERROR_STOP=1 --dbname="$database" \
        -c "SELECT pg_database_size(current_database())"
}

before=$(size) || fail "cannot connect to database '$database'"
echo "pg_vacuum: ${mode[*]} on '$database' ($before bytes)"
vacuumdb --no-password "${mode[@]}" --dbname="$database"
after=$(size)
echo "pg_vacuum: '$database' done: $before -> $after bytes"
