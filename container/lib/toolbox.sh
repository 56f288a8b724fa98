# shellcheck shell=bash
# What the toolbox's shell scripts share, in one line to source:
#   source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/../lib/toolbox.sh"
# cli.sh: fail, parse_options; database.sh: require_database_name; backup.sh: s3 (the S3
# calls, with boto3), backup_key, upload_with_checksum, discard_backup; checkpoint.sh:
# checkpoint (get, put, clear).
lib=$(dirname -- "${BASH_SOURCE[0]}")
# shellcheck source=SCRIPTDIR/cli.sh
source "$lib/cli.sh"
# shellcheck source=SCRIPTDIR/database.sh
source "$lib/database.sh"
# shellcheck source=SCRIPTDIR/backup.sh
source "$lib/backup.sh"
# shellcheck source=SCRIPTDIR/checkpoint.sh
source "$lib/checkpoint.sh"
unset lib
