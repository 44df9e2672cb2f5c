"""A workspace: one data dir holding `lmsys.duckdb`, `vectors/` and `index/`."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from . import DATABASE_FILE
from .embedding.vectors import VectorFile
from .errors import WorkspaceError
from .store import SCHEMA_VERSION, migrate, schema_version


class Workspace:
    """An open data dir. One DuckDB connection; threads take `con.cursor()`."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection) -> None:
        self.root = root
        self.con = con
        self._vector_files: dict[str, VectorFile] = {}

    @property
    def tmp_dir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(exist_ok=True)
        return path

    def vector_path(self, space_id: str) -> Path:
        return self.root / "vectors" / f"{space_id}.f16.npy"

    def vector_file(self, space_id: str) -> VectorFile:
        """The space's vector file, cut back to the rows DuckDB has committed."""
        if space_id not in self._vector_files:
            rows = self.con.execute(
                "SELECT dim, n_vectors FROM embedding_spaces WHERE space_id = ?", [space_id]
            ).fetchall()
            if not rows:
                raise WorkspaceError(f"no embedding space {space_id!r} in {self.root}")
            try:
                self._vector_files[space_id] = VectorFile(
                    self.vector_path(space_id), dim=rows[0][0], committed_rows=rows[0][1]
                )
            except (OSError, ValueError) as error:
                raise WorkspaceError(
                    f"vectors of space {space_id!r} are damaged ({error}): "
                    "run a job with an [embed] step to embed the lost rows again"
                ) from None
        return self._vector_files[space_id]

    def count(self, table: str) -> int:
        if not re.fullmatch(r"[a-z_]+", table):
            raise ValueError(table)
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _check_version(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    version = schema_version(con)
    if version != SCHEMA_VERSION:
        raise WorkspaceError(
            f"workspace {root} has schema v{version}, this lmsys-tui reads v{SCHEMA_VERSION}: "
            "run any job on it (lmsys-tui --run-job ...) to upgrade it"
            if version < SCHEMA_VERSION
            else f"workspace {root} was written by a newer lmsys-tui (schema v{version})"
        )


def _mark_interrupted_jobs(con: duckdb.DuckDBPyConnection) -> None:
    """Jobs still 'running' when a writer opens the workspace were killed (DuckDB lets one
    process write, and this one has not started any): say so, not 'running' forever."""
    con.execute(
        "UPDATE jobs SET status = 'interrupted', finished_at = coalesce(finished_at, "
        "now()::TIMESTAMP), error = coalesce(error, 'the process ended before the job did "
        "(killed?); run the job again to resume') WHERE status = 'running'"
    )


def open_workspace(root: Path | str, read_only: bool = False, create: bool = True) -> Workspace:
    """Open (creating, unless `create` is false, and migrating as needed) the workspace at
    `root`.

    Raises:
        WorkspaceError: the folder cannot be created, the database is locked by another
            process, or its schema is newer than this version.
    """
    root = Path(root).expanduser()
    database = root / DATABASE_FILE
    if (read_only or not create) and not database.exists():
        raise WorkspaceError(f"no workspace at {root}: run a job first (lmsys-tui --run-job ...)")
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / "vectors").mkdir(exist_ok=True)
        (root / "index").mkdir(exist_ok=True)
    except OSError as error:
        raise WorkspaceError(f"cannot create workspace at {root}: {error.strerror}") from None
    try:
        con = duckdb.connect(str(database), read_only=read_only)
    except duckdb.IOException as error:
        first_line = str(error).splitlines()[0]
        if "lock" in first_line.lower():
            raise WorkspaceError(
                f"workspace {root} is in use by another lmsys-tui process; try again when it ends"
            ) from None
        raise WorkspaceError(f"cannot open {database}: {first_line}") from None
    except duckdb.Error as error:
        raise WorkspaceError(f"{database} is not a lmsys-tui database: {error}") from None
    try:
        if read_only and schema_version(con) < SCHEMA_VERSION:
            # An older workspace: upgrade it once with a short writable connection.
            con.close()
            open_workspace(root).close()
            return open_workspace(root, read_only=True)
        if read_only:
            _check_version(con, root)
        else:
            migrate(con)
            _mark_interrupted_jobs(con)
    except BaseException:
        con.close()
        raise
    return Workspace(root, con)


def bytes_on_disk(path: Path) -> int:
    """What a file, or a folder's files, take on disk (links not followed); 0 when absent."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
