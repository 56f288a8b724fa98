#!/usr/bin/env bash
# VACUUM (ANALYZE) one PostgreSQL database, and say how long it took and what it reclaimed.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/toolbox.sh
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/toolbox.sh"

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

database=${PGDATABASE:-}
mode_name=analyze
parse_options "--database=database" \
    "--full=mode_name=full" \
    "--analyze-only=mode_name=analyze-only" \
    -- "$@"
case "$mode_name" in
    full) mode=(--full --analyze) ;;
    analyze-only) mode=(--analyze-only) ;;
    *) mode=(--analyze) ;;
esac
[ -n "$database" ] || fail "no database: pass --database or set PGDATABASE" 2
require_database_name "$database"

size() {
    psql --no-password -X -At -v ON_ERROR_STOP=1 --dbname="$database" \
        -c "SELECT pg_database_size(current_database())"
}

before=$(size) || fail "cannot connect to database '$database'"
echo "pg_vacuum: ${mode[*]} on '$database' ($before bytes)"
vacuumdb --no-password "${mode[@]}" --dbname="$database"
after=$(size)
echo "pg_vacuum: '$database' done: $before -> $after bytes"
