"""Environment variables of one thread: a Lambda's environment without touching the process's.

A locally served Lambda runs in the engine's thread while the caller's thread goes on, for
example ``longjob start --follow`` creating boto3 clients. Setting a function's variables in
``os.environ`` and deleting them afterwards raced with any thread iterating the environment
(botocore reads proxies with ``os.environ.items()``, which raises ``KeyError`` for a name
deleted mid-iteration). So while the engine serves functions, ``os.environ`` is this mapping:
every thread sees the process's environment, and a thread inside :func:`overlay` also sees
the function's variables, which no other thread sees and which are never deleted from the
process.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, MutableMapping


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with per-thread overlays; writes outside an overlay go to the process."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "values", None)

    def __getitem__(self, name: str) -> str:
        values = self._overlay()
        if values is not None and name in values:
            return values[name]
        return self.base[name]

    def __setitem__(self, name: str, value: str) -> None:
        values = self._overlay()
        if values is not None:
            values[name] = value
        else:
            self.base[name] = value

    def __delitem__(self, name: str) -> None:
        values = self._overlay()
        if values is not None and name in values:
            del values[name]
        else:
            del self.base[name]

    def __iter__(self) -> Iterator[str]:
        # A snapshot, skipping nothing: the overlay's names and the process's at this moment.
        values = self._overlay() or {}
        names = list(values) + [name for name in list(self.base) if name not in values]
        return iter(names)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return {name: value for name in self if (value := self.get(name)) is not None}

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            return default


_lock = threading.Lock()
_installs = 0


@contextlib.contextmanager
def installed() -> Iterator[ThreadEnviron]:
    """Make ``os.environ`` a :class:`ThreadEnviron` for the block (nested blocks share one)."""
    global _installs
    with _lock:
        if _installs == 0:
            # Replacing the mapping is the point: the process environment stays as it is.
            os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
        _installs += 1
        current = os.environ
    try:
        yield current  # type: ignore[misc]
    finally:
        with _lock:
            _installs -= 1
            if _installs == 0 and isinstance(os.environ, ThreadEnviron):
                os.environ = os.environ.base  # type: ignore[assignment]  # noqa: B003


@contextlib.contextmanager
def overlay(values: dict[str, str]) -> Iterator[None]:
    """Within the block, this thread alone sees ``values`` in ``os.environ``."""
    environ = os.environ
    if not isinstance(environ, ThreadEnviron):
        raise RuntimeError("overlay() needs installed() around it")
    saved = environ._overlay()
    environ._local.values = {**(saved or {}), **values}
    try:
        yield
    finally:
        environ._local.values = saved
