"""Local run files are private: folders 0700, files 0600. Task logs can hold whatever a
script printed, secrets included, and the machine may have other users."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def private_directory(path: Path, root: Path) -> Path:
    """Creates ``path`` and every folder between ``root`` (included) and it, each 0700,
    tightening folders an older version left open. ``path`` must be inside ``root``."""
    path, root = path.absolute(), root.absolute()
    if root != path and root not in path.parents:
        raise ValueError(f"{path} is outside {root}")
    chain = [root, *(p for p in reversed(path.parents) if root in p.parents), path]
    for folder in dict.fromkeys(chain):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
    return path


def private_file(path: Path) -> BinaryIO:
    """``path`` opened for writing, created 0600 (truncated if it exists)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "wb")
