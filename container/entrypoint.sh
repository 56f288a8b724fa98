#!/bin/bash -p
# longjob toolbox entrypoint (contract: docs/design.md §8; the README states it in full).
#
#   entrypoint.sh INTERPRETER SCRIPT [PARAMS...]       legacy form: each PARAMS string is split
#                                                      on whitespace (never globbed or evaluated)
#   entrypoint.sh INTERPRETER SCRIPT -- [ARGS...]      verbatim form: one argv entry per ARG
#
# Exit codes: the script's own exit code; 124 the attempt's deadline passed (the script was
# stopped, or never started); 125 a secret reference could not be resolved; 126 refused
# (interpreter not allowed, bad script path, usage); 127 script or interpreter not found.
# Refused input never executes anything.
#
# The environment is not trusted: `bash -p` (the shebang: a fixed path, not found through
# PATH) ignores BASH_ENV, ENV, SHELLOPTS, BASHOPTS and exported functions; the helper that
# checks the environment runs as `python3 -I`; the script gets a rebuilt environment.
#
# Deadline: LONGJOB_DEADLINE (epoch seconds) is when this attempt must end. At it the
# script's process group gets SIGTERM, LONGJOB_STOP_GRACE seconds later SIGKILL, and the task
# exits 124: a timed-out attempt never keeps running beside its retry, whether or not the
# orchestrator stops it.
set -uo pipefail

# Scripts live beside this file, so the same entrypoint works in the image
# (/usr/src/app/scripts) and on a workstation (container/scripts).
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) || exit 126
scripts_dir=${LONGJOB_SCRIPTS_DIR:-$here/scripts}

die() { # code message
    printf 'entrypoint: %s\n' "$2" >&2
    exit "$1"
}

# Minimal JSON string encoder: log lines must stay parseable whatever a stage or
# script name contains.
json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    s=${s//[$'\001'-$'\037']/?}
    printf '"%s"' "$s"
}

now_ms() {
    local t=${EPOCHREALTIME/[,.]/}
    printf '%s' "$((t / 1000))"
}

[ "$#" -ge 2 ] || die 126 "usage: entrypoint.sh INTERPRETER SCRIPT [PARAMS...] | INTERPRETER SCRIPT -- [ARGS...]"
interpreter=$1
script=$2
shift 2

case "$interpreter" in
    bash | sh | python | python3) ;;
    *) die 126 "interpreter '$interpreter' is not allowed (allowed: bash, sh, python, python3)" ;;
esac

case "$script" in
    "") die 126 "script name is empty" ;;
    -*) die 126 "script '$script' must not start with '-'" ;;
    /*) die 126 "script '$script' must be a relative path inside the scripts folder" ;;
esac
case "/$script/" in
    */../*) die 126 "script '$script' must not contain '..'" ;;
esac

[ -d "$scripts_dir" ] || die 127 "scripts folder '$scripts_dir' not found"
scripts_root=$(realpath -e -- "$scripts_dir") || die 127 "scripts folder '$scripts_dir' not found"
[ -e "$scripts_dir/$script" ] || [ -L "$scripts_dir/$script" ] || die 127 "script '$script' not found in the scripts folder"
script_path=$(realpath -e -- "$scripts_dir/$script" 2>/dev/null) || die 127 "script '$script' is a broken link"
case "$script_path" in
    "$scripts_root"/*) ;;
    *) die 126 "script '$script' resolves outside the scripts folder" ;;
esac
[ -f "$script_path" ] || die 126 "script '$script' is not a regular file"

interpreter_bin=$(command -v -- "$interpreter") ||
    { [ "$interpreter" = python ] && interpreter_bin=$(command -v python3); } ||
    die 127 "interpreter '$interpreter' not found on PATH"

params=()
if [ "${1-}" = "--" ]; then
    shift
    params=("$@")
else
    # The original toolbox passed one whitespace-separated string; read -a splits it
    # without pathname expansion or any other shell evaluation.
    for group in "$@"; do
        words=()
        IFS=$' \t\n' read -r -d '' -a words <<<"$group" || true
        params+=("${words[@]}")
    done
fi

# The script's environment: the platform's variables, the job's allowed ones and the
# resolved secret references, written by the helper as NAME\0VALUE\0KIND\0 (values may hold
# any character and are never printed; KIND s marks a resolved secret). Variables that could
# run code are left out (and named on stderr); a reference that cannot be resolved stops the
# task (125).
helper_python=${LONGJOB_PYTHON:-$(command -v python3 || true)}
[ -n "$helper_python" ] || die 125 "python3 is needed to prepare the script's environment"
fields=()
mapfile -d '' -t fields < <("$helper_python" -I "$here/lib/task_environment.py")
wait "$!"
helper_status=$?
[ "$helper_status" -eq 0 ] || die 125 "secret references could not be resolved; the script was not started"
secret_values=()
for ((i = 0; i + 2 < ${#fields[@]}; i += 3)); do
    [ "${fields[i + 2]}" = s ] && secret_values+=("${fields[i + 1]}")
done

stage=${LONGJOB_STAGE:-}
attempt=${LONGJOB_ATTEMPT:-1}
case "$attempt" in '' | *[!0-9]*) attempt=1 ;; esac
deadline=${LONGJOB_DEADLINE:-}
case "$deadline" in '' | *[!0-9]*) deadline= ;; esac
grace=${LONGJOB_STOP_GRACE:-0}
case "$grace" in '' | *[!0-9]*) grace=0 ;; esac
rel_script=${script_path#"$scripts_root"/}
started=$(now_ms)

# end_line CODE [TIMED_OUT]: the JSON line that closes the attempt in the log.
end_line() {
    local timed=""
    [ "${2:-0}" = 1 ] && timed=',"timedOut":true'
    printf '{"longjob":"end","stage":%s,"attempt":%s,"script":%s,"exitCode":%s,"durationMs":%s%s}\n' \
        "$(json_str "$stage")" "$attempt" "$(json_str "$rel_script")" "$1" \
        "$(($(now_ms) - started))" "$timed" >&2
}

if [ -n "$deadline" ] && [ "$EPOCHSECONDS" -ge "$deadline" ]; then
    printf "entrypoint: the attempt's deadline passed before the script started\n" >&2
    end_line 124 1
    exit 124
fi
printf '{"longjob":"start","stage":%s,"attempt":%s,"interpreter":%s,"script":%s,"params":%s}\n' \
    "$(json_str "$stage")" "$attempt" "$(json_str "$interpreter")" "$(json_str "$rel_script")" \
    "${#params[@]}" >&2

# The script runs in its own session so that a forwarded signal reaches its whole process
# group (a pipeline such as pg_dump | gzip | aws), as a terminal's Ctrl-C would. If this
# entrypoint is killed outright, the script is killed with it (as a container's processes
# die with its PID 1), where util-linux's setpriv can ask for it.
setsid_bin=$(command -v setsid || true)
die_with_parent=()
if setpriv_bin=$(command -v setpriv) && "$setpriv_bin" --pdeathsig KILL -- true 2>/dev/null; then
    die_with_parent=("$setpriv_bin" --pdeathsig KILL --)
fi
# What the script writes reaches the log through a masker (lib/mask_output.py): the values
# of resolved secrets and what looks like a credential become ***. The secrets reach it on
# fd 3, never on a command line or in an environment. Where stdout and stderr are one pipe
# or file (a local process task), one masker keeps the script's lines in their order;
# otherwise (a container: the log driver reads each stream) there is one per stream.
masker=("$helper_python" -I -S "$here/lib/mask_output.py") # -S: the standard library only, faster
exec {masked_out}> >(exec "${masker[@]}" 3< <(printf '%s\0' "${secret_values[@]}"))
masker_out=$!
if [ /dev/stdout -ef /dev/stderr ]; then
    exec {masked_err}>&"$masked_out"
    masker_err=$masker_out
else
    # (without the stdout masker's pipe, or that masker would wait for this one to end)
    exec {masked_err}> >(exec {masked_out}>&- "${masker[@]}" 3< <(printf '%s\0' "${secret_values[@]}") >&2)
    masker_err=$!
fi
(
    trap - INT QUIT TERM
    # Exactly the environment the helper built, nothing inherited besides it.
    export -n SHELLOPTS BASHOPTS
    while IFS= read -r name; do
        # shellcheck disable=SC2163 # export -n of the variable named by $name, on purpose
        unset "$name" 2>/dev/null || export -n "$name"
    done < <(compgen -e)
    for ((i = 0; i + 2 < ${#fields[@]}; i += 3)); do
        export "${fields[i]}=${fields[i + 1]}"
    done
    exec >&"$masked_out" 2>&"$masked_err" {masked_out}>&- {masked_err}>&-
    if [ -n "$setsid_bin" ]; then
        exec "${die_with_parent[@]}" "$setsid_bin" "$interpreter_bin" "$script_path" "${params[@]}"
    fi
    exec "${die_with_parent[@]}" "$interpreter_bin" "$script_path" "${params[@]}"
) <&0 &
child=$!
# Only the script (and what it starts) holds the pipes now: the maskers end when it has.
exec {masked_out}>&- {masked_err}>&-

# shellcheck disable=SC2329 # invoked by the traps below
forward() {
    local sig=$1
    if [ -n "$setsid_bin" ]; then
        kill -s "$sig" -- "-$child" 2>/dev/null || kill -s "$sig" "$child" 2>/dev/null
    else
        kill -s "$sig" "$child" 2>/dev/null
    fi
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP

# The watchdog: at the deadline it tells this shell (SIGUSR1: forward SIGTERM, remember the
# timeout), and after the grace period it kills the script's process group.
timed_out=0
watchdog=
# shellcheck disable=SC2329 # invoked by the trap below
deadline_reached() {
    timed_out=1
    printf 'entrypoint: the attempt reached its deadline: SIGTERM now, SIGKILL in %ss\n' "$grace" >&2
    forward TERM
}
if [ -n "$deadline" ]; then
    trap deadline_reached USR1
    entrypoint_pid=$$
    (
        trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
        sleep "$((deadline - EPOCHSECONDS))" &
        sleeper=$!
        wait "$sleeper"
        kill -s USR1 "$entrypoint_pid" 2>/dev/null
        sleep "$grace" &
        sleeper=$!
        wait "$sleeper"
        if [ -n "$setsid_bin" ]; then
            kill -s KILL -- "-$child" 2>/dev/null || kill -s KILL "$child" 2>/dev/null
        else
            kill -s KILL "$child" 2>/dev/null
        fi
    ) 2>/dev/null &
    watchdog=$!
fi

# wait returns early (status > 128) when a trapped signal arrives: keep waiting for the
# child, then collect its status in case it exited between the two checks.
rc=0
while kill -0 "$child" 2>/dev/null; do
    # (bash's own "Killed ..." notice for the script would otherwise land in the log)
    wait "$child" 2>/dev/null
    rc=$?
done
wait "$child" 2>/dev/null
last=$?
[ "$last" -ne 127 ] && rc=$last
if [ -n "$watchdog" ]; then
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
fi
[ "$timed_out" = 1 ] && rc=124
# The script's last lines before the end line. Something the script left running may
# still hold a pipe: that is not waited for beyond two seconds.
for _ in {1..200}; do
    kill -0 "$masker_out" 2>/dev/null || kill -0 "$masker_err" 2>/dev/null || break
    sleep 0.01
done
for masker_pid in "$masker_out" "$masker_err"; do
    # (they ignore TERM; a task's end would kill them too)
    kill -0 "$masker_pid" 2>/dev/null && kill -s KILL "$masker_pid" 2>/dev/null
done

end_line "$rc" "$timed_out"
exit "$rc"
