"""Decide how a timestamp column is read, from its type and its values.

Supported: native datetimes (XES, Parquet), ISO 8601 with or without offsets (mixed is
fine), day-first and month-first numeric dates (`31/12/2016 23:59`, as ServiceNow and
Excel write them), `YYYY/MM/DD`, epoch seconds and milliseconds, and any strftime format
given by the user. Day/month order is decided from the whole column (a first field over
12 means day-first, a second field over 12 means month-first) or refused with a message
asking for `--timestamp-format`.

The plan yields a DuckDB SQL expression over one column. The load runs with the session
TimeZone set to the stream's timezone, so naive values are read in it and offsets are
honoured; the result is TIMESTAMPTZ (stored, like all instants, as UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipeline.errors import TimestampFormatError
from pipeline.store import sql_literal

# An offset follows a time, never a date alone: '2026-01-02' is a date read in the stream's
# timezone, its '-02' the day (DuckDB reads no offset after a date alone, '2026-01-02Z' and
# '2026-01-02+02:00' are no timestamps to it).
ISO = (
    r"^\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"  # date, optional time
    r"(?:\s*(?:Z|z|UTC|[+-]\d{2}(?::?\d{2})?))?)?$"  # optional offset after the time
)
OFFSET = r":\d{2}(?:[.,]\d+)?\s*(?:Z|z|UTC|[+-]\d{2}(?::?\d{2})?)$"  # the time's minutes or seconds, then it
NUMERIC_DATE = r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4})(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
YMD_SLASH = r"^\d{4}/\d{1,2}/\d{1,2}(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
EPOCH = r"^\d{9,13}(?:\.\d+)?$"
# ISO and OFFSET on a value as written: white space at either end (what strip_chars() takes,
# Unicode White_Space, as the patterns' \s) changes no answer, since neither match begins or
# ends with white space.
ISO_PADDED = r"^\s*" + ISO.removeprefix("^").removesuffix("$") + r"\s*$"
OFFSET_PADDED = OFFSET.removesuffix("$") + r"\s*$"
SAMPLE = 20_000

# Epoch magnitude ranges: 1973..2286 in seconds, the same span in milliseconds.
EPOCH_S = (1e8, 1e10)
EPOCH_MS = (1e11, 1e13)


@dataclass(frozen=True)
class TimestampPlan:
    kind: str  # native | iso | strptime | epoch_s | epoch_ms
    description: str  # what is expected, for messages ("ISO 8601", "day-first dd/mm/yyyy HH:MM[:SS]")
    formats: tuple[str, ...] = ()
    naive_values: int = 0  # values read in the stream's timezone (no offset in the source)
    column: str = ""

    def naive_in(self, values: pl.Series) -> int:
        """How many of `values` this plan reads without an offset (in the stream's timezone):
        what `naive_values` counts, for another part of the same column (a batch)."""
        if self.kind == "native":
            return len(values) - values.null_count() if naive_type(values.dtype) else 0
        if self.kind in ("epoch_s", "epoch_ms"):
            return 0
        text = values.cast(pl.String)
        if self.kind == "iso":
            return _iso_naive(text)
        if any("%z" in f or "%Z" in f for f in self.formats):
            return 0
        return len(_present(text.str.strip_chars()))

    def sql(self, ref: str) -> str:
        """DuckDB expression turning column `ref` (a fixed internal name) into TIMESTAMPTZ."""
        if self.kind == "native":
            return f"CAST({ref} AS TIMESTAMPTZ)"
        if self.kind == "iso":
            # a decimal comma ('08:04:09,123') read as a point; only a value holding one is
            # rewritten (a copy of every value cost 30 ns each: 10M events, 0.3 CPU-seconds)
            text = f"CAST({ref} AS VARCHAR)"
            point = f"CASE WHEN contains({text}, ',') THEN REPLACE({text}, ',', '.') ELSE {text} END"
            return f"TRY_CAST({point} AS TIMESTAMPTZ)"
        if self.kind == "strptime":
            fmts = ", ".join(sql_literal(f) for f in self.formats)
            return f"CAST(TRY_STRPTIME(CAST({ref} AS VARCHAR), [{fmts}]) AS TIMESTAMPTZ)"
        scale = "1000.0" if self.kind == "epoch_ms" else "1.0"
        return f"TO_TIMESTAMP(TRY_CAST({ref} AS DOUBLE) / {scale})"


def naive_type(dtype: pl.DataType) -> bool:
    """Whether a typed column (a 'native' plan's) holds instants without an offset, read in
    the stream's timezone: any but a datetime with a time zone (a date never has one)."""
    return not getattr(dtype, "time_zone", None)


def _time_formats(date_part: str, sep: str, first: str) -> tuple[str, ...]:
    """The formats a date with `date_part` may be written in, the one `first` (a value of the
    column) is written in first. DuckDB tries a list of formats in order, and a value fits at
    most one of these (they differ in what follows the date and DuckDB reads a value to its
    end), so the order changes no result, only how many formats are tried: in the written
    order, every value without a fraction of a second failed the first one (1M day-first
    timestamps: 0.5 of the load's 2.2 CPU-seconds)."""
    d = date_part.replace("/", sep)
    formats = (f"{d} %H:%M:%S.%f", f"{d} %H:%M:%S", f"{d} %H:%M", f"{d}T%H:%M:%S", f"{d}T%H:%M", d)
    for i, fmt in enumerate(formats):
        try:
            datetime.strptime(first, fmt)
        except ValueError:
            continue
        return (fmt, *formats[:i], *formats[i + 1 :])
    return formats


def plan_timestamps(
    values: pl.Series, *, column: str, user_format: str = "", count_naive: bool = True
) -> TimestampPlan:
    """Choose how to read `values` (the whole column). Raises TimestampFormatError when unsure.
    `count_naive=False`: an ISO column's values without an offset are not counted (naive_values
    0), for a caller that only asks whether the column reads as times (detection): the count
    is a scan of every value (10M values: 0.25 s), and the load counts them anyway."""
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        naive = len(values) - values.null_count() if naive_type(dtype) else 0
        return TimestampPlan("native", "a datetime", naive_values=naive, column=column)
    if isinstance(dtype, pl.Date):
        return TimestampPlan(
            "native", "a date", naive_values=len(values) - values.null_count(), column=column
        )
    if user_format:
        naive = 0 if "%z" in user_format or "%Z" in user_format else len(values) - values.null_count()
        return TimestampPlan("strptime", f"format {user_format!r}", (user_format,), naive, column)
    if dtype.is_numeric():
        return _plan_epoch(values.cast(pl.Float64), column)
    if dtype != pl.String:
        values = values.cast(pl.String)
    return _plan_strings(values, column, count_naive)


def _plan_epoch(numbers: pl.Series, column: str) -> TimestampPlan:
    median = numbers.drop_nulls().median()
    if median is None:
        raise TimestampFormatError(f"timestamp column {column!r} has no values")
    if EPOCH_S[0] <= median < EPOCH_S[1]:
        return TimestampPlan("epoch_s", "epoch seconds", column=column)
    if EPOCH_MS[0] <= median < EPOCH_MS[1]:
        return TimestampPlan("epoch_ms", "epoch milliseconds", column=column)
    raise TimestampFormatError(
        f"timestamp column {column!r} holds numbers (median {median:g}) that are neither epoch seconds "
        "nor epoch milliseconds (Excel serial dates?); give --timestamp-format or convert the column"
    )


def _present(text: pl.Series) -> pl.Series:
    """The values given: neither null nor blank (`text` comes stripped)."""
    return text.filter(text.is_not_null() & (text != ""))


def _iso_naive(text: pl.Series) -> int:
    """ISO values with no offset, read in the stream's timezone (unreadable ones are rejects).
    `text` as written, not stripped: the patterns take white space at either end, so they
    judge a value as they judge it stripped (a stripped copy of every value cost more than
    both tests: 10M values, 0.33 of 0.6 CPU-seconds)."""
    no_offset = text.filter(~text.str.contains(OFFSET_PADDED))  # most have one: ISO-test only the rest
    return int(no_offset.str.contains(ISO_PADDED).sum())


def _given_values(text: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """(sample, present): the first SAMPLE given values of `text`, stripped, and all of them
    when that took stripping every value (None when the first SAMPLE rows held the sample)."""
    head = _present(text.head(SAMPLE).str.strip_chars())
    if len(head) == SAMPLE or len(text) <= SAMPLE:
        return head, head if len(text) <= SAMPLE else None
    present = _present(text.str.strip_chars())  # blanks among the first rows
    return present.head(SAMPLE), present


def _plan_strings(text: pl.Series, column: str, count_naive: bool = True) -> TimestampPlan:
    """The plan for text as written. The kind is judged on the first SAMPLE given values; an
    ISO column is then counted as written (_iso_naive), and only the other kinds, which look at
    every value, strip them all (10M ISO values: a stripped copy of the column cost 0.33 of
    the plan's 0.6 CPU-seconds)."""
    sample, present = _given_values(text)
    if sample.is_empty():
        raise TimestampFormatError(f"timestamp column {column!r} is empty")
    counts = {
        "iso": int(sample.str.contains(ISO).sum()),
        "numeric": int(sample.str.contains(NUMERIC_DATE).sum()),
        "ymd_slash": int(sample.str.contains(YMD_SLASH).sum()),
        "epoch": int(sample.str.contains(EPOCH).sum()),
    }
    kind, hits = max(counts.items(), key=lambda kv: kv[1])
    if hits == 0:
        raise TimestampFormatError(
            f"timestamp column {column!r}: values such as {sample[0]!r} are in no known format "
            "(ISO 8601, dd/mm/yyyy, mm/dd/yyyy, yyyy/mm/dd, epoch); give --timestamp-format, "
            "e.g. --timestamp-format '%d.%m.%Y %H:%M'"
        )
    if kind == "iso":
        return TimestampPlan(
            "iso",
            "ISO 8601 (yyyy-mm-dd[THH:MM[:SS[.fff]]][offset])",
            naive_values=_iso_naive(text) if count_naive else 0,
            column=column,
        )
    if present is None:
        present = _present(text.str.strip_chars())
    if kind == "ymd_slash":
        return TimestampPlan(
            "strptime",
            "yyyy/mm/dd[ HH:MM[:SS]]",
            _time_formats("%Y/%m/%d", "/", present[0]),
            len(present),
            column,
        )
    if kind == "epoch":
        return _plan_epoch(present.filter(present.str.contains(EPOCH)).cast(pl.Float64), column)
    return _plan_day_month(present, column)


def _plan_day_month(present: pl.Series, column: str) -> TimestampPlan:
    parts = present.str.extract_groups(NUMERIC_DATE).struct.unnest()
    first = parts["1"].cast(pl.Int32, strict=False)
    second = parts["3"].cast(pl.Int32, strict=False)
    sep = parts["2"].drop_nulls().mode().sort()[0]
    day_first = present.filter(first > 12)
    month_first = present.filter(second > 12)
    if len(day_first) and len(month_first):
        raise TimestampFormatError(
            f"timestamp column {column!r} mixes day-first ({day_first[0]!r}) and month-first "
            f"({month_first[0]!r}) dates; give --timestamp-format, e.g. '%d/%m/%Y %H:%M:%S'"
        )
    if len(day_first):
        return TimestampPlan(
            "strptime",
            f"day-first dd{sep}mm{sep}yyyy[ HH:MM[:SS]]",
            _time_formats("%d/%m/%Y", sep, present[0]),
            len(present),
            column,
        )
    if len(month_first):
        return TimestampPlan(
            "strptime",
            f"month-first mm{sep}dd{sep}yyyy[ HH:MM[:SS]]",
            _time_formats("%m/%d/%Y", sep, present[0]),
            len(present),
            column,
        )
    raise TimestampFormatError(
        f"timestamp column {column!r}: day/month order cannot be decided from the data (no field over 12, "
        f"e.g. {present[0]!r}); give --timestamp-format '%d{sep}%m{sep}%Y %H:%M:%S' (day first) "
        f"or '%m{sep}%d{sep}%Y %H:%M:%S' (month first)"
    )
