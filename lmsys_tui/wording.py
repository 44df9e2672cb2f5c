"""Counts in words for what people read: "1 cluster", "2,048 clusters"."""

from __future__ import annotations


def count_of(count: int, noun: str, plural: str | None = None) -> str:
    """`count` with `noun` in the number it takes ("1 copy", "3 copies")."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
