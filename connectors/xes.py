"""XES connector: `.xes` / `.xes.gz` -> one raw row per event (see `connectors.base`).

Parsing is done by `rustxes` (Rust, ~10x faster than an lxml/pm4py iterparse). rustxes is
fast but lenient in ways that would break the connector contract, so this module wraps it:

- It never sees the original file. We stream the file once (decompressing it if gzipped)
  into a private plain UTF-8 copy, and on the way: check the prolog (empty, binary, entity
  declarations), validate or transcode the text to UTF-8, delete ``<global>`` declarations
  (rustxes fills every missing attribute with the global default, inventing values such as
  a 1970 timestamp for an open case) and expand ``<event/>`` / ``<trace/>`` (rustxes panics
  on them). Python's gzip module reports truncation and CRC errors precisely.
- rustxes reports problems by panicking (a BaseException) and by printing to the process's
  stderr, while it silently replaces unreadable values with defaults (int "abc" -> 0,
  bad boolean -> false, bad date -> null). We capture stderr during the call and refuse
  the file when it reports a replaced value, and turn panics into `SourceError`.
- Output fixes: timestamps come back naive (UTC instants) -> made UTC-aware, unless no date
  in the traces has an offset (then kept naive, as written, for the pipeline to place in the
  stream's time zone; a mix is refused, since rustxes hides which was which); attribute keys
  come back XML-escaped (``a&amp;b``) -> unescaped; a key with values of several XES types
  comes back as strings with string values JSON-quoted -> quotes removed; column order is
  random -> made deterministic; the case id is cast to string; ``_line`` is added.
- rustxes holds the GIL and parses on one core (4 s per million events here). A large clean
  copy (SPLIT_MIN_BYTES) is cut in two at a ``<trace`` near its middle, each half keeping
  the log's header, and the second half is parsed by a second Python process meanwhile.
  The halves must agree (same column types, same mixed-type keys, no failure); otherwise
  the whole copy is parsed at once, as for a small file, so the result and any error are
  exactly those of one parse. A plain UTF-8 file is cut before any copy is made
  (`_parse_cut_early`): the second process starts at once and writes its half itself, and
  each process looks over its traces with polars (Rust's regex, `_scan_traces`) and, when
  nothing in them needs rewriting (the usual case), has the kernel copy them behind the
  header; the streaming pass above runs for a half only when it holds an ``<event/>`` or
  ``<trace/>`` or bytes that are not UTF-8.
"""

from __future__ import annotations

import codecs
import gzip
import json
import mmap
import os
import re
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import polars as pl
import rustxes

from connectors.base import LINE_COLUMN
from pipeline import interrupts
from pipeline.errors import SourceError
from pipeline.processes import child_process, private_temp_dir

CASE_ID = "case:concept:name"
PROLOG_BYTES = 64 * 1024  # the prolog (XML declaration, comments, DOCTYPE) must fit in this
MAX_HEADER_BYTES = 64 * 1024 * 1024  # log-level data before the first <trace> (bpic2012: ~3 MB)
CHUNK_BYTES = 1024 * 1024
TAIL_BYTES = 4096
# A clean copy this large is parsed in two halves at once (a second process starts in ~0.3 s)
SPLIT_MIN_BYTES = 64 * 1024 * 1024
# Where a plain file is cut: the second process gets less, as its Python start and imports
# take about 0.2 s (measured on 1M events: the two processes then end within 0.1 s)
CUT_AT = 0.53
SCAN_PIECES = 32  # pieces of about CHUNK_BYTES scanned by polars at once (`_scan_traces`)
GZIP_MAGIC = b"\x1f\x8b"
LEADING_COLUMNS = (
    CASE_ID,
    "concept:name",
    "time:timestamp",
    "lifecycle:transition",
    "org:resource",
    "org:group",
    "org:role",
)

# The prolog, item by item: whitespace, the XML declaration or a processing instruction, a
# comment, or a DOCTYPE that only names the root (no internal subset, no external DTD). A
# guard that searched for the root instead was fooled by a comment holding "<log>".
_PROLOG_ITEM = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE\s+[^\s\[\]<>'\"]+\s*>", re.DOTALL)
_ELEMENT = re.compile(r"<([^\s/>!?]+)")
# After the root starts, XML allows no DOCTYPE or entity declaration at all.
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# A reference to an entity that is neither one of XML's five nor a character reference: with
# declarations refused it can only be undefined, and rustxes would keep it (and every other
# escape in that value, &amp; included) as literal text.
_UNDECLARED_REFERENCE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z_:][-A-Za-z0-9._:]*;")
ENTITY_REFUSED = (
    "declares XML entities (<!ENTITY ...> in a <!DOCTYPE>); "
    "entity declarations are refused for safety and event logs do not need them"
)
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_FIRST_TRACE = re.compile(rb"<trace[\s>/]")
_GLOBAL = re.compile(rb"<global\b[^>]*?/>|<global\b.*?</global\s*>", re.DOTALL)
# After </log> XML allows only whitespace, comments and processing instructions.
_DOCUMENT_END = re.compile(rb"(?:</log\s*>|<log\b[^>]*/>)(?:\s|<!--.*?-->|<\?.*?\?>)*\Z", re.DOTALL)
# The body's patterns are read by Python's re (on bytes) and by polars (Rust's regex, on text,
# `_scan_traces`). Rust reads \s and \d as Unicode classes, so they are spelled out as the
# ASCII classes they are in a bytes pattern.
_S = r"[\t\n\x0b\x0c\r ]"
_D = "[0-9]"
_SELF_CLOSED_TEXT = rf"<(event|trace){_S}*/>"
# Written to stay linear (no lazy scan inside the tag): the key, if any, comes before the value.
_DATE_VALUE = (
    rf"""<date{_S}+(?:key{_S}*={_S}*(?:"[^"]*"|'[^']*'){_S}+)?value{_S}*={_S}*["']{_S}*"""
    rf"""{_D}{_D}{_D}{_D}-{_D}{_D}-{_D}{_D}[T ]{_D}{_D}:{_D}{_D}(?::{_D}{_D}(?:[.,]{_D}+)?)?"""
)
_DATE_WITH_OFFSET_TEXT = _DATE_VALUE + rf"""{_S}*(?:Z|[+-]{_D}{_D}(?::?{_D}{_D})?){_S}*["']"""
_DATE_WITHOUT_OFFSET_TEXT = _DATE_VALUE + rf"""{_S}*["']"""
_SELF_CLOSED = re.compile(_SELF_CLOSED_TEXT.encode())
_DATE_WITH_OFFSET = re.compile(_DATE_WITH_OFFSET_TEXT.encode())
_DATE_WITHOUT_OFFSET = re.compile(_DATE_WITHOUT_OFFSET_TEXT.encode())
_CHAR_REF = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED_REFS = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_MIXED_TYPES = re.compile(r"Warning: Attribute (.*) contains values of different dtypes \(\{(.*)\}\)")
_NUMERIC_ONLY = {"Int64", "Float64"}
# rustxes prints these (to stderr) when it replaced or dropped something it could not read.
_REPAIR_NOTES = (
    "Could not parse",
    "Failed to parse",
    "Event without trace",
    "No current trace",
    "No current event",
    "Attribute type not implemented",
    "Did not find expected XML attribute",
    "Encountered two log tags",
)
# Panic text -> what we tell the user. First match wins; the fallback quotes the panic.
_PANIC_MEANINGS = (
    ("NoTopLevelLog", "has no <log> root element: it is not an XES event log"),
    ("UnexpectedEof", "ends in the middle of the XML: the file is truncated"),
    ("Unclosed", "ends in the middle of an XML element: the file is truncated or corrupt"),
    ("XMLParsingError", "is not well-formed XML"),
    ("AttributeOutsideLog", "has content outside the <log> element (not a valid XES document)"),
    ("on a `None` value", "has a date outside the supported years 1677-2262"),
)


@dataclass(frozen=True)
class _Diagnostics:
    """What rustxes printed during one import: mixed-type columns and value repairs."""

    mixed_string_columns: tuple[str, ...]
    repairs: tuple[str, ...]


@dataclass
class _BodyScan:
    """What the clean copy pass saw in the traces (all after the header).

    Whether the <date> values carry a UTC offset: some do, some do not, or both. rustxes reads
    an offset-less date as UTC and gives no sign of it; the pipeline must instead read such
    values in the stream's time zone (and say so), so we look ourselves. And, for cutting the
    copy in two (`_split_in_two`), where the header ends and whether a comment or CDATA section
    (which could hold the text ``<trace``) follows it.
    """

    with_offset: bool = False
    without_offset: bool = False
    opaque: bool = False
    header_bytes: int = 0
    unsafe: str = ""  # why the document is refused: a declaration or an undeclared entity

    def scan(self, piece: bytes) -> None:
        self.with_offset = self.with_offset or bool(_DATE_WITH_OFFSET.search(piece))
        self.without_offset = self.without_offset or bool(_DATE_WITHOUT_OFFSET.search(piece))
        self.scan_markup(piece)

    def scan_markup(self, piece: bytes) -> None:
        # '!' is rare in XES and '<' is everywhere: looking for it first makes this a memchr
        if b"!" in piece:
            self.opaque = self.opaque or b"<!--" in piece or b"<![CDATA[" in piece
            self.unsafe = self.unsafe or _unsafe_after_root(piece)
        elif b"&" in piece and not self.unsafe:
            self.unsafe = _unsafe_after_root(piece)

    def merge(self, other: _BodyScan) -> None:
        """Add what `other` saw in another part of the same traces."""
        self.with_offset = self.with_offset or other.with_offset
        self.without_offset = self.without_offset or other.without_offset
        self.opaque = self.opaque or other.opaque
        self.unsafe = self.unsafe or other.unsafe


def read_xes(path: Path) -> pl.DataFrame:
    """Read an XES (optionally gzipped) log into one raw row per event, in document order.

    Dates are UTC-aware; if no date in the traces has a UTC offset they are returned naive
    (wall-clock as written) so that the pipeline reads them in the stream's time zone.
    """
    path = Path(path)
    with private_temp_dir("xes") as tmp:  # under the store's temp folder, gone even after a kill
        plain = tmp / "log.xes"  # no .gz suffix: rustxes picks gzip by file name
        early = _parse_cut_early(path, plain)
        if isinstance(early, tuple):
            frame, diagnostics, body = early
        elif early:  # cut early, but the halves disagree or one failed: one parse decides
            body = _write_clean_copy(path, plain)
            frame, diagnostics = _run_rustxes(path, plain)
        else:
            body = _write_clean_copy(path, plain)
            frame, diagnostics = _parse(path, plain, body)
    if diagnostics.repairs:
        raise SourceError(path, _repair_message(diagnostics.repairs))
    if frame.height == 0:
        raise SourceError(path, "contains no events (an XES log needs <trace> elements with <event>s)")
    if body.with_offset and body.without_offset:
        raise SourceError(
            path,
            "mixes <date> values with and without a UTC offset, so the ones without "
            "cannot be placed in time; give every date an offset (XES requires one)",
        )
    return _normalise(path, frame, diagnostics, naive_dates=body.without_offset)


# --- streaming the file into a clean plain copy -------------------------------------------


def _write_clean_copy(path: Path, target: Path) -> _BodyScan:
    """Decompress, check, transcode and patch `path` into `target` (plain UTF-8 XES)."""
    body = _BodyScan()
    with _open_source(path) as raw:
        chunks = _decompressed_chunks(path, raw)
        head, rest = _peek(chunks, PROLOG_BYTES)
        encoding = check_xml_prolog(path, head)
        tail = _write_patched(path, _as_utf8(path, chain([head], rest), encoding), target, body)
    _check_complete(path, tail)
    return body


def _write_patched(path: Path, text: Iterable[bytes], target: Path, seen: _BodyScan) -> bytes:
    """Write UTF-8 `text` (an XES document, or its header and part of its traces) into
    `target` through `_patch_xes`; the last TAIL_BYTES written, for `_check_complete`."""
    tail = b""
    with open(target, "wb") as out:
        for piece in _patch_xes(path, text, seen):
            out.write(piece)
            tail = (tail + piece)[-TAIL_BYTES:]
    return tail


def _check_complete(path: Path, tail: bytes) -> None:
    """Refuse a document that stops before ``</log>``.

    rustxes accepts such a file and silently drops the unfinished trace, so a log cut off
    between two elements would otherwise load with events missing.
    """
    if not _DOCUMENT_END.search(tail):
        raise SourceError(path, "does not end with </log>: the file is truncated (or has trailing data)")


@contextmanager
def _open_source(path: Path) -> Iterator[BinaryIO]:
    """Open the file, transparently gunzipping it when it starts with the gzip magic bytes."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise SourceError(path, f"cannot be opened: {exc.strerror or exc}") from exc
    with raw:
        # Sniff instead of trusting the suffix: a gzipped .xes or a plain .xes.gz both occur.
        if raw.read(2) != GZIP_MAGIC:
            raw.seek(0)
            yield raw
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield unzipped


def _decompressed_chunks(path: Path, source: BinaryIO) -> Iterator[bytes]:
    """Yield the file's (decompressed) bytes, turning gzip failures into a SourceError."""
    try:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk
    except EOFError as exc:  # gzip stream cut before its end marker
        raise SourceError(
            path,
            "is a truncated gzip file (the compressed data ends early); "
            "the download or copy was probably cut off",
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(path, f"is a corrupt gzip file ({exc}); expected a valid .xes.gz") from exc


def _peek(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """Return the first `size` bytes (fewer at end of file) and an iterator over the rest."""
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    return bytes(head), chunks


def check_xml_prolog(path: Path, head: bytes, expected: str = "an XES event log") -> str:
    """Refuse empty, binary, rootless and entity-declaring XML; return the text encoding.

    `head` is the first `PROLOG_BYTES` of the (decompressed) document. Shared with the OCEL
    XML reader, whose root element is also ``<log>``.
    """
    if not head.strip():
        raise SourceError(path, f"is empty; expected {expected} (XML with a <log> root)")
    encoding = _sniff_encoding(path, head)
    text = head.decode(encoding, errors="replace")  # only inspected, never written
    start = text.lstrip("\ufeff \t\r\n")
    if "\x00" in text or not start.startswith("<"):
        raise SourceError(
            path,
            f"is not XML (binary or plain-text data); expected {expected} starting with '<?xml' or '<log'",
        )
    # Neither XES nor OCEL needs entities or a DTD; refusing them up front makes an
    # entity-expansion bomb ("billion laughs") or an external entity harmless whatever the
    # parser would have done with it. "<!ENTITY" anywhere in the head is refused, even in a
    # comment: it can only be markup there (in a value it would be written &lt;!ENTITY).
    if "<!ENTITY" in text.upper():
        raise SourceError(path, ENTITY_REFUSED)
    end = _prolog_end(text)
    if text.startswith("<!", end) and not text.startswith("<!--", end):
        doctype = text[end : end + 60].split("\n")[0]
        raise SourceError(
            path,
            f"has a DOCTYPE with an internal subset or an external DTD ({doctype!r}...); DTDs are "
            "refused for safety and event logs do not need them (a plain <!DOCTYPE log> is fine)",
        )
    root = _ELEMENT.match(text, end)
    if root is None:
        raise SourceError(
            path, f"has no <log> root element in its first {PROLOG_BYTES // 1024} KB; expected {expected}"
        )
    if root.group(1).rpartition(":")[2] != "log":
        raise SourceError(
            path, f"has no <log> root element (its root is <{root.group(1)}>); expected {expected}"
        )
    return encoding


def _prolog_end(text: str) -> int:
    """Where the prolog of `text` ends: at its root element, or at what is not allowed in a
    prolog (a DOCTYPE with a subset or an external id, an unterminated comment, text)."""
    end = 1 if text.startswith("\ufeff") else 0
    while item := _PROLOG_ITEM.match(text, end):
        end = item.end()
    return end


def _sniff_encoding(path: Path, head: bytes) -> str:
    """The document encoding from its byte-order mark or XML declaration (default UTF-8)."""
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            return name
    declared = _XML_DECL_ENCODING.match(head)
    if declared is None:
        return "utf-8"
    label = declared.group(1).decode("ascii")
    try:
        return codecs.lookup(label).name
    except LookupError as exc:
        raise SourceError(
            path, f"declares an unknown text encoding {label!r}; expected UTF-8 or another standard encoding"
        ) from exc


def _as_utf8(path: Path, chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """Validate UTF-8 input (rustxes would silently turn bad bytes into U+FFFD) or transcode."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    first = True
    for chunk in chunks:
        try:
            if encoding == "utf-8":
                if not chunk.isascii():  # ASCII is valid UTF-8; skip the costly decode
                    decoder.decode(chunk)
                out = chunk
            else:
                decoded = decoder.decode(chunk)
                if first:  # the bytes are now UTF-8: say so in the declaration
                    decoded = re.sub(
                        r"""(<\?xml[^>]*?encoding\s*=\s*["'])[^"']*""",
                        r"\1UTF-8",
                        decoded.lstrip("\ufeff"),
                        count=1,
                    )
                out = decoded.encode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(
                path,
                f"is not valid {encoding} text (bad byte near offset "
                f"{offset + exc.start}); re-save the log as UTF-8",
            ) from exc
        first = False
        offset += len(chunk)
        yield out
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"ends in the middle of a {encoding} character (truncated?)") from exc


def _patch_xes(path: Path, chunks: Iterable[bytes], seen: _BodyScan) -> Iterator[bytes]:
    """Drop <global> declarations from the header, then expand empty <event/>/<trace/>.

    Body pieces (whole tags only) are shown to `seen` (dates, comments); log-level dates are
    not in the rows.
    """
    chunks = iter(chunks)
    header = bytearray()
    for chunk in chunks:
        scan_from = max(0, len(header) - 8)  # the '<trace' may straddle two chunks
        header += chunk
        found = _FIRST_TRACE.search(header, scan_from)
        if found:
            kept = _GLOBAL.sub(b"", bytes(header[: found.start()]))
            _refuse_unsafe(path, _unsafe_after_root(kept[_root_offset(kept) :]))
            seen.header_bytes = len(kept)
            yield kept
            body = chain([bytes(header[found.start() :])], chunks)
            for piece in _expand_self_closed(body):
                seen.scan(piece)
                _refuse_unsafe(path, seen.unsafe)
                yield piece
            return
        if len(header) > MAX_HEADER_BYTES:
            raise SourceError(
                path,
                f"has no <trace> element in its first {MAX_HEADER_BYTES >> 20} MB; "
                "expected an XES event log with traces",
            )
    # No trace at all: still hand it over so the caller reports "no events" consistently.
    kept = _GLOBAL.sub(b"", bytes(header))
    _refuse_unsafe(path, _unsafe_after_root(kept[_root_offset(kept) :]))
    yield kept


def _root_offset(header: bytes) -> int:
    """Where the root element starts in the UTF-8 `header` (its end when not found)."""
    head = header[:PROLOG_BYTES].decode("utf-8", errors="replace")
    return len(head[: _prolog_end(head)].encode("utf-8", errors="replace"))


def _unsafe_after_root(data: bytes) -> str:
    """Why `data`, from inside the root element, is refused ("" when it is not)."""
    declaration = _DECLARATION.search(data)
    if declaration:
        return (
            f"has a {declaration.group().decode()} declaration inside the <log> element; XML allows none "
            "there, and DTDs and entity declarations are refused for safety"
        )
    reference = _UNDECLARED_REFERENCE.search(data)
    if reference:
        return (
            f"uses the entity reference {reference.group().decode(errors='replace')!r}, which is not one "
            "of XML's own (&amp; &lt; &gt; &quot; &apos;); entity declarations are refused for safety, "
            "so it cannot be read (a literal '&' is written &amp;)"
        )
    return ""


def _refuse_unsafe(path: Path, why: str) -> None:
    if why:
        raise SourceError(path, why)


def _expand_self_closed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Rewrite ``<event/>`` as ``<event></event>`` (same for trace), across chunk borders."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = data.rfind(b"<")  # hold back the last (possibly incomplete) tag
        data, carry = (data, b"") if cut == -1 else (data[:cut], data[cut:])
        yield _SELF_CLOSED.sub(rb"<\1></\1>", data)
    yield _SELF_CLOSED.sub(rb"<\1></\1>", carry)


# --- parsing: the whole copy, or two halves at once ------------------------------------------


def _parse(path: Path, plain: Path, body: _BodyScan) -> tuple[pl.DataFrame, _Diagnostics]:
    """rustxes on the clean copy: a large one in two halves at once, else (or if the halves
    disagree, or one fails) the whole copy in this process."""
    second = plain.with_name("second.xes")
    if (
        plain.stat().st_size < SPLIT_MIN_BYTES
        or (os.cpu_count() or 1) < 2
        or not _split_in_two(plain, second, body)
    ):
        return _run_rustxes(path, plain)
    halves = _parse_halves(path, plain, second)
    if halves is not None:
        return halves[:2]
    second.unlink(missing_ok=True)
    _write_clean_copy(path, plain)  # whole again: the first half was cut out of it
    return _run_rustxes(path, plain)


def _split_in_two(plain: Path, second: Path, body: _BodyScan) -> bool:
    """Cut the clean copy at the first ``<trace`` past 55%: `second` gets the header
    (all before the first trace) and the traces from the cut on; `plain` keeps the traces
    before the cut and is closed with ``</log>``. False (nothing changed) when no cut is safe:
    no trace, or a comment or CDATA section after the header (it could hold ``<trace``)."""
    size = plain.stat().st_size
    if body.opaque or not body.header_bytes:
        return False
    with open(plain, "rb") as f:
        # past the middle: the second process starts about 0.3 s late, so it gets less
        cut = _next_trace(f, max(size * 11 // 20, body.header_bytes + 1))
        if cut is None:
            return False
        f.seek(0)
        header = f.read(body.header_bytes)
        with open(second, "wb") as out:
            out.write(header)
            out.flush()
            _copy_range(f, out, cut, size)
    with open(plain, "r+b") as f:
        f.truncate(cut)
        f.seek(cut)
        f.write(b"</log>\n")
    return True


def _parse_cut_early(path: Path, first: Path) -> tuple[pl.DataFrame, _Diagnostics, _BodyScan] | bool:
    """A large plain UTF-8 file, cut in two before any copy is made: the child process is
    started at once and writes its half itself (the header without its ``<global>``s, then the
    traces from the first ``<trace`` past `CUT_AT`), while this process writes and parses the
    first half (`_write_half`). (frame, notes, what the body scans saw) when the halves agree;
    True when they were parsed but disagree or one failed, a comment or CDATA section among
    them included (the caller parses the whole copy at once); False when the file is not for
    this (gzipped, another encoding, small, no cut, or a problem in the header, which the
    ordinary pass reports as it always does)."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if size < SPLIT_MIN_BYTES or (os.cpu_count() or 1) < 2:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(PROLOG_BYTES)
            if head[:2] == GZIP_MAGIC or check_xml_prolog(path, head) != "utf-8":
                return False
            first_trace = _next_trace(f, 0)
            if first_trace is None or first_trace > MAX_HEADER_BYTES:
                return False
            cut = _next_trace(f, max(int(size * CUT_AT), first_trace + 1))
            if cut is None:
                return False
            f.seek(0)
            raw_header = f.read(first_trace)
        header = b"".join(_patch_xes(path, _as_utf8(path, [raw_header], "utf-8"), _BodyScan()))
    except SourceError:
        return False  # the ordinary pass meets it again and says it with the whole file's offsets
    header_file = first.with_name("header.xes")
    header_file.write_bytes(header)
    seen = _BodyScan()

    def write_first() -> None:
        seen.merge(_write_half(path, header, first_trace, cut, first))

    second = first.with_name("second.xes")
    parsed = _parse_halves(path, first, second, write_first, (header_file, cut))
    second.unlink(missing_ok=True)
    if parsed is None:
        return True
    frame, notes, second_seen = parsed
    seen.merge(second_seen)
    return frame, notes, seen


def _write_half(path: Path, header: bytes, start: int, end: int | None, target: Path) -> _BodyScan:
    """Write `header` and the traces of the plain UTF-8 file `path` from byte `start` to `end`
    into `target`, closed with ``</log>`` (to the end of the file when `end` is None: the
    file's own ``</log>`` closes it, and it must have one). What the scan saw; a SourceError
    for what the cleaning refuses, a comment or CDATA section included (it could hide a
    ``<trace`` from the cut).

    Traces that need no rewriting (no ``<event/>`` or ``<trace/>``: the usual case) are
    checked by `_scan_traces` and copied by the kernel; others go through the cleaning
    pass as a whole file does."""
    with open(path, "rb") as f:
        stop = end if end is not None else os.fstat(f.fileno()).st_size
        seen = _scan_traces(path, f, start, stop)
        if seen is None:
            seen = _BodyScan()
            f.seek(start)
            tail = _write_patched(
                path, _as_utf8(path, chain([header], _chunks_of(f, stop - start)), "utf-8"), target, seen
            )
        else:
            with open(target, "wb") as out:
                out.write(header)
                out.flush()
                _copy_range(f, out, start, stop)
            f.seek(max(start, stop - TAIL_BYTES))
            tail = f.read(stop - f.tell())
    if end is None:
        _check_complete(path, tail)
    else:
        with open(target, "ab") as out:
            out.write(b"</log>\n")
    if seen.opaque:
        raise SourceError(path, "a comment or CDATA section follows the header")
    return seen


def _scan_traces(path: Path, f: BinaryIO, start: int, stop: int) -> _BodyScan | None:
    """What `_BodyScan.scan` sees in bytes `start` to `stop` of `f`, found by polars (Rust's
    regex, about five times faster than Python's here) in pieces cut before a ``<``; None when
    the bytes need the cleaning pass (not UTF-8, or an ``<event/>`` or ``<trace/>`` to expand).
    A SourceError for an unsafe declaration or entity reference, as the cleaning pass says it."""
    seen = _BodyScan()
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        offset = start
        while offset < stop:
            pieces = []
            while offset < stop and len(pieces) < SCAN_PIECES:
                cut = data.find(b"<", min(offset + CHUNK_BYTES, stop), stop)
                cut = stop if cut == -1 else cut
                pieces.append(data[offset:cut])
                offset = cut
            try:
                text = pl.DataFrame({"piece": pl.Series(pieces, dtype=pl.Binary).cast(pl.String)})
            except pl.exceptions.ComputeError:  # not UTF-8: the cleaning pass says where
                return None
            found = text.select(
                with_offset=pl.col("piece").str.contains(_DATE_WITH_OFFSET_TEXT).any(),
                without_offset=pl.col("piece").str.contains(_DATE_WITHOUT_OFFSET_TEXT).any(),
                self_closed=pl.col("piece").str.contains(_SELF_CLOSED_TEXT).any(),
            ).row(0, named=True)
            markup = text.select(pl.col("piece").str.contains("[!&]").arg_true()).to_series()
            if found["self_closed"]:
                return None
            seen.with_offset = seen.with_offset or found["with_offset"]
            seen.without_offset = seen.without_offset or found["without_offset"]
            for i in markup:  # rare: the cleaning pass's own look at '!' and '&'
                seen.scan_markup(pieces[i])
                _refuse_unsafe(path, seen.unsafe)
    return seen


def _chunks_of(f: BinaryIO, size: int) -> Iterator[bytes]:
    """The next `size` bytes of `f`, in chunks."""
    while size > 0 and (chunk := f.read(min(CHUNK_BYTES, size))):
        size -= len(chunk)
        yield chunk


def _copy_range(source: BinaryIO, target: BinaryIO, start: int, stop: int) -> None:
    """Append bytes `start` to `stop` of `source` to `target`, in the kernel where it can."""
    offset = start
    try:
        while offset < stop:
            copied = os.copy_file_range(source.fileno(), target.fileno(), stop - offset, offset)
            if copied == 0:
                break
            offset += copied
    except (OSError, AttributeError):  # no copy_file_range here (or not between these files)
        pass
    source.seek(offset)
    target.seek(0, os.SEEK_END)
    for chunk in _chunks_of(source, stop - offset):
        target.write(chunk)


def _next_trace(f: BinaryIO, start: int) -> int | None:
    """Offset of the first ``<trace`` tag at or after `start` in the open file `f`."""
    offset = start
    while True:
        f.seek(offset)
        window = f.read(CHUNK_BYTES + 16)  # the tag may straddle two windows
        found = _FIRST_TRACE.search(window)
        if found:
            return offset + found.start()
        if len(window) <= CHUNK_BYTES:
            return None
        offset += CHUNK_BYTES


def _parse_halves(
    path: Path,
    first: Path,
    second: Path,
    write_first: Callable[[], None] | None = None,
    clean_from: tuple[Path, int] | None = None,
) -> tuple[pl.DataFrame, _Diagnostics, _BodyScan] | None:
    """Parse `second` in a child process (python -m connectors.xes) while this one parses
    `first` (written by `write_first` once the child runs, when given); the two frames in
    document order and what the child's scan saw, or None when the halves disagree or fail
    (a SourceError from `write_first` included). With `clean_from` (a file holding the clean
    header, and where in `path` the second half starts) the child writes `second` itself
    (`_write_half`)."""
    arrow = second.with_suffix(".arrow")
    writes = [] if clean_from is None else ["--from", str(path), str(clean_from[0]), str(clean_from[1])]
    # its own process group and a parent-death signal: it never outlives this process
    with child_process(
        [sys.executable, "-m", "connectors.xes", *writes, str(second), str(arrow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as child:
        try:
            if write_first is not None:
                write_first()
            head, head_notes = _run_rustxes(path, first)
        except SourceError:
            head = None
        out, _ = child.communicate()
    said = out.decode("utf-8", errors="replace").strip().splitlines()
    report = json.loads(said[-1]) if child.returncode == 0 and said else {}
    if head is None or not report.get("ok"):
        return None
    tail = pl.read_ipc(arrow)
    tail_notes = _Diagnostics(tuple(report["mixed"]), tuple(report["repairs"]))
    if set(head_notes.mixed_string_columns) != set(tail_notes.mixed_string_columns):
        return None
    frames = _agreeing(head, tail)
    if frames is None:
        return None
    notes = _Diagnostics(head_notes.mixed_string_columns, head_notes.repairs + tail_notes.repairs)
    seen = _BodyScan(with_offset=report["with_offset"], without_offset=report["without_offset"])
    return pl.concat(frames, how="diagonal"), notes, seen


def _agreeing(head: pl.DataFrame, tail: pl.DataFrame) -> list[pl.DataFrame] | None:
    """The halves with one type per column, as one parse gives it: a key read as Int64 in one
    half and Float64 in the other is Float64 (rustxes widens int+float so); any other
    difference, None."""
    casts: dict[str, pl.DataType] = {}
    for name in set(head.columns) & set(tail.columns):
        a, b = head.schema[name], tail.schema[name]
        if a == b or a == pl.Null or b == pl.Null:
            continue
        if {a, b} == {pl.Int64, pl.Float64}:
            casts[name] = pl.Float64
        else:
            return None
    if not casts:
        return [head, tail]
    return [
        frame.with_columns(pl.col(n).cast(t) for n, t in casts.items() if n in frame.columns)
        for frame in (head, tail)
    ]


def _parse_half_main(args: list[str]) -> None:
    """The child of `_parse_halves`: ``[--from <file> <header> <start>] <half> <arrow>``.
    Write the half from the file when told to (`_write_half`), parse it, write the frame to
    <arrow> (Arrow IPC), print what rustxes and the scan said as JSON. A failure prints ok:
    false (the parent then parses the whole copy itself and reports the error as one parse
    would)."""
    half, target = Path(args[-2]), Path(args[-1])
    seen = _BodyScan()
    try:
        if args[0] == "--from":
            source, header, start = Path(args[1]), Path(args[2]), int(args[3])
            seen = _write_half(source, header.read_bytes(), start, None, half)
        frame, notes = _run_rustxes(half, half)
    except SourceError:
        print(json.dumps({"ok": False}))
        return
    frame.write_ipc(target)
    said = {"mixed": list(notes.mixed_string_columns), "repairs": list(notes.repairs)}
    dates = {"with_offset": seen.with_offset, "without_offset": seen.without_offset}
    print(json.dumps({"ok": True, **said, **dates}))


# --- running rustxes ----------------------------------------------------------------------


def _run_rustxes(path: Path, plain: Path) -> tuple[pl.DataFrame, _Diagnostics]:
    """Import with rustxes, capturing what it prints to stderr and turning panics into errors.

    stderr is redirected at the file-descriptor level because rustxes writes from Rust, not
    through `sys.stderr`. The redirect is process-wide for the duration of the call.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failure: BaseException | None = None
        try:
            frame, _log_attributes = rustxes.import_xes(str(plain))
        except BaseException as exc:  # pyo3 panics derive from BaseException, not Exception
            if not _is_parser_failure(exc):
                raise  # KeyboardInterrupt, SystemExit
            failure = exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        printed = sink.read().decode("utf-8", errors="replace").splitlines()
    if failure is not None:
        # A Ctrl-C during the parse comes back as a panic: not the file's fault, and no
        # fallback (_parse_halves parses the whole again) may take it for one.
        if "<class 'KeyboardInterrupt'>" in str(failure):
            raise KeyboardInterrupt
        interrupts.check()
        raise SourceError(path, _panic_message(failure)) from None
    return frame, _parse_diagnostics(printed)


def _is_parser_failure(exc: BaseException) -> bool:
    """A Rust panic or an ordinary exception raised by rustxes: both are about the file."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _panic_message(panic: BaseException) -> str:
    detail = str(panic).removeprefix("called `Result::unwrap()` on an `Err` value: ")
    for needle, meaning in _PANIC_MEANINGS:
        if needle in detail:
            return f"{meaning} (XES parser: {detail[:300]})"
    return f"could not be read as an XES event log (XES parser: {detail[:300]})"


def _parse_diagnostics(lines: list[str]) -> _Diagnostics:
    mixed: list[str] = []
    repairs: list[str] = []
    for line in lines:
        match = _MIXED_TYPES.fullmatch(line)
        if match:
            types = {t.strip() for t in match.group(2).split(",")}
            if not types <= _NUMERIC_ONLY:  # int+float is widened to float losslessly
                mixed.append(match.group(1))
        elif line.startswith(_REPAIR_NOTES):
            repairs.append(line.strip())
    return _Diagnostics(tuple(mixed), tuple(repairs))


def _repair_message(repairs: tuple[str, ...]) -> str:
    shown = "; ".join(repairs[:3])
    more = f" (and {len(repairs) - 3} more)" if len(repairs) > 3 else ""
    return (
        "has values that do not match their declared XES type or are outside any trace; "
        f"refusing rather than replacing them with defaults: {shown}{more}"
    )


# --- shaping the frame --------------------------------------------------------------------


def _normalise(
    path: Path, frame: pl.DataFrame, diagnostics: _Diagnostics, *, naive_dates: bool
) -> pl.DataFrame:
    """Apply the output fixes listed in the module docstring."""
    frame = _unescape_column_names(path, frame)
    fixes = [
        pl.col(name).str.replace(r'(?s)^"(.*)"$', "${1}")
        for name in map(_unescape_xml, diagnostics.mixed_string_columns)
        if frame.schema.get(name) == pl.String
    ]
    fixes += [
        pl.col(name).dt.replace_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None and not naive_dates
    ]
    if CASE_ID in frame.columns:
        fixes.append(pl.col(CASE_ID).cast(pl.String))
    frame = frame.with_columns(fixes) if fixes else frame
    frame = frame.select(_column_order(frame.columns))
    return frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.UInt64).alias(LINE_COLUMN))


def _unescape_column_names(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    renames = {name: _unescape_xml(name) for name in frame.columns if "&" in name}
    if len(set(frame.columns) - set(renames) | set(renames.values())) < frame.width:
        raise SourceError(path, f"has attribute keys that coincide once XML-unescaped: {sorted(renames)}")
    return frame.rename(renames) if renames else frame


def _unescape_xml(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("#x"):
            return chr(int(ref[2:], 16))
        if ref.startswith("#"):
            return chr(int(ref[1:]))
        return _NAMED_REFS[ref]

    return _CHAR_REF.sub(replace, text)


def _column_order(columns: list[str]) -> list[str]:
    """Standard XES keys first, then event attributes, then trace (``case:``) attributes."""
    leading = [c for c in LEADING_COLUMNS if c in columns]
    rest = sorted(c for c in columns if c not in leading)
    trace_level = [c for c in rest if c.startswith("case:")]
    return leading + [c for c in rest if c not in trace_level] + trace_level


if __name__ == "__main__":  # the second process of `_parse_halves`
    _parse_half_main(sys.argv[1:])
    # The parent waits for this process to end, not only for its answer: ending here skips
    # the interpreter's teardown (freeing the half's frame object by object, 0.1-0.2 s at 1M
    # events), whose memory the kernel takes back at once anyway.
    sys.stdout.flush()
    os._exit(0)
