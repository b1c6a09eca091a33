"""Compressed and archived sources: gzip, Zstandard and zip around any log format.

A container is told by the file's first bytes (gzip ``1f 8b``, Zstandard ``28 b5 2f fd``, zip
``PK``), not by its name, so a gzipped file named ``claims.csv`` is read as well as
``claims.csv.gz``. The log inside is taken out whole into a private temporary folder (in
the store's temp folder: `pipeline.processes`) and read there by the connector of its
format, then deleted:

- the format is the one `--format` names, else the one the inner name says (``claims.csv.gz``
  -> ``claims.csv``; a zip member's own name);
- decompression streams, chunk by chunk, to that file: never the whole text in Python memory
  at once on the way. (The CSV and JSON Lines readers then read the file whole, as they read
  a plain file: they parse bytes in memory; Parquet's batches and DuckDB relation would read
  the file after it is gone, so a compressed Parquet file is read whole too.)
- a zip holding one log takes it; several (or none recognisable) are refused with their
  names, asking for `--member` / ``[source] member``; macOS and Windows litter
  (``__MACOSX/``, ``._*``, ``.DS_Store``, ``Thumbs.db``) does not count;
- decompression bombs: output is capped at `inflation_limit(compressed size)` (200 times
  the compressed size, at least 256 MiB) while it streams, and a zip member whose declared
  size is over it is refused before a byte is written;
- nested containers (a ``.zip`` inside a ``.gz``, a ``.tar.gz``) are refused, not unpacked
  level by level; so is a plain tar archive.
  ``.xes.gz`` stays with the XES connector, which streams gzip itself, and an Excel workbook
  (itself a zip) with the Excel connector.

A damaged container is a `SourceError` naming the file (and member) and what is wrong.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pipeline.errors import SettingsError, SourceError, first_line

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with files, an empty archive
TAR_MAGIC, TAR_MAGIC_AT = b"ustar", 257
CONTAINER_SUFFIXES = {"gzip": (".gz", ".gzip"), "zstd": (".zst", ".zstd"), "zip": (".zip",)}
CONTAINER_NAMES = {"gzip": "gzip", "zstd": "Zstandard", "zip": "zip", "tar": "tar"}
CHUNK_BYTES = 1 << 20
MAX_RATIO = 200  # event logs compress 5-30x; a bomb, hundreds to millions of times
MIN_LIMIT_BYTES = 256 << 20  # a small file may always inflate this far
_JUNK_NAMES = (".ds_store", "thumbs.db", "desktop.ini")


def container_of(path: Path) -> str:
    """'gzip', 'zstd', 'zip', 'tar', or '' for a file that is none of them (told by its first
    bytes; a tar archive by the 'ustar' mark at byte 257)."""
    try:
        with open(path, "rb") as file:
            head = file.read(TAR_MAGIC_AT + len(TAR_MAGIC))
    except OSError as error:
        raise SourceError(path, f"cannot be read: {error.strerror or error}") from error
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head[:4] in ZIP_MAGICS:
        return "zip"
    if head[TAR_MAGIC_AT:] == TAR_MAGIC:
        return "tar"
    return ""


def is_workbook(path: Path) -> bool:
    """Whether a zip file is an Office Open XML document (an .xlsx), not an archive of files."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def inflation_limit(compressed_bytes: int) -> int:
    """The most bytes a container of `compressed_bytes` may decompress to."""
    return max(MIN_LIMIT_BYTES, MAX_RATIO * compressed_bytes)


def inner_name(path: Path, kind: str) -> str:
    """The name of the file inside a gzip or Zstandard file: its own name less the suffix."""
    name = Path(path).name
    for suffix in CONTAINER_SUFFIXES[kind]:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Unpacked:
    """A log taken out of a container: where it now is, and how messages name it."""

    path: Path  # the temporary plain file
    name: str  # its name inside the container: 'claims.csv', 'exports/claims.csv'
    label: str  # 'claims.csv.gz', 'claims.zip (member exports/claims.csv)'


@contextmanager
def unpacked(path: Path, kind: str, member: str, is_log: Callable[[str], bool], folder: Path):
    """Take the log out of the container `path` (of `kind`) into `folder`; yields `Unpacked`.

    `member` names a zip member ('' = the one log inside); `is_log(name)` tells whether a
    member's name is that of a log (for choosing, and for the error listing the choices)."""
    path = Path(path)
    if kind == "tar":
        raise SourceError(path, "is a tar archive, which is not read: unpack it (tar -xf) and load the log")
    if kind != "zip":
        if member:
            raise SettingsError(
                f"[source] member = {member!r}: {path} is a {CONTAINER_NAMES[kind]} file, not a zip "
                "archive, so it has no members; leave member empty"
            )
        name = inner_name(path, kind)
        target = folder / _safe_name(name)
        label = str(path)
        with _open_stream(path, kind) as stream:
            _copy_capped(label, stream, target, inflation_limit(path.stat().st_size), kind)
        yield Unpacked(target, name, label)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise SourceError(path, f"is a damaged zip archive ({first_line(error)})") from error
    with archive:
        info = _choose_member(path, archive, member, is_log)
        label = f"{path} (member {info.filename})"
        _check_member(path, label, info)
        target = folder / _safe_name(info.filename)
        try:
            stream = archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as error:
            raise SourceError(label, f"cannot be taken out of the archive: {first_line(error)}") from error
        with stream:
            _copy_capped(label, stream, target, inflation_limit(info.compress_size), "zip")
        yield Unpacked(target, info.filename, label)


def _safe_name(name: str) -> str:
    # Only the base name: a member called '../../x.csv' must not write outside the folder.
    base = PurePosixPath(name.replace("\\", "/")).name
    return base if base not in ("", ".", "..") else "log"


@contextmanager
def _open_stream(path: Path, kind: str):
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise SourceError(path, f"cannot be read: {error.strerror or error}") from error
    with raw:
        if kind == "gzip":
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")
        else:
            stream = _zstd().ZstdFile(raw, mode="rb")
        with stream:
            yield stream


def _zstd():
    # Python 3.14 has compression.zstd; before it, its backport (the same API).
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd
    return zstd


def _copy_capped(label: str, stream: BinaryIO, target: Path, limit: int, kind: str) -> None:
    """Stream `stream` into `target`, refusing output beyond `limit` and damaged input."""
    written = 0
    try:
        with open(target, "wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise SourceError(
                        label,
                        f"decompresses to more than {limit >> 20:,} MiB ({MAX_RATIO} times its compressed "
                        "size, or 256 MiB): refused as a likely decompression bomb; if it is a genuine "
                        "log, decompress it yourself and load the plain file",
                    )
                out.write(chunk)
    except EOFError as error:
        raise SourceError(
            label,
            f"is a truncated {CONTAINER_NAMES[kind]} file (the compressed data ends early); "
            "the download or copy was probably cut off",
        ) from error
    except (gzip.BadGzipFile, zlib.error, zipfile.BadZipFile, _zstd().ZstdError) as error:
        raise SourceError(
            label, f"is a corrupt {CONTAINER_NAMES[kind]} file ({first_line(error)})"
        ) from error
    except OSError as error:
        raise SourceError(label, f"cannot be decompressed: {error.strerror or error}") from error


def _is_junk(name: str) -> bool:
    base = PurePosixPath(name).name
    return name.startswith("__MACOSX/") or base.startswith("._") or base.lower() in _JUNK_NAMES


def _choose_member(path: Path, archive: zipfile.ZipFile, member: str, is_log: Callable[[str], bool]):
    files = [info for info in archive.infolist() if not info.is_dir() and not _is_junk(info.filename)]
    names = [info.filename for info in files]
    if member:
        found = [info for info in files if info.filename == member]
        if not found:  # a base name is enough where it is unique: 'claims.csv' for 'export/claims.csv'
            found = [info for info in files if PurePosixPath(info.filename).name == member]
        if len(found) == 1:
            return found[0]
        if found:
            raise SourceError(
                path,
                f"has several members named {member!r}: {_listing(i.filename for i in found)}; "
                "give the full name with its folder",
            )
        raise SourceError(path, f"has no member {member!r}; it holds {_listing(names) or 'no files'}")
    if not files:
        raise SourceError(path, "is a zip archive with no files in it")
    logs = [info for info in files if is_log(info.filename)]
    if len(logs) == 1:
        return logs[0]
    if len(files) == 1:  # one file whose name says no format: --format may still read it
        return files[0]
    if logs:
        raise SourceError(
            path,
            f"holds {len(logs)} logs ({_listing(i.filename for i in logs)}); "
            "choose one with --member NAME or [source] member",
        )
    raise SourceError(
        path,
        f"holds no file whose name says a log format ({_listing(names)}); "
        "choose one with --member NAME and give --format",
    )


def _listing(names, most: int = 20) -> str:
    names = list(names)
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _check_member(path: Path, label: str, info: zipfile.ZipInfo) -> None:
    if info.flag_bits & 0x1:
        raise SourceError(label, "is encrypted; extract it with its password and load the plain file")
    limit = inflation_limit(info.compress_size)
    if info.file_size > limit:
        raise SourceError(
            label,
            f"declares {info.file_size:,} bytes from {info.compress_size:,} compressed "
            f"(over {MAX_RATIO} times, and over 256 MiB): refused as a likely decompression bomb; "
            "if it is a genuine log, extract it yourself and load the plain file",
        )
