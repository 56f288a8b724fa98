"""Which environment variables a job may set for its scripts (docs/design.md §3).

A name is allowed by a rule, not by a short deny list: upper-case letters, digits and `_`,
starting with a letter, and not on the list below. Each entry on the list is a variable
some program reads at start-up to load code, run a command, read a configuration file,
redirect traffic or trust another certificate, or a name the platform sets itself. Anyone
allowed to start a run could otherwise run any code with the task role.

This file has one home, container/lib/environment_rules.py, so that the toolbox image has
it; layers/core/longjob_core/environment.py is a link to it, so that validation (the CLI
and prepare_job) applies the very same rules. It imports nothing but the standard library.
The schema (job.schema.json) lists the names for editors; a test checks that it agrees.
"""

from __future__ import annotations

import re

NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
NAME_RULE = "must be an upper-case name: A-Z, 0-9 and '_', starting with a letter"

SHELL = "read by the shell at start-up: it can run code before the script"
LOADER = "read by the dynamic loader: it loads code into every program"
INTERPRETER = "read by an interpreter at start-up: it can run or import code"
LOCALE = "read by the C library's locale loader: it can load code"
SEARCH = "decides where programs and their configuration files are found"
CONFIG = "points a client at a configuration file or helper that can run commands"
NETWORK = "can redirect, intercept or decrypt the task's traffic"
PLATFORM = "reserved: the platform sets it"

DENIED_NAMES: dict[str, str] = {
    **dict.fromkeys(
        [
            "BASHOPTS",
            "BASH_ENV",
            "CDPATH",
            "ENV",
            "FIGNORE",
            "GLOBIGNORE",
            "HISTFILE",
            "IFS",
            "INPUTRC",
            "PROMPT_COMMAND",
            "PS1",
            "PS2",
            "PS3",
            "PS4",
            "SHELL",
            "SHELLOPTS",
        ],
        SHELL,
    ),
    "GLIBC_TUNABLES": LOADER,
    **dict.fromkeys(
        [
            "BROWSER",
            "JAVA_TOOL_OPTIONS",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PERL5LIB",
            "PERL5OPT",
            "PERLLIB",
            "RUBYLIB",
            "RUBYOPT",
        ],
        INTERPRETER,
    ),
    **dict.fromkeys(["GCONV_PATH", "LOCPATH", "NLSPATH"], LOCALE),
    **dict.fromkeys(["HOME", "PATH", "TMPDIR", "XDG_CONFIG_HOME"], SEARCH),
    **dict.fromkeys(
        [
            "BOTO_CONFIG",
            "EDITOR",
            "HOSTALIASES",
            "LIBMYSQL_PLUGINS",
            "LIBMYSQL_PLUGIN_DIR",
            "LOCALDOMAIN",
            "MYSQL_HOME",
            "MYSQL_TEST_LOGIN_FILE",
            "OPENSSL_CONF",
            "OPENSSL_ENGINES",
            "OPENSSL_MODULES",
            "PAGER",
            "PGPASSFILE",
            "PGSERVICEFILE",
            "PGSYSCONFDIR",
            "PSQLRC",
            "PSQL_EDITOR",
            "PSQL_PAGER",
            "RES_OPTIONS",
            "VISUAL",
        ],
        CONFIG,
    ),
    **dict.fromkeys(
        [
            "ALL_PROXY",
            "CURL_CA_BUNDLE",
            "FTP_PROXY",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "NODE_EXTRA_CA_CERTS",
            "NO_PROXY",
            "REQUESTS_CA_BUNDLE",
            "SSLKEYLOGFILE",
            "SSL_CERT_DIR",
            "SSL_CERT_FILE",
        ],
        NETWORK,
    ),
}

DENIED_PREFIXES: dict[str, str] = {
    "BASH_": SHELL,
    "LD_": LOADER,
    "DYLD_": LOADER,
    "MALLOC_": LOADER,
    "PYTHON": INTERPRETER,
    "GIT_": CONFIG,
    "PIP_": CONFIG,
    "AWS_": PLATFORM,
    "ECS_": PLATFORM,
    "LONGJOB_": PLATFORM,
}


def denied_reason(name: str) -> str | None:
    """Why a job may not set this variable, or None when it may."""
    if name in DENIED_NAMES:
        return DENIED_NAMES[name]
    for prefix, reason in DENIED_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    return None


def name_problem(name: str) -> str | None:
    """The rule a job's environment variable name breaks, or None."""
    if not NAME.match(name):
        return NAME_RULE
    reason = denied_reason(name)
    if reason is None:
        return None
    return f"is not allowed: {reason} (see the README's Security model)"
