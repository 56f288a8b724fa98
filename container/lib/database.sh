# shellcheck shell=bash
# Shared by the database scripts: a database name must be a name, nothing more.

# database_name_problem NAME: prints why NAME cannot be used as a database name, or nothing.
# libpq reads a "database name" holding '=' as a whole connection string, and one with
# '://' as a connection URI: a forEach item "host=elsewhere dbname=x" would connect to
# another server and send it PGPASSWORD. The name also becomes part of S3 keys.
database_name_problem() {
    case "$1" in
        "") printf 'is empty' ;;
        *=*) printf "contains '=' (libpq would read it as a connection string)" ;;
        *://*) printf "contains '://' (libpq would read it as a connection URI)" ;;
        -*) printf "starts with '-'" ;;
        */* | *..*) printf "contains '/' or '..' (it is part of the backup's S3 key)" ;;
    esac
}

# require_database_name NAME: fails (exit 2, saying why) unless NAME is a plain name.
# (fail comes from lib/cli.sh.)
require_database_name() {
    local problem
    problem=$(database_name_problem "$1")
    [ -z "$problem" ] || fail "database name '$1' $problem" 2
}
