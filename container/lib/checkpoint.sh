# shellcheck shell=bash
# checkpoint get [FILE] | put [FILE] | clear: the task's checkpoint in S3
# (LONGJOB_CHECKPOINT; lib/checkpoint.py). get exits 0 with the checkpoint, 1 when there is
# none (start from the beginning), 2 on an error (stop: never start over silently).
checkpoint_py=$(realpath -- "$(dirname -- "${BASH_SOURCE[0]}")/checkpoint.py")
checkpoint() {
    python3 "$checkpoint_py" "$@"
}
