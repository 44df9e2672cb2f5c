"""Errors the engine raises for the user: each message is one line saying what and where."""


class LmsysError(Exception):
    """Base class: front ends print `str(error)` and exit non-zero, with no traceback."""


class WorkspaceError(LmsysError):
    """The data dir cannot be opened, is locked, or was written by a newer version."""


class SourceError(LmsysError):
    """A load source is missing, unreadable or in an unknown format."""


class JobFileError(LmsysError):
    """A job file is not valid TOML or does not match the job model."""


class EmbedError(LmsysError):
    """An embedding model cannot be loaded or called."""


class ClusterError(LmsysError):
    """Clustering cannot run on what is in the workspace."""


class JobCancelled(LmsysError):
    """Raised by a progress sink to stop a step between batches; what was committed stays."""


class SummaryError(LmsysError):
    """Summaries or a hierarchy cannot be made for this run."""


class IndexWriteError(WorkspaceError):
    """An index was built but could not be saved (disk full, read-only); `index` holds it
    so a read can still use it this time."""

    def __init__(self, message: str, index=None) -> None:
        super().__init__(message)
        self.index = index


def describe_failure(error: BaseException) -> str:
    """One line for an error from the OS, DuckDB or a native library: what and where,
    with the usual causes (disk full, read-only) named."""
    import errno

    code = getattr(error, "errno", None)
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    where = getattr(error, "filename", None)
    at = f" ({where})" if where else ""
    if code == errno.ENOSPC or "No space left" in text or "disk is full" in text.lower():
        return f"the disk is full{at}: free some space and run again; what was committed is kept"
    if code == errno.EROFS or "Read-only file system" in text:
        return f"the workspace is on a read-only file system{at}: {first}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied{at}: {first}"
    return f"{type(error).__name__}: {first}"


def failure_line(error: BaseException) -> str | None:
    """The one line a front end shows for a failure the user can act on: the engine's own
    message, or an OS, DuckDB or native library error described (disk full, read-only).
    None for anything else: a bug, which should go on with its traceback."""
    import duckdb

    if isinstance(error, LmsysError):
        return str(error)
    if isinstance(error, (OSError, RuntimeError, duckdb.Error)):
        return describe_failure(error)
    return None


def is_interruption(error: BaseException) -> bool:
    """Ctrl-C or a cancel. Ctrl-C inside a DuckDB query does not raise KeyboardInterrupt:
    DuckDB stops the query and raises a plain RuntimeError("Query interrupted")."""
    if isinstance(error, (KeyboardInterrupt, JobCancelled)):
        return True
    return isinstance(error, RuntimeError) and str(error) == "Query interrupted"
