"""Tables for people: rich on a terminal, plain aligned text otherwise (pipes, CI logs)."""

from __future__ import annotations

import sys
from typing import IO


def render(headers: list[str], rows: list[list[str]], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, box=None, header_style="bold")
        for row in rows:
            table.add_row(*row)
        Console(file=out).print(table)
        return
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print(
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
