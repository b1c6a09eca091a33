"""XES and OCEL 2.0 connectors: exact rows on hand-written logs, every failure mode, real logs.

pm4py is used here only as an independent second reader (it never runs inside a connector).
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import connectors.xes as xes_module
from connectors.ocel import read_ocel
from connectors.xes import read_xes
from pipeline.errors import SourceError
from tests.xml_bombs import BILLION_LAUGHS

# --- XES: a hand-written log with exact expected rows ----------------------------------------

TINY_XES = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="trace"><string key="region" value="UNKNOWN"/></global>
  <global scope="event">
    <string key="org:resource" value="UNKNOWN"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00+01:00"/>
  </global>
  <classifier name="Activity" keys="concept:name lifecycle:transition"/>
  <string key="concept:name" value="tiny"/>
  <trace>
    <string key="concept:name" value="007"/>
    <string key="region" value="North"/>
    <int key="priority" value="3"/>
    <event>
      <string key="concept:name" value="Register"/>
      <string key="lifecycle:transition" value="start"/>
      <date key="time:timestamp" value="2024-03-01T10:00:00+02:00"/>
      <string key="org:resource" value="Ann"/>
      <int key="amount" value="12"/>
      <float key="cost" value="1.5"/>
      <boolean key="urgent" value="false"/>
    </event>
    <event>
      <string key="concept:name" value="Register"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-03-01T10:30:00.250+02:00"/>
      <string key="org:resource" value="Ann"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="2"/>
    <event>
      <string key="concept:name" value="Check &amp; file"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2024-03-01T07:00:00Z"/>
      <string key="org:group" value="Back office"/>
      <boolean key="urgent" value="true"/>
    </event>
  </trace>
</log>
"""


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def xes_body(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">{body}</log>\n'


def one_trace(events: str, case: str = "c1") -> str:
    return xes_body(f'<trace><string key="concept:name" value="{case}"/>{events}</trace>')


def test_tiny_xes_exact_rows(tmp_path):
    frame = read_xes(write_text(tmp_path / "tiny.xes", TINY_XES))
    assert frame.columns == [
        "case:concept:name",
        "concept:name",
        "time:timestamp",
        "lifecycle:transition",
        "org:resource",
        "org:group",
        "amount",
        "cost",
        "urgent",
        "case:priority",
        "case:region",
        "_line",
    ]
    assert frame.schema["time:timestamp"] == pl.Datetime("ns", "UTC")
    assert frame.schema["_line"] == pl.UInt64
    assert frame.schema["case:concept:name"] == pl.String
    assert frame.rows() == [
        ("007", "Register", utc(2024, 3, 1, 8, 0), "start", "Ann", None, 12, 1.5, False, 3, "North", 1),
        (
            "007",
            "Register",
            utc(2024, 3, 1, 8, 30, 0, 250_000),
            "complete",
            "Ann",
            None,
            None,
            None,
            None,
            3,
            "North",
            2,
        ),
        # <global> defaults are declarations, not values: missing attributes stay null.
        (
            "2",
            "Check & file",
            utc(2024, 3, 1, 7, 0),
            "complete",
            None,
            "Back office",
            None,
            None,
            True,
            None,
            None,
            3,
        ),
    ]


def test_gzipped_xes_reads_the_same(tmp_path):
    plain = read_xes(write_text(tmp_path / "tiny.xes", TINY_XES))
    packed = tmp_path / "tiny.xes.gz"
    packed.write_bytes(gzip.compress(TINY_XES.encode()))
    assert read_xes(packed).equals(plain)
    # The content decides, not the suffix: a gzipped file named .xes still reads.
    misnamed = tmp_path / "packed.xes"
    misnamed.write_bytes(packed.read_bytes())
    assert read_xes(misnamed).equals(plain)


def test_empty_event_and_trace_elements_are_kept_as_they_are(tmp_path):
    text = xes_body(
        '<trace/><trace><string key="concept:name" value="a"/><event/>'
        '<event><string key="concept:name" value="x"/></event></trace>'
    )
    frame = read_xes(write_text(tmp_path / "e.xes", text))
    rows = frame.select("case:concept:name", "concept:name", "_line").rows()
    assert rows == [("a", None, 1), ("a", "x", 2)]


def test_key_with_values_of_several_types_becomes_text_without_quotes(tmp_path):
    text = one_trace(
        '<event><string key="x" value="he said &quot;hi&quot;"/></event>'
        '<event><int key="x" value="5"/></event>'
        '<event><int key="n" value="1"/></event><event><float key="n" value="2.5"/></event>'
    )
    frame = read_xes(write_text(tmp_path / "m.xes", text))
    assert frame["x"].to_list() == ['he said "hi"', "5", None, None]
    assert frame["n"].to_list() == [None, None, 1.0, 2.5]  # int + float widen to float


def test_declared_latin1_is_transcoded(tmp_path):
    path = tmp_path / "latin.xes"
    path.write_bytes(
        one_trace("<event><string key='concept:name' value='Café'/></event>")
        .replace("UTF-8", "ISO-8859-1")
        .encode("latin-1")
    )
    assert read_xes(path)["concept:name"].to_list() == ["Café"]


def test_dates_without_offset_stay_naive_for_the_stream_time_zone(tmp_path):
    text = one_trace(
        "<event><date key='time:timestamp' value='2024-03-01T10:00:00'/></event>"
        "<event><date key='time:timestamp' value='2024-03-01T11:30:00.5'/></event>"
    )
    frame = read_xes(write_text(tmp_path / "naive.xes", text))
    assert frame.schema["time:timestamp"] == pl.Datetime("ns")
    assert frame["time:timestamp"].to_list() == [
        datetime(2024, 3, 1, 10),
        datetime(2024, 3, 1, 11, 30, 0, 500_000),
    ]


def test_dates_with_and_without_offset_are_refused(tmp_path):
    text = one_trace(
        "<event><date key='time:timestamp' value='2024-03-01T10:00:00'/></event>"
        "<event><date key='time:timestamp' value='2024-03-01T10:00:00+01:00'/></event>"
    )
    with pytest.raises(SourceError, match="with and without a UTC offset"):
        read_xes(write_text(tmp_path / "mixed.xes", text))


def test_rust_panic_text_never_reaches_the_terminal(tmp_path, capfd):
    with pytest.raises(SourceError):
        read_xes(write_text(tmp_path / "bad.xes", xes_body("<trace><string key='a' value='b'></trace>")))
    assert capfd.readouterr().err == ""


# --- XES: failure modes -----------------------------------------------------------------------


def test_entity_bomb_is_refused_before_any_parsing(tmp_path, monkeypatch):
    def parser_must_not_run(*_args, **_kwargs):
        raise AssertionError("the XES parser was reached")

    monkeypatch.setattr(xes_module.rustxes, "import_xes", parser_must_not_run)
    with pytest.raises(SourceError, match="entit.*refused for safety") as error:
        read_xes(write_text(tmp_path / "bomb.xes", BILLION_LAUGHS))
    assert "bomb.xes" in str(error.value)


def test_entity_bomb_inside_gzip_is_refused(tmp_path):
    path = tmp_path / "bomb.xes.gz"
    path.write_bytes(gzip.compress(BILLION_LAUGHS.encode()))
    with pytest.raises(SourceError, match="entit"):
        read_xes(path)


# The prolog guard used to find the root by searching for "<log" and look for <!ENTITY only
# before it: a comment or processing instruction holding "<log>" ended the prolog early, the
# DOCTYPE after it went unchecked, and the load went on with "&xxe;" as literal text. A DTD
# without any entity (an external one, or an ATTLIST that adds attribute values) was not
# looked for at all. Now the prolog is read item by item.
XXE = '<!DOCTYPE log [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n'
EXTERNAL_DTD = '<!DOCTYPE log SYSTEM "file:///etc/hostname">\n'
XXE_BODY = (
    '<log xes.version="1.0"><trace><string key="concept:name" value="c1"/><event>'
    '<string key="concept:name" value="&xxe;"/><date key="time:timestamp" value="2024-03-01T10:00:00Z"/>'
    "</event></trace></log>\n"
)
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
ENTITIES_REFUSED = "declares XML entities .*refused for safety"
DTD_REFUSED = "has a DOCTYPE with an internal subset or an external DTD .*refused for safety"
UNSAFE_PROLOGS = {
    "comment_holding_log_then_doctype": (
        DECLARATION + "<!-- from the <log> exporter -->\n" + XXE,
        ENTITIES_REFUSED,
    ),
    "comment_first_of_all": ("<!-- <log> -->" + XXE, ENTITIES_REFUSED),
    "pi_holding_log_then_doctype": (DECLARATION + "<?exporter <log> ?>\n" + XXE, ENTITIES_REFUSED),
    "bom_then_doctype": ("\ufeff" + XXE, ENTITIES_REFUSED),
    "whitespace_then_doctype": ("\n \t\n" + XXE, ENTITIES_REFUSED),
    "comment_holding_log_then_external_dtd": (DECLARATION + "<!-- <log> -->" + EXTERNAL_DTD, DTD_REFUSED),
    "bom_then_external_dtd": ("\ufeff" + EXTERNAL_DTD, DTD_REFUSED),
    "public_dtd": (DECLARATION + '<!DOCTYPE log PUBLIC "-//X//EN" "http://example.org/x.dtd">', DTD_REFUSED),
    "subset_without_entities": (DECLARATION + '<!DOCTYPE log [<!ATTLIST event a CDATA "x">]>', DTD_REFUSED),
    "lower_case_doctype": (DECLARATION + '<!doctype log SYSTEM "x.dtd">', DTD_REFUSED),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_PROLOGS))
def test_a_dtd_or_entity_anywhere_in_the_prolog_is_refused_before_any_parsing(tmp_path, monkeypatch, case):
    prolog, message = UNSAFE_PROLOGS[case]

    def parser_must_not_run(*_args, **_kwargs):
        raise AssertionError("the XES parser was reached")

    monkeypatch.setattr(xes_module.rustxes, "import_xes", parser_must_not_run)
    path = tmp_path / "unsafe.xes"
    path.write_bytes((prolog + XXE_BODY).encode("utf-8"))
    with pytest.raises(SourceError, match=message) as error:
        read_xes(path)
    assert str(error.value).startswith(str(path)) and len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize("pack", ["gz", "zst", "zip"])
def test_the_guard_reads_the_decompressed_text_of_a_packed_xes(tmp_path, pack):
    from backports import zstd

    from connectors.registry import read_source

    text = (UNSAFE_PROLOGS["comment_holding_log_then_doctype"][0] + XXE_BODY).encode()
    path = tmp_path / f"unsafe.xes.{pack}"
    if pack == "gz":
        path.write_bytes(gzip.compress(text))
    elif pack == "zst":
        path.write_bytes(zstd.compress(text))
    else:
        import zipfile

        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export/unsafe.xes", text)
    with pytest.raises(SourceError, match=ENTITIES_REFUSED):
        read_source(path)


AFTER_THE_ROOT = {
    # no DTD at all: rustxes kept the value raw, "&xxe;" (and an "&amp;" beside it) as written
    "undeclared_entity_in_an_event": (XXE_BODY, "uses the entity reference '&xxe;'"),
    "undeclared_entity_at_log_level": (
        xes_body('<string key="source" value="&secret;"/>' + XXE_BODY[XXE_BODY.index("<trace>") : -7]),
        "uses the entity reference '&secret;'",
    ),
    "doctype_inside_the_log": (
        xes_body('<!DOCTYPE log SYSTEM "x.dtd"><trace><string key="concept:name" value="c1"/></trace>'),
        "has a <!DOCTYPE declaration inside the <log> element",
    ),
    "doctype_among_the_traces": (
        one_trace('<event><string key="concept:name" value="a"/></event><!DOCTYPE log SYSTEM "x.dtd">'),
        "has a <!DOCTYPE declaration inside the <log> element",
    ),
}


@pytest.mark.parametrize("case", sorted(AFTER_THE_ROOT))
def test_a_declaration_or_undeclared_entity_inside_the_log_is_refused(tmp_path, case):
    text, message = AFTER_THE_ROOT[case]
    path = write_text(tmp_path / "unsafe.xes", text)
    with pytest.raises(SourceError, match=re.escape(message)):
        read_xes(path)


def test_a_plain_doctype_comments_and_xml_escapes_still_load(tmp_path):
    # comments and a processing instruction holding "<log>", and a DOCTYPE naming the root
    # only: all allowed. The value reads "A & B <A>" (&#65; is the character A).
    text = (
        DECLARATION
        + "<!-- from the <log> exporter -->\n<?exporter <log> ?>\n<!DOCTYPE log>\n"
        + XXE_BODY.replace("&xxe;", "A &amp; B &lt;&#65;&gt;")
    )
    frame = read_xes(write_text(tmp_path / "fine.xes", text))
    assert frame["concept:name"].to_list() == ["A & B <A>"]


def test_truncated_gzip_says_truncated(tmp_path):
    whole = gzip.compress(TINY_XES.encode())
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="truncated"):
        read_xes(path)


def test_gzip_with_bad_checksum_says_corrupt(tmp_path):
    whole = bytearray(gzip.compress(TINY_XES.encode()))
    whole[-6] ^= 0xFF  # flip a byte of the CRC32 trailer
    path = tmp_path / "crc.xes.gz"
    path.write_bytes(bytes(whole))
    with pytest.raises(SourceError, match="corrupt"):
        read_xes(path)


XES_FAILURES = {
    "empty": (b"", "is empty"),
    "blank": (b"  \n\n", "is empty"),
    "binary": (bytes(range(256)) * 20, "not XML"),
    "not_xes_xml": (b'<?xml version="1.0"?><catalog><book/></catalog>', "no <log> root"),
    "malformed": (xes_body("<trace><string key='a' value='b'></trace>").encode(), "not well-formed XML"),
    "cut_between_elements": (
        xes_body("<trace><string key='concept:name' value='a'/><event/></trace>").encode()[:-7],
        "truncated",
    ),
    "trailing_junk": (xes_body("").encode() + b"<junk/>", "truncated|trailing"),
    "no_traces": (xes_body('<string key="concept:name" value="x"/>').encode(), "contains no events"),
    "traces_without_events": (
        xes_body("<trace><string key='concept:name' value='a'/></trace>").encode(),
        "contains no events",
    ),
    "bad_int": (one_trace("<event><int key='n' value='abc'/></event>").encode(), "declared XES type"),
    "bad_date": (
        one_trace("<event><date key='time:timestamp' value='yesterday'/></event>").encode(),
        "declared XES type",
    ),
    "bad_boolean": (
        one_trace("<event><boolean key='b' value='maybe'/></event>").encode(),
        "declared XES type",
    ),
    "event_outside_trace": (
        xes_body(
            "<event><string key='concept:name' value='x'/></event>"
            "<trace><string key='concept:name' value='a'/><event/></trace>"
        ).encode(),
        "outside any trace",
    ),
    "date_out_of_range": (
        one_trace("<event><date key='time:timestamp' value='3000-01-01T00:00:00Z'/></event>").encode(),
        "1677-2262",
    ),
    "invalid_utf8": (
        one_trace("<event><string key='concept:name' value='Caf\udce9'/></event>").encode(
            "utf-8", "surrogateescape"
        ),
        "not valid utf-8",
    ),
}


@pytest.mark.parametrize("case", sorted(XES_FAILURES))
def test_xes_failure_modes_raise_source_error(tmp_path, case):
    content, message = XES_FAILURES[case]
    path = tmp_path / f"{case}.xes"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as error:
        read_xes(path)
    assert str(error.value).startswith(str(path))


def test_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot be opened"):
        read_xes(tmp_path / "absent.xes")


# --- XES: a large copy is parsed in two halves at once ------------------------------------------


def many_traces(n: int, second_half_extra: str = "", first_half_amount: str = "int") -> str:
    """n traces of two events; the first half's `amount` has type `first_half_amount`, the
    second half's events also carry `second_half_extra` (an attribute the first half lacks)."""
    traces = []
    for i in range(n):
        late = i >= n // 2
        amount = "float" if late else first_half_amount
        value = f"{i}.5" if amount == "float" else (f"x{i}" if amount == "string" else str(i))
        extra = second_half_extra if late else ""
        traces.append(
            f'<trace><string key="concept:name" value="c{i}"/><int key="size" value="{i % 7}"/>'
            f'<event><string key="concept:name" value="A"/><date key="time:timestamp" '
            f'value="2024-03-01T10:{i % 60:02d}:00+02:00"/>'
            f'<{amount} key="amount" value="{value}"/>{extra}</event>'
            f'<event><string key="concept:name" value="B"/><date key="time:timestamp" '
            f'value="2024-03-02T10:{i % 60:02d}:00Z"/><string key="org:resource" value="r{i % 3}"/></event>'
            "</trace>"
        )
    head = '<global scope="event"><string key="org:resource" value="UNKNOWN"/></global>'
    return xes_body(head + '<string key="concept:name" value="log"/>' + "".join(traces))


@pytest.fixture
def halves(monkeypatch):
    """read_xes(path) -> (frame, parsed in halves?), once split at any size, once whole."""
    import connectors.xes as xes

    calls = []
    original = xes._parse_halves

    def spy(*args):
        result = original(*args)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(xes, "_parse_halves", spy)

    def read(path: Path, split: bool) -> tuple[pl.DataFrame, bool]:
        calls.clear()
        monkeypatch.setattr(xes, "SPLIT_MIN_BYTES", 0 if split else 1 << 60)
        return read_xes(path), calls == [True]

    return read


@pytest.mark.parametrize(
    ("extra", "first_amount", "in_halves"),
    [
        ('<boolean key="late" value="true"/>', "int", True),  # int + float amount: Float64
        ("", "float", True),
        ("", "string", False),  # amount text in one half, number in the other: parsed whole
    ],
    ids=["extra_key_and_int_float", "same_types", "types_disagree"],
)
def test_xes_parsed_in_halves_equals_one_parse(tmp_path, halves, extra, first_amount, in_halves):
    path = write_text(tmp_path / "many.xes", many_traces(40, extra, first_amount))
    whole, split_used = halves(path, split=False)
    assert not split_used
    frame, split_used = halves(path, split=True)
    assert split_used == in_halves
    assert frame.equals(whole)
    assert frame.height == 80 and frame["_line"].to_list() == list(range(1, 81))
    assert frame["case:concept:name"].to_list()[::2] == [f"c{i}" for i in range(40)]
    if first_amount == "int":
        assert frame.schema["amount"] == pl.Float64 and frame["amount"][0] == 0.0
        assert frame["late"].to_list() == [None] * 40 + [True, None] * 20


def test_plain_xes_is_cut_before_its_copy_is_made_and_gzip_after(tmp_path, halves, monkeypatch):
    """A plain UTF-8 file is cut before any clean copy (each process cleans its half); a
    gzipped one is copied whole first, then cut. Both equal one parse."""
    import gzip

    import connectors.xes as xes

    copies = []
    original = xes._write_clean_copy
    monkeypatch.setattr(xes, "_write_clean_copy", lambda *a: copies.append(a) or original(*a))
    text = many_traces(40)
    plain = write_text(tmp_path / "plain.xes", text)
    zipped = tmp_path / "zipped.xes.gz"
    zipped.write_bytes(gzip.compress(text.encode("utf-8")))
    whole, _ = halves(plain, split=False)
    copies.clear()
    frame, split_used = halves(plain, split=True)
    assert split_used and copies == [] and frame.equals(whole)
    frame, split_used = halves(zipped, split=True)
    assert split_used and len(copies) == 1 and frame.equals(whole)


def test_xes_bad_value_in_the_second_half_is_reported_as_by_one_parse(tmp_path, halves):
    late = '<string key="concept:name" value="c31"/><int key="size" value="3"/>'  # trace 31 of 40
    text = many_traces(40).replace(late, late.replace('value="3"', 'value="three"'))
    assert text.count('value="three"') == 1
    path = write_text(tmp_path / "bad.xes", text)
    with pytest.raises(SourceError) as whole:
        halves(path, split=False)
    with pytest.raises(SourceError) as split:
        halves(path, split=True)
    assert "declared XES type" in str(split.value) and str(split.value) == str(whole.value)


def test_xes_with_a_comment_among_the_traces_is_not_cut(tmp_path, halves):
    # a comment could hold the text "<trace": the copy is parsed whole
    text = many_traces(40).replace("<trace>", "<!-- <trace> --><trace>", 1)
    path = write_text(tmp_path / "commented.xes", text)
    frame, split_used = halves(path, split=True)
    assert not split_used
    assert frame.equals(halves(path, split=False)[0])


# What a half may hold that its quick look (polars, `_scan_traces`) must see as the cleaning
# pass does, put in trace 5 (the first half) or trace 35 (the second): read in halves, the log
# gives the frame of one parse, or the same error.
HALF_CHANGES = {
    "empty_event": b"<event/>",
    "empty_event_with_space": b"<event \n/>",
    "escaped_ampersand": b'<string key="note" value="a &amp; b"/>',
    "non_ascii": '<string key="note" value="caf\u00e9 \u2013 \U0001f600"/>'.encode(),
    "comment": b"<!-- a <trace> -->",
    "date_without_offset": (
        b'<event><string key="concept:name" value="N"/>'
        b'<date key="time:timestamp" value="2024-03-01T10:00:00"/></event>'
    ),
    "not_utf8": b'<string key="note" value="caf\xe9"/>',
    "undeclared_entity": b'<string key="note" value="&nbsp;"/>',
}


@pytest.mark.parametrize("trace", [5, 35], ids=["first_half", "second_half"])
@pytest.mark.parametrize("change", sorted(HALF_CHANGES))
def test_xes_half_with_unusual_content_reads_as_one_parse(tmp_path, halves, change, trace):
    text = many_traces(40).encode()
    tag = f'<string key="concept:name" value="c{trace}"/>'.encode()
    assert text.count(tag) == 1
    path = tmp_path / "unusual.xes"
    path.write_bytes(text.replace(tag, tag + HALF_CHANGES[change]))
    try:
        whole, _ = halves(path, split=False)
    except SourceError as error:
        with pytest.raises(SourceError) as split:
            halves(path, split=True)
        assert str(split.value) == str(error)
        assert change in {"date_without_offset", "not_utf8", "undeclared_entity"}
        return
    frame, split_used = halves(path, split=True)
    assert frame.equals(whole)
    assert split_used == (change != "comment")


@pytest.mark.parametrize("end", [b"</trace>", b"</trace></log>\n<trace>"], ids=["cut_off", "trailing_data"])
def test_xes_truncated_second_half_is_reported_as_by_one_parse(tmp_path, halves, end):
    text = many_traces(40).encode()
    path = tmp_path / "truncated.xes"
    path.write_bytes(text[: text.rindex(b"</trace>")] + end)
    with pytest.raises(SourceError, match="does not end with </log>") as whole:
        halves(path, split=False)
    with pytest.raises(SourceError) as split:
        halves(path, split=True)
    assert str(split.value) == str(whole.value)


def test_xes_halves_are_copied_without_copy_file_range(tmp_path, halves, monkeypatch):
    """Where the kernel cannot copy between the two files (another file system, an old
    kernel), the traces are copied by reading and writing them."""
    import os

    def cannot(*_args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", cannot)  # in this process: the first half
    path = write_text(tmp_path / "many.xes", many_traces(40))
    frame, split_used = halves(path, split=True)
    assert split_used and frame.equals(halves(path, split=False)[0])


def test_real_xes_parsed_in_halves_equals_one_parse(real_logs, halves):
    frame, split_used = halves(real_logs / "bpic2012.xes.gz", split=True)
    assert split_used
    assert frame.equals(halves(real_logs / "bpic2012.xes.gz", split=False)[0])


# --- XES: real public logs --------------------------------------------------------------------

REAL_XES = [
    ("bpic2013_incidents.xes.gz", 7_554, 65_533),
    ("bpic2012.xes.gz", 13_087, 262_200),
    ("road_traffic_fines.xes.gz", 150_370, 561_470),
    ("helpdesk.xes.gz", 4_580, 21_348),
    ("receipt.xes.gz", 1_434, 8_577),
]


@pytest.mark.parametrize(("file", "cases", "events"), REAL_XES, ids=[r[0].split(".")[0] for r in REAL_XES])
def test_real_xes_counts(real_logs, file, cases, events):
    frame = read_xes(real_logs / file)
    assert frame.height == events
    assert frame["case:concept:name"].n_unique() == cases
    assert frame["_line"].to_list() == list(range(1, events + 1))
    assert frame["time:timestamp"].null_count() == 0
    assert frame.schema["time:timestamp"] == pl.Datetime("ns", "UTC")


def test_real_xes_matches_pm4py_iterparse(real_logs):
    """receipt declares <global> defaults for most keys: a reader applying them would differ."""
    pm4py = pytest.importorskip("pm4py")
    ours = read_xes(real_logs / "receipt.xes.gz")
    theirs = pl.from_pandas(pm4py.read_xes(str(real_logs / "receipt.xes.gz"), variant="iterparse"))
    assert set(ours.columns) - {"_line"} == set(theirs.columns)
    for column in theirs.columns:
        expected = theirs[column]
        if isinstance(expected.dtype, pl.Datetime):
            expected = expected.dt.convert_time_zone("UTC").cast(ours.schema[column])
        assert ours[column].to_list() == expected.to_list(), column


# --- OCEL 2.0: round trip through pm4py's writers ---------------------------------------------

OCEL_EVENTS = [  # id, type, time, price, clerk; e5 is last in the file but earliest in time
    ("e1", "Create Order", "2024-01-01T10:00:00", 10.5, "Ann"),
    ("e2", "Pick Item", "2024-01-01T11:00:00", None, None),
    ("e3", "Pick Item", "2024-01-01T11:30:00", None, None),
    ("e4", "Ship", "2024-01-02T09:00:00", None, "Bob"),
    ("e5", "Create Order", "2024-01-01T09:00:00", 3.0, "Ann"),
]
OCEL_OBJECTS = {"o1": "Order", "o2": "Order", "i1": "Item", "i2": "Item", "i3": "Item"}
OCEL_LINKS = [
    ("e1", "o1"),
    ("e1", "i1"),
    ("e1", "i2"),
    ("e2", "i1"),
    ("e2", "o1"),
    ("e3", "i2"),
    ("e4", "o1"),
    ("e4", "i1"),
    ("e4", "i2"),
    ("e5", "o2"),
    ("e5", "i3"),
]
EXPECTED_ITEM_ROWS = [  # case, activity, time, eid, clerk, price, _line
    ("i1", "Create Order", utc(2024, 1, 1, 10), "e1", "Ann", 10.5, 1),
    ("i2", "Create Order", utc(2024, 1, 1, 10), "e1", "Ann", 10.5, 1),
    ("i1", "Pick Item", utc(2024, 1, 1, 11), "e2", None, None, 2),
    ("i2", "Pick Item", utc(2024, 1, 1, 11, 30), "e3", None, None, 3),
    ("i1", "Ship", utc(2024, 1, 2, 9), "e4", "Bob", None, 4),
    ("i2", "Ship", utc(2024, 1, 2, 9), "e4", "Bob", None, 4),
    ("i3", "Create Order", utc(2024, 1, 1, 9), "e5", "Ann", 3.0, 5),
]


def build_pm4py_ocel():
    pd = pytest.importorskip("pandas")
    obj = pytest.importorskip("pm4py.objects.ocel.obj")
    by_id = {e[0]: e for e in OCEL_EVENTS}
    events = pd.DataFrame(
        {
            "ocel:eid": [e[0] for e in OCEL_EVENTS],
            "ocel:activity": [e[1] for e in OCEL_EVENTS],
            "ocel:timestamp": [pd.Timestamp(e[2], tz="UTC") for e in OCEL_EVENTS],
            "price": [e[3] for e in OCEL_EVENTS],
            "clerk": [e[4] for e in OCEL_EVENTS],
        }
    )
    objects = pd.DataFrame({"ocel:oid": list(OCEL_OBJECTS), "ocel:type": list(OCEL_OBJECTS.values())})
    relations = pd.DataFrame(
        [
            {
                "ocel:eid": eid,
                "ocel:activity": by_id[eid][1],
                "ocel:timestamp": pd.Timestamp(by_id[eid][2], tz="UTC"),
                "ocel:oid": oid,
                "ocel:type": OCEL_OBJECTS[oid],
                "ocel:qualifier": "q",
            }
            for eid, oid in OCEL_LINKS
        ]
    )
    return obj.OCEL(events=events, objects=objects, relations=relations)


@pytest.fixture(scope="module")
def ocel_files(tmp_path_factory):
    """The same small OCEL written by pm4py as JSON, XML and SQLite."""
    pm4py = pytest.importorskip("pm4py")
    ocel = build_pm4py_ocel()
    folder = tmp_path_factory.mktemp("ocel")
    files = {"json": folder / "log.jsonocel", "xml": folder / "log.xmlocel", "sqlite": folder / "log.sqlite"}
    pm4py.write_ocel2_json(ocel, str(files["json"]))
    pm4py.write_ocel2_xml(ocel, str(files["xml"]))
    pm4py.write_ocel2_sqlite(ocel, str(files["sqlite"]))
    return ocel, files


@pytest.mark.parametrize("fmt", ["json", "xml", "sqlite"])
def test_ocel_round_trip_exact_rows(ocel_files, fmt):
    frame = read_ocel(ocel_files[1][fmt], "Item")
    assert frame.columns == [
        "case:concept:name",
        "concept:name",
        "time:timestamp",
        "ocel:eid",
        "clerk",
        "price",
        "_line",
    ]
    assert frame.schema["time:timestamp"] == pl.Datetime("us", "UTC")
    assert frame.schema["_line"] == pl.UInt64
    assert frame.rows() == EXPECTED_ITEM_ROWS


@pytest.mark.parametrize("fmt", ["json", "xml", "sqlite"])
@pytest.mark.parametrize("object_type", ["Item", "Order"])
def test_ocel_flattening_matches_pm4py(ocel_files, fmt, object_type):
    pm4py = pytest.importorskip("pm4py")
    ocel, files = ocel_files
    ours = read_ocel(files[fmt], object_type)
    theirs = pm4py.ocel_flattening(ocel, object_type)
    key = ["case:concept:name", "concept:name", "ocel:eid"]
    assert ours.height == len(theirs)
    assert sorted(ours.select(key).rows()) == sorted(map(tuple, theirs[key].astype(str).values.tolist()))


@pytest.mark.parametrize("fmt", ["json", "xml", "sqlite"])
def test_ocel_unknown_object_type_lists_the_types_present(ocel_files, fmt):
    with pytest.raises(SourceError, match="no object type 'Customer'; object types present: 'Item', 'Order'"):
        read_ocel(ocel_files[1][fmt], "Customer")


# --- OCEL 2.0: hand-written files, typing and failure modes -----------------------------------

OCEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<log>
  <object-types><object-type name="Case"><attributes/></object-type>
                <object-type name="Unused"><attributes/></object-type></object-types>
  <event-types>
    <event-type name="Do">
      <attributes>
        <attribute name="n" type="integer"/><attribute name="ok" type="boolean"/>
        <attribute name="due" type="time"/><attribute name="note" type="string"/>
      </attributes>
    </event-type>
  </event-types>
  <objects><object id="c1" type="Case"><attributes/></object></objects>
  <events>
    <event id="a" type="Do" time="2024-05-01T12:00:00+02:00">
      <attributes>
        <attribute name="n">7</attribute><attribute name="ok">true</attribute>
        <attribute name="due">2024-05-02T00:00:00Z</attribute><attribute name="note">x &amp; y</attribute>
      </attributes>
      <objects>
        <relationship object-id="c1" qualifier="first"/><relationship object-id="c1" qualifier="again"/>
      </objects>
    </event>
  </events>
</log>
"""


def test_ocel_xml_values_follow_declared_types(tmp_path):
    frame = read_ocel(write_text(tmp_path / "t.xmlocel", OCEL_XML), "Case")
    # The same (event, object) pair with two qualifiers is one row.
    assert frame.rows() == [("c1", "Do", utc(2024, 5, 1, 10), "a", utc(2024, 5, 2), 7, "x & y", True, 1)]


def test_ocel_object_type_without_events_is_refused(tmp_path):
    with pytest.raises(SourceError, match="no events related to objects of type 'Unused'"):
        read_ocel(write_text(tmp_path / "t.xmlocel", OCEL_XML), "Unused")


def ocel_json(**overrides) -> str:
    data = {
        "objectTypes": [{"name": "Case", "attributes": []}],
        "eventTypes": [{"name": "Do", "attributes": [{"name": "n", "type": "integer"}]}],
        "objects": [{"id": "c1", "type": "Case"}],
        "events": [
            {
                "id": "a",
                "type": "Do",
                "time": "2024-05-01T12:00:00Z",
                "attributes": [{"name": "n", "value": 1}],
                "relationships": [{"objectId": "c1", "qualifier": ""}],
            }
        ],
    }
    data.update(overrides)
    return json.dumps(data)


def test_ocel_times_without_offset_stay_naive(tmp_path):
    events = [
        {
            "id": "a",
            "type": "Do",
            "time": "2024-05-01T12:00:00",
            "relationships": [{"objectId": "c1", "qualifier": ""}],
        }
    ]
    frame = read_ocel(write_text(tmp_path / "naive.jsonocel", ocel_json(events=events)), "Case")
    assert frame.schema["time:timestamp"] == pl.Datetime("us")
    assert frame["time:timestamp"].to_list() == [datetime(2024, 5, 1, 12)]


def test_ocel_times_with_and_without_offset_are_refused(tmp_path):
    events = [
        {"id": eid, "type": "Do", "time": time, "relationships": [{"objectId": "c1", "qualifier": ""}]}
        for eid, time in (("a", "2024-05-01T12:00:00"), ("b", "2024-05-01T12:00:00+02:00"))
    ]
    with pytest.raises(SourceError, match="with and without a UTC offset"):
        read_ocel(write_text(tmp_path / "mixed.jsonocel", ocel_json(events=events)), "Case")


def make_sqlite_without_ocel_tables(path: Path) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    return path.read_bytes()


OCEL_FAILURES = {
    "empty.jsonocel": (b"", "is empty"),
    "binary.jsonocel": (bytes(range(1, 256)) * 4, "not an OCEL 2.0 log"),
    "truncated.jsonocel": (ocel_json().encode()[:-40], "truncated"),
    "list.json": (b"[1, 2]", "not an OCEL 2.0 log"),
    "ocel1.jsonocel": (b'{"ocel:global-log": {}, "ocel:events": {}, "ocel:objects": {}}', "OCEL 1.0"),
    "no_time.jsonocel": (ocel_json(events=[{"id": "a", "type": "Do"}]).encode(), "no timestamp"),
    "bad_time.jsonocel": (
        ocel_json(events=[{"id": "a", "type": "Do", "time": "soon"}]).encode(),
        "unreadable timestamp",
    ),
    "bad_int.jsonocel": (
        ocel_json(
            events=[
                {
                    "id": "a",
                    "type": "Do",
                    "time": "2024-05-01T12:00:00Z",
                    "attributes": [{"name": "n", "value": "many"}],
                }
            ]
        ).encode(),
        "not a valid integer",
    ),
    "no_events.jsonocel": (ocel_json(events=[]).encode(), "contains no events"),
    "malformed.xmlocel": (OCEL_XML.replace("</events>", "").encode(), "not well-formed XML"),
    "truncated.xmlocel": (OCEL_XML.encode()[:-30], "truncated"),
    "bomb.xmlocel": (BILLION_LAUGHS.encode(), "refused for safety"),
    "comment_then_entities.xmlocel": (
        OCEL_XML.replace("<log>", "<!-- <log> -->" + XXE + "<log>", 1).encode(),
        "entities .*refused for safety",
    ),
    "external_dtd.xmlocel": (
        OCEL_XML.replace("<log>", "<?x <log> ?>" + EXTERNAL_DTD + "<log>", 1).encode(),
        "external DTD .*refused for safety",
    ),
    "rootless.xmlocel": (b"<?xml version='1.0'?><other/>", "no <log> root"),
}


@pytest.mark.parametrize("name", sorted(OCEL_FAILURES))
def test_ocel_failure_modes_raise_source_error(tmp_path, name):
    content, message = OCEL_FAILURES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        read_ocel(path, "Case")


def test_ocel_sqlite_without_ocel_tables_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    make_sqlite_without_ocel_tables(path)
    with pytest.raises(SourceError, match="missing tables: event, object, event_object, event_map_type"):
        read_ocel(path, "Case")


def test_ocel_truncated_sqlite_is_refused(ocel_files, tmp_path):
    whole = ocel_files[1]["sqlite"].read_bytes()
    path = tmp_path / "cut.sqlite"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(SourceError, match="SQLite"):
        read_ocel(path, "Item")
