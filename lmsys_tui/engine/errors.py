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
