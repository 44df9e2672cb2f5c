"""Counts and shares in words for what people read: "1 cluster", "2,048 clusters", "0.3%"."""

from __future__ import annotations


def count_of(count: int, noun: str, plural: str | None = None) -> str:
    """`count` with `noun` in the number it takes ("1 copy", "3 copies")."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def percent(share: float) -> str:
    """A share as people read it: whole percents, but a rare value is not "0%" ("0.3%",
    "<0.1%"): 0% overall made a 56x lift read as a division by zero."""
    if share <= 0 or share >= 0.01:
        return f"{share:.0%}"
    return f"{share:.1%}" if share >= 0.001 else "<0.1%"
