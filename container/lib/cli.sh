# shellcheck shell=bash
# Shared by the toolbox's shell scripts: one way to fail and one way to read options.
# A script defines usage(); messages start with its name (pg_backup.sh says "pg_backup: ").
TOOL=${0##*/}
TOOL=${TOOL%.sh}

# fail MESSAGE [CODE]: "<tool>: MESSAGE" on stderr, then exit CODE (default 1).
fail() {
    printf '%s: %s\n' "$TOOL" "$1" >&2
    exit "${2:-1}"
}

# parse_options SPEC... -- ARGS...: reads ARGS as SPEC says, setting the caller's variables.
# A SPEC is "--option=variable" (the option takes a value) or "--flag=variable=value" (the
# flag sets variable to value). -h/--help shows usage and exits 0; an option without its
# value, or any other argument, fails with exit 2.
parse_options() {
    local -A takes=() sets=() values=()
    local spec option rest
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        spec=$1
        option=${spec%%=*}
        rest=${spec#*=}
        if [[ $rest == *=* ]]; then
            sets[$option]=${rest%%=*}
            values[$option]=${rest#*=}
        else
            takes[$option]=$rest
        fi
        shift
    done
    [ "$#" -gt 0 ] && shift # the "--"
    while [ "$#" -gt 0 ]; do
        case "$1" in
            -h | --help)
                usage
                exit 0
                ;;
        esac
        if [ -n "${takes[$1]+set}" ]; then
            [ "$#" -ge 2 ] || fail "$1 needs a value" 2
            printf -v "${takes[$1]}" '%s' "$2"
            shift 2
        elif [ -n "${sets[$1]+set}" ]; then
            printf -v "${sets[$1]}" '%s' "${values[$1]}"
            shift
        else
            fail "unknown argument '$1' (see --help)" 2
        fi
    done
}
