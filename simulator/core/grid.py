"""ASCII grids as scenes draw them (maze maps, thermal rooms)."""

from __future__ import annotations


def grid_lines(text: str, max_size: int = 512) -> list[str]:
    """The rows of an ASCII map: leading and trailing blank lines dropped, trailing spaces
    stripped; ValueError unless it is non-empty, rectangular and at most ``max_size`` rows
    and columns."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if not lines or not any(lines):
        raise ValueError("the map is empty")
    width = max(len(line) for line in lines)
    if any(len(line) != width for line in lines):
        raise ValueError(f"every row must have the same length ({width})")
    if len(lines) > max_size or width > max_size:
        raise ValueError(f"at most {max_size} rows and {max_size} columns")
    return lines


def unknown_character(ch: str, row: int, col: int, allowed: str) -> ValueError:
    """The error for a character a map's legend does not know."""
    return ValueError(f"unknown character {ch!r} at row {row}, col {col} (use {allowed})")
