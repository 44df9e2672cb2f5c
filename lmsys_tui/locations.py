"""Where a workspace lives on disk: --data-dir, then LMSYS_TUI_HOME, then the user data dir."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

HOME_VARIABLE = "LMSYS_TUI_HOME"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the workspace folder the user asked for, or the platform default."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(HOME_VARIABLE)
    if from_env:
        return Path(from_env).expanduser()
    return Path(user_data_dir("lmsys-tui", appauthor=False))
