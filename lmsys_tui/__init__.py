"""lmsys-tui: see what people ask LLMs."""

__version__ = "0.1.0"
