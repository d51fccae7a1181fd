"""Your data: a CSV (or any table of numbers) read into the sequence task's ``values`` and ``columns``.

Commas, semicolons, tabs or spaces separate the numbers; blank lines and lines starting with ``#`` are
skipped; a first row that is not all numbers is the header (its names label the columns). Every
refusal names the row and the column, counted from 1 as a spreadsheet shows them. Pure Python: no
torch here (POST /api/data calls it).
"""

from __future__ import annotations

import math
import re

from .schemas import FLOAT32_MAX, MAX_COLUMNS

_SPLIT = {",": re.compile(r"\s*,\s*"), ";": re.compile(r"\s*;\s*"), "\t": re.compile(r"\s*\t\s*")}


class DataError(ValueError):
    """A table that cannot be the sequence task's input; the message names the row and column."""


def _separator(line: str):
    for sep in (",", ";", "\t"):
        if sep in line:
            return _SPLIT[sep]
    return re.compile(r"\s+")


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def parse_table(text: str, max_rows: int) -> dict:
    """{"values": row-major floats, "columns", "rows", "names": header names or None}."""
    lines = [(k + 1, line.strip()) for k, line in enumerate(text.splitlines())]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise DataError("data: no numbers found (a CSV: one row per step, one column per input)")
    split = _separator(lines[0][1])
    names = None
    first = split.split(lines[0][1].rstrip(",;\t "))
    if any(_number(cell) is None for cell in first):
        names = [cell.strip().strip('"') for cell in first]
        lines = lines[1:]
    columns = len(names) if names else len(first)
    if not 1 <= columns <= MAX_COLUMNS:
        raise DataError(f"data: {columns} columns is outside the allowed range 1 .. {MAX_COLUMNS}")
    if not 2 <= len(lines) <= max_rows:
        raise DataError(f"data: {len(lines)} rows of numbers is outside the allowed range 2 .. {max_rows}")
    values: list[float] = []
    for n, line in lines:
        cells = split.split(line.rstrip(",;\t "))  # a trailing separator ends the row
        if len(cells) != columns:
            raise DataError(f"data: row {n} has {len(cells)} columns, the table {columns}")
        for c, cell in enumerate(cells, start=1):
            cell = cell.strip().strip('"')
            if not cell:
                raise DataError(f"data: row {n}, column {c} is empty")
            v = _number(cell)
            if v is None:
                raise DataError(f"data: row {n}, column {c}: {cell[:40]!r} is not a number")
            if not math.isfinite(v) or abs(v) > FLOAT32_MAX:
                raise DataError(
                    f"data: row {n}, column {c}: {cell[:40]} is outside the allowed range -3.4028235e38 .. "
                    "3.4028235e38 (finite float32 numbers)"
                )
            values.append(v)
    return {"values": values, "columns": columns, "rows": len(lines), "names": names}
