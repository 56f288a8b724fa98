"""container/entrypoint.sh: the toolbox contract of docs/design.md §8 (in full in the README)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, VENV_BIN

ENTRYPOINT = ROOT / "container" / "entrypoint.sh"
HELLO = "Hello World From a Container\n2 parameters passed\n"

# Prints its argv as JSON, so a test sees exactly what reached the script.
ARGV_SCRIPT = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def base_env() -> dict[str, str]:
    """What a task's entrypoint gets from the image and ECS: a path, a home, a locale."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
    }


def left_out(stderr: str) -> set[str]:
    """The variables the entrypoint says it kept from the script."""
    for line in stderr.splitlines():
        if line.startswith("entrypoint: left out of the script's environment"):
            return set(line.split("): ", 1)[1].split(", "))
    return set()


def run(
    entrypoint: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(entrypoint), *args],
        capture_output=True,
        text=True,
        env=env or base_env(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith('{"longjob"')]


# --- the original toolbox calls -------------------------------------------------------------


@pytest.mark.parametrize(("interpreter", "script"), [("python", "test.py"), ("bash", "test.sh")])
def test_original_calls_print_the_original_output(interpreter: str, script: str) -> None:
    result = run(ENTRYPOINT, interpreter, script, "param1 param2")
    assert result.returncode == 0
    assert result.stdout == HELLO


def test_original_call_works_from_any_working_directory(tmp_path: Path) -> None:
    result = run(ENTRYPOINT, "python3", "test.py", "param1 param2", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == HELLO


def test_legacy_form_splits_each_params_string_on_whitespace(toolbox: Path) -> None:
    (toolbox / "scripts" / "argv.py").write_text(ARGV_SCRIPT)
    result = run(toolbox / "entrypoint.sh", "python", "argv.py", "a  b\tc", "d")
    assert json.loads(result.stdout) == ["a", "b", "c", "d"]


def test_verbatim_form_passes_each_argument_as_one_argv_entry(toolbox: Path) -> None:
    (toolbox / "scripts" / "argv.py").write_text(ARGV_SCRIPT)
    args = ["a b", "", "  spaced  ", "line1\nline2", "--", "-x", "ünïcödé"]
    result = run(toolbox / "entrypoint.sh", "python", "argv.py", "--", *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == args
    assert run(ENTRYPOINT, "bash", "test.sh", "--", "a b").stdout.endswith("1 parameters passed\n")


HOSTILE = ["$(touch {marker})", "`touch {marker}`", "; touch {marker}", "*", "~", "$HOME", "a|b"]


@pytest.mark.parametrize("form", ["legacy", "verbatim"])
def test_parameters_are_never_interpreted_by_a_shell(
    toolbox: Path, tmp_path: Path, form: str
) -> None:
    marker = tmp_path / "pwned"
    (toolbox / "scripts" / "argv.py").write_text(ARGV_SCRIPT)
    params = [p.format(marker=marker) for p in HOSTILE]
    if form == "verbatim":
        result = run(toolbox / "entrypoint.sh", "python", "argv.py", "--", *params)
        assert json.loads(result.stdout) == params
    else:
        result = run(toolbox / "entrypoint.sh", "python", "argv.py", *params)
        assert json.loads(result.stdout) == [w for p in params for w in p.split()]
    assert result.returncode == 0
    assert not marker.exists()


# --- exit codes and log lines ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "code"),
    [
        ("fail.sh", "echo partial\nexit 42\n", 42),
        ("fail.py", "import sys\nsys.exit(3)\n", 3),
        ("crash.py", "raise RuntimeError('boom')\n", 1),
        ("ok.sh", "true\n", 0),
    ],
)
def test_script_exit_code_is_the_entrypoint_exit_code(
    toolbox: Path, name: str, body: str, code: int
) -> None:
    (toolbox / "scripts" / name).write_text(body)
    interpreter = "bash" if name.endswith(".sh") else "python"
    result = run(toolbox / "entrypoint.sh", interpreter, name)
    assert result.returncode == code
    assert "Finished execution!" not in result.stdout + result.stderr


def test_start_and_end_lines_mark_the_stage_on_stderr(toolbox: Path) -> None:
    (toolbox / "scripts" / "fail.sh").write_text("sleep 0.2\nexit 5\n")
    env = base_env() | {"LONGJOB_STAGE": 'backup "main"', "LONGJOB_ATTEMPT": "2"}
    result = run(toolbox / "entrypoint.sh", "bash", "fail.sh", "--", "x", "y", env=env)
    start, end = events(result.stderr)
    assert start == {
        "longjob": "start",
        "stage": 'backup "main"',
        "attempt": 2,
        "interpreter": "bash",
        "script": "fail.sh",
        "params": 2,
    }
    assert end["longjob"] == "end"
    assert end["exitCode"] == 5
    assert end["attempt"] == 2
    assert 150 <= end["durationMs"] < 5000


def test_scripts_in_subfolders_run(toolbox: Path) -> None:
    (toolbox / "scripts" / "db").mkdir()
    (toolbox / "scripts" / "db" / "hello.sh").write_text("echo sub $1\n")
    result = run(toolbox / "entrypoint.sh", "sh", "db/hello.sh", "--", "ok")
    assert (result.returncode, result.stdout) == (0, "sub ok\n")


def test_stdin_reaches_the_script(toolbox: Path) -> None:
    (toolbox / "scripts" / "cat.sh").write_text("cat\n")
    result = subprocess.run(
        [str(toolbox / "entrypoint.sh"), "bash", "cat.sh"],
        input="piped\n",
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=30,
        check=False,
    )
    assert result.stdout == "piped\n"


# --- signals --------------------------------------------------------------------------------


def start_and_wait_ready(entrypoint: Path, ready: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(entrypoint), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(),
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"script never became ready: {proc.communicate()}")
        time.sleep(0.02)
    return proc


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill -0: look at its state.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def test_sigterm_reaches_a_script_that_cleans_up_and_chooses_its_code(
    toolbox: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    (toolbox / "scripts" / "trap.sh").write_text(
        "trap 'echo \"cleaning up\"; exit 7' TERM\n"
        f"touch {ready}\n"
        "while true; do sleep 0.05; done\n"
    )
    proc = start_and_wait_ready(toolbox / "entrypoint.sh", ready, "bash", "trap.sh")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 7
    assert "cleaning up" in stdout
    assert events(stderr)[-1]["exitCode"] == 7


def test_sigint_reaches_a_python_script(toolbox: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    (toolbox / "scripts" / "wait.py").write_text(
        "import pathlib, sys, time\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "try:\n    time.sleep(60)\n"
        "except KeyboardInterrupt:\n    print('interrupted', flush=True)\n    sys.exit(9)\n"
    )
    proc = start_and_wait_ready(toolbox / "entrypoint.sh", ready, "python", "wait.py")
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=20)
    assert (proc.returncode, stdout) == (9, "interrupted\n")


def test_sigterm_stops_the_whole_pipeline_of_a_script(toolbox: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    pids = tmp_path / "pids"
    (toolbox / "scripts" / "pipe.sh").write_text(
        f"sleep 300 | sleep 301 &\njobs -p > {pids}\npgrep -P $$ > {pids}\ntouch {ready}\nwait\n"
    )
    proc = start_and_wait_ready(toolbox / "entrypoint.sh", ready, "bash", "pipe.sh")
    children = [int(p) for p in pids.read_text().split()]
    assert children
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 143
    time.sleep(0.2)
    assert not [p for p in children if pid_alive(p)]


# --- refusals: nothing runs -----------------------------------------------------------------


@pytest.fixture
def marker_toolbox(toolbox: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A toolbox whose scripts would all create a marker file if they ever ran."""
    marker = tmp_path / "ran"
    outside = tmp_path / "outside"
    outside.mkdir()
    body = f"touch {marker}\n"
    scripts = toolbox / "scripts"
    (scripts / "touch.sh").write_text(body)
    (outside / "evil.sh").write_text(body)
    (scripts / "dir").mkdir()
    (scripts / "escape.sh").symlink_to(outside / "evil.sh")
    (scripts / "escapedir").symlink_to(outside)
    (scripts / "broken.sh").symlink_to(tmp_path / "nowhere.sh")
    (scripts / "inside.sh").symlink_to(scripts / "touch.sh")
    (scripts / "-x.sh").write_text(body)
    os.mkfifo(scripts / "fifo.sh")
    return toolbox / "entrypoint.sh", marker


REFUSED = [
    # (interpreter, script, exit code, words the message must contain)
    ("perl", "touch.sh", 126, "interpreter 'perl' is not allowed"),
    ("/bin/bash", "touch.sh", 126, "is not allowed"),
    ("bash -c", "touch.sh", 126, "is not allowed"),
    ("", "touch.sh", 126, "is not allowed"),
    ("bash", "", 126, "script name is empty"),
    ("bash", "/etc/passwd", 126, "relative path"),
    ("bash", "../touch.sh", 126, "'..'"),
    ("bash", "dir/../touch.sh", 126, "'..'"),
    ("bash", "-x.sh", 126, "must not start with '-'"),
    ("bash", "escape.sh", 126, "resolves outside the scripts folder"),
    ("bash", "escapedir/evil.sh", 126, "resolves outside the scripts folder"),
    ("bash", "dir", 126, "not a regular file"),
    ("bash", "fifo.sh", 126, "not a regular file"),
    ("bash", "missing.sh", 127, "not found"),
    ("bash", "broken.sh", 127, "broken link"),
]


@pytest.mark.parametrize(("interpreter", "script", "code", "message"), REFUSED)
def test_refused_input_executes_nothing(
    marker_toolbox: tuple[Path, Path], interpreter: str, script: str, code: int, message: str
) -> None:
    entrypoint, marker = marker_toolbox
    result = run(entrypoint, interpreter, script, "--", "arg")
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one clear line, no start event
    assert result.stdout == ""
    assert not marker.exists()


def test_symlink_inside_the_scripts_folder_is_allowed(marker_toolbox: tuple[Path, Path]) -> None:
    entrypoint, marker = marker_toolbox
    assert run(entrypoint, "bash", "inside.sh").returncode == 0
    assert marker.exists()


@pytest.mark.parametrize("args", [[], ["bash"]])
def test_missing_arguments_print_usage(args: list[str]) -> None:
    result = run(ENTRYPOINT, *args)
    assert result.returncode == 126
    assert "usage: entrypoint.sh INTERPRETER SCRIPT" in result.stderr


# --- secret references ----------------------------------------------------------------------

SECRET_CHECK = (
    "import hashlib, os\n"
    "for name in sorted(n for n in os.environ if n.startswith('T_')):\n"
    "    print(name, hashlib.sha256(os.environ[name].encode()).hexdigest())\n"
)


def sha(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def secrets(aws_session, moto_endpoint: str) -> dict[str, str]:
    """Stores one SSM SecureString and one Secrets Manager secret; returns ref -> value."""
    suffix = uuid.uuid4().hex[:8]
    ssm_name = f"/longjob/test/{suffix}/db-password"
    sm_name = f"longjob/test/{suffix}/api"
    ssm_value = "p@ss word\nwith $(dollar) and 'quotes'"
    sm_value = '{"token": "abc=="}'
    aws_session.client("ssm", endpoint_url=moto_endpoint).put_parameter(
        Name=ssm_name, Value=ssm_value, Type="SecureString"
    )
    aws_session.client("secretsmanager", endpoint_url=moto_endpoint).create_secret(
        Name=sm_name, SecretString=sm_value
    )
    return {f"ssm:{ssm_name}": ssm_value, f"secretsmanager:{sm_name}": sm_value}


def test_secret_references_are_resolved_before_the_script_starts(
    toolbox: Path, aws_env: dict[str, str], secrets: dict[str, str]
) -> None:
    (toolbox / "scripts" / "check.py").write_text(SECRET_CHECK)
    (ssm_ref, ssm_value), (sm_ref, sm_value) = secrets.items()
    env = aws_env | {"T_DB": ssm_ref, "T_API": sm_ref, "T_PLAIN": "ssm-not-a-reference"}
    result = run(toolbox / "entrypoint.sh", "python", "check.py", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"T_API {sha(sm_value)}",
        f"T_DB {sha(ssm_value)}",
        f"T_PLAIN {sha('ssm-not-a-reference')}",
    ]
    for value in secrets.values():
        assert value not in result.stdout + result.stderr


def test_missing_secret_is_a_clear_error_and_the_script_never_starts(
    toolbox: Path, tmp_path: Path, aws_env: dict[str, str], secrets: dict[str, str]
) -> None:
    marker = tmp_path / "ran"
    (toolbox / "scripts" / "touch.sh").write_text(f"touch {marker}\n")
    ssm_ref = next(iter(secrets))
    env = aws_env | {
        "T_OK": ssm_ref,
        "T_MISSING": "ssm:/longjob/test/does-not-exist",
        "T_GONE": "secretsmanager:longjob/none",
    }
    result = run(toolbox / "entrypoint.sh", "bash", "touch.sh", env=env)
    assert result.returncode == 125
    assert "T_MISSING=ssm:/longjob/test/does-not-exist: not found" in result.stderr
    assert "T_GONE=secretsmanager:longjob/none: not found" in result.stderr
    assert "the script was not started" in result.stderr
    assert not marker.exists()
    assert secrets[ssm_ref] not in result.stdout + result.stderr


def test_unreachable_secret_store_is_exit_125(toolbox: Path, aws_env: dict[str, str]) -> None:
    env = aws_env | {
        "T_DB": "ssm:/x",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = run(toolbox / "entrypoint.sh", "bash", "test.sh", env=env)
    assert result.returncode == 125
    assert "T_DB=ssm:/x:" in result.stderr
    assert "Hello" not in result.stdout


def test_no_boto3_needed_without_references() -> None:
    """The original calls need python3 (the environment check) but not boto3."""
    plain = "/usr/bin/python3"
    probe = subprocess.run([plain, "-I", "-c", "import boto3"], capture_output=True, check=False)
    assert probe.returncode != 0, "a python3 without boto3 is needed for this test"
    env = base_env() | {"LONGJOB_PYTHON": plain}
    assert run(ENTRYPOINT, "bash", "test.sh", "a b", env=env).stdout == HELLO
    missing = run(ENTRYPOINT, "bash", "test.sh", env=base_env() | {"LONGJOB_PYTHON": ""})
    assert missing.returncode == 0  # falls back to python3 on PATH


# --- a poisoned environment runs nothing -----------------------------------------------------

ENV_SCRIPT = "import json, os\nprint(json.dumps(sorted(os.environ)))\n"


def poisoned(toolbox: Path, marker: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    (toolbox / "scripts" / "env_names.py").write_text(ENV_SCRIPT)
    env = base_env() | {k: v.replace("MARKER", str(marker)) for k, v in variables.items()}
    return run(toolbox / "entrypoint.sh", "python", "env_names.py", "--", env=env)


@pytest.mark.parametrize(
    "variables",
    [
        {"BASH_ENV": "$(touch MARKER)"},
        {"ENV": "$(touch MARKER)"},
        {"SHELLOPTS": "xtrace", "PS4": "$(touch MARKER)"},
        {"BASHOPTS": "extdebug", "PROMPT_COMMAND": "touch MARKER"},
        {"PYTHONWARNINGS": "ignore::antigravity.Foo", "BROWSER": "touch MARKER #%s"},
        {"PYTHONSTARTUP": "MARKER", "PYTHONINSPECT": "1"},
    ],
    ids=["BASH_ENV", "ENV", "SHELLOPTS+PS4", "BASHOPTS", "PYTHONWARNINGS+BROWSER", "PYTHONSTARTUP"],
)
def test_start_up_variables_run_no_code(
    toolbox: Path, tmp_path: Path, variables: dict[str, str]
) -> None:
    marker = tmp_path / "pwned"
    result = poisoned(toolbox, marker, **variables)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    names = json.loads(result.stdout)
    assert not set(variables) & set(names)
    assert left_out(result.stderr) == set(variables)


def test_python_path_and_loader_variables_do_not_reach_the_script(
    toolbox: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"open({str(tmp_path / 'pwned')!r}, 'w')\n")
    result = poisoned(
        toolbox,
        tmp_path / "unused",
        PYTHONPATH=str(site),
        LD_PRELOAD="/nonexistent/libpwn.so",
        IFS="x",
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "pwned").exists()
    names = json.loads(result.stdout)
    assert not {"PYTHONPATH", "LD_PRELOAD", "IFS"} & set(names)


def test_configuration_proxy_and_certificate_variables_are_left_out(
    toolbox: Path, tmp_path: Path
) -> None:
    variables = {
        "PGPASSFILE": "/etc/shadow",
        "HTTPS_PROXY": "http://evil:3128",
        "REQUESTS_CA_BUNDLE": "/tmp/evil-ca.pem",
        "EDITOR": "touch MARKER",
        "MY_SETTING": "kept",
    }
    result = poisoned(toolbox, tmp_path / "pwned", **variables)
    names = json.loads(result.stdout)
    assert "MY_SETTING" in names
    assert not {"PGPASSFILE", "HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "EDITOR"} & set(names)
    assert left_out(result.stderr) == {"EDITOR", "HTTPS_PROXY", "PGPASSFILE", "REQUESTS_CA_BUNDLE"}


def test_xtrace_cannot_print_a_resolved_secret(
    toolbox: Path, tmp_path: Path, aws_env: dict[str, str], aws_session, moto_endpoint: str
) -> None:
    name = f"/longjob/test/{uuid.uuid4().hex[:8]}/url"
    aws_session.client("ssm", endpoint_url=moto_endpoint).put_parameter(
        Name=name, Value="postgres://user:hunter2@db", Type="SecureString"
    )
    (toolbox / "scripts" / "uses.sh").write_text('test -n "$DB_URL" && echo connected\n')
    env = aws_env | {"DB_URL": f"ssm:{name}", "SHELLOPTS": "xtrace", "PS4": "+ "}
    result = run(toolbox / "entrypoint.sh", "bash", "uses.sh", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "connected\n"
    assert "hunter2" not in result.stdout + result.stderr


# Prints its secrets on purpose, every way a script could: whole, in pieces across writes,
# on both streams, inside a line longer than an awslogs event (262,118 bytes), line by line.
LEAKY_SCRIPT = r"""
import os, sys, time
db, api = os.environ["T_DB"], os.environ["T_API"]
print("db is " + db, flush=True)
sys.stderr.write("api " + api[:3]); sys.stderr.flush(); time.sleep(0.05)
sys.stderr.write(api[3:] + " on stderr\n"); sys.stderr.flush()
print("x" * 262_110 + api + "y" * 10, flush=True)
for line in db.splitlines():
    print("piece: " + line, flush=True)
print("still readable: T_DB=" + sys.argv[1])
"""


def test_a_script_that_prints_its_secrets_shows_stars_in_their_place(
    toolbox: Path, aws_env: dict[str, str], secrets: dict[str, str]
) -> None:
    (toolbox / "scripts" / "leak.py").write_text(LEAKY_SCRIPT)
    ssm_ref, sm_ref = secrets
    env = aws_env | {"T_DB": ssm_ref, "T_API": sm_ref}
    result = run(toolbox / "entrypoint.sh", "python", "leak.py", "--", ssm_ref, env=env)
    assert result.returncode == 0, result.stderr
    everything = result.stdout + result.stderr
    for value in secrets.values():
        assert value not in everything
        for line in value.splitlines():
            assert line not in everything
    out = result.stdout.splitlines()
    assert out[0:2] == ["db is ***", "***"]  # a multi-line value: each of its lines masked
    assert out[2] == "x" * 262_110 + "***" + "y" * 10  # the long line: pieces, secret whole
    assert out[3:5] == ["piece: ***", "piece: ***"]
    assert out[5] == f"still readable: T_DB={ssm_ref}"  # a reference is not a secret
    assert "api *** on stderr" in result.stderr.splitlines()


def test_what_looks_like_a_credential_is_masked_without_a_reference(toolbox: Path) -> None:
    (toolbox / "scripts" / "creds.sh").write_text(
        "echo 'export PGPASSWORD=hunter22 user=app'\n"
        'echo \'{"password": "two words", "user": "app"}\'\n'
        "echo 'key AKIAIOSFODNN7EXAMPLE in use' >&2\n"
        "echo 'url postgres://app:pa55word@db:5432/prod'\n"
        "echo 'Authorization: Bearer abcdefgh12345678'\n"
    )
    result = run(toolbox / "entrypoint.sh", "bash", "creds.sh")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "export PGPASSWORD=*** user=app",
        '{"password": "***", "user": "app"}',
        "url postgres://app:***@db:5432/prod",
        "Authorization: Bearer ***",
    ]
    assert "key *** in use" in result.stderr.splitlines()


def test_masked_lines_reach_the_log_as_they_are_written(toolbox: Path) -> None:
    """The masker passes each line on when it is complete, not when the script ends."""
    (toolbox / "scripts" / "slow.sh").write_text("echo first\nsleep 5\necho second\n")
    process = subprocess.Popen(
        [str(toolbox / "entrypoint.sh"), "bash", "slow.sh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=base_env(),
    )
    started = time.monotonic()
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "first\n"
        assert time.monotonic() - started < 4
    finally:
        process.kill()
        process.wait()


def test_a_leftover_holding_the_output_does_not_hold_the_task(toolbox: Path) -> None:
    """A background process that keeps the script's stdout open: the entrypoint ends
    anyway (after a short wait for the last lines), and no masker outlives it."""
    (toolbox / "scripts" / "daemon.sh").write_text("sleep 31.25 &\necho started\n")
    result = run(toolbox / "entrypoint.sh", "bash", "daemon.sh")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n"
    assert events(result.stderr)[-1]["exitCode"] == 0
    maskers = subprocess.run(
        ["pgrep", "-f", str(toolbox / "lib" / "mask_output.py")], capture_output=True, check=False
    )
    assert maskers.stdout == b""
    subprocess.run(["pkill", "-f", "sleep 31.25"], check=False)


def test_the_entrypoint_and_validation_read_one_file_of_rules() -> None:
    """The image cannot import longjob_core: the rules live in container/lib, and the
    layer's module is a link to that file."""
    from longjob_core import environment

    layer = ROOT / "layers" / "core" / "longjob_core" / "environment.py"
    assert layer.is_symlink()
    assert layer.resolve() == (ROOT / "container" / "lib" / "environment_rules.py").resolve()
    assert Path(environment.__file__).resolve() == layer.resolve()


# --- the attempt's deadline --------------------------------------------------------------------


def with_deadline(seconds_from_now: int, grace: int) -> dict[str, str]:
    """A deadline at least ``seconds_from_now`` away (it is a whole second, rounded up)."""
    return base_env() | {
        "LONGJOB_DEADLINE": str(math.ceil(time.time()) + seconds_from_now),
        "LONGJOB_STOP_GRACE": str(grace),
    }


def test_a_script_that_ignores_its_deadline_is_killed_and_exits_124(
    toolbox: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    (toolbox / "scripts" / "stubborn.sh").write_text(
        f'trap "" TERM\necho $$ >{pidfile}\nwhile :; do sleep 0.1; done\n'
    )
    started = time.monotonic()
    result = run(toolbox / "entrypoint.sh", "bash", "stubborn.sh", env=with_deadline(1, 1))
    took = time.monotonic() - started
    assert result.returncode == 124
    assert 1 <= took < 4  # the deadline, then one second of grace
    assert "reached its deadline: SIGTERM now, SIGKILL in 1s" in result.stderr
    (end,) = [e for e in events(result.stderr) if e["longjob"] == "end"]
    assert (end["exitCode"], end["timedOut"]) == (124, True)
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert "Killed" not in result.stderr


def test_a_script_that_traps_term_gets_the_grace_period(toolbox: Path) -> None:
    (toolbox / "scripts" / "tidy.sh").write_text(
        'trap \'echo "cleaning up"; sleep 1; echo "clean"; exit 0\' TERM\n'
        "while :; do sleep 0.1; done\n"
    )
    result = run(toolbox / "entrypoint.sh", "bash", "tidy.sh", env=with_deadline(1, 5))
    assert result.returncode == 124  # it was stopped at its deadline, however it ended
    assert result.stdout == "cleaning up\nclean\n"
    (end,) = [e for e in events(result.stderr) if e["longjob"] == "end"]
    assert 1900 <= end["durationMs"] < 4000  # deadline + its own clean-up, not the grace


def test_a_deadline_already_past_starts_nothing(toolbox: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (toolbox / "scripts" / "late.sh").write_text(f"touch {marker}\n")
    result = run(toolbox / "entrypoint.sh", "bash", "late.sh", env=with_deadline(-5, 1))
    assert result.returncode == 124
    assert "deadline passed before the script started" in result.stderr
    assert not marker.exists()


def test_a_script_that_finishes_in_time_is_not_touched(toolbox: Path) -> None:
    result = run(toolbox / "entrypoint.sh", "bash", "test.sh", "a b", env=with_deadline(30, 5))
    assert result.returncode == 0
    assert result.stdout == HELLO
    (end,) = [e for e in events(result.stderr) if e["longjob"] == "end"]
    assert "timedOut" not in end
