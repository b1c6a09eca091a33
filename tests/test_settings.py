"""Settings files: written by init, read back, and every bad value named clearly."""

from __future__ import annotations

import pytest

from pipeline.errors import SettingsError
from pipeline.settings import Columns, Source, StreamSettings, read_settings, write_settings


def test_written_settings_read_back_equal(tmp_path):
    s = StreamSettings(
        name="claims",
        timezone="Europe/Amsterdam",
        lead_time_target="10d",
        source=Source(path='logs/claims "2026".csv', delimiter=";"),
        columns=Columns(case_id="case", activity=["status", "sub"], timestamp="time"),
        status_classes={"Awaiting Customer": "wait", "Done": "done"},
        end_activities=["Close Claim"],
    )
    s.steps.rename = {"Register Claim": "Register"}
    s.steps.merge = {"Assess": ["Assess Damage", "Second Assessment"]}
    path = write_settings(s, tmp_path / "streams" / "claims.toml")
    back = read_settings(path)
    assert back.columns == s.columns
    assert back.source == s.source
    assert back.status_classes == s.status_classes
    assert back.steps == s.steps
    assert back.end_activities == ["Close Claim"]
    assert back.lead_time_target_s == 10 * 86400
    assert back.source_path() == tmp_path / "logs" / 'claims "2026".csv'


def _bad(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text('[stream]\nname = "s"\n[source]\npath = "x.csv"\n' + text, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        read_settings(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[columns]\ncase = "x"\n', "unknown key 'case'; allowed keys: case_id, activity"),
        ('[status_classes]\n"New" = "queue"\n', "'New' = 'queue': expected one of work, wait, done"),
        (
            '[flow]\nlog_shape = "events"\n',
            "log_shape = 'events': expected one of auto, interval, status, point",
        ),
        ('[flow]\nend_activities = "Close"\n', "end_activities = 'Close': expected a list of strings"),
    ],
)
def test_invalid_values_name_key_value_and_what_is_allowed(tmp_path, text, expected):
    assert expected in _bad(tmp_path, text)


def test_bad_timezone_and_duration(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[stream]\nname = "s"\ntimezone = "Mars/Olympus"\n[source]\npath = "x"\n', encoding="utf-8"
    )
    with pytest.raises(SettingsError, match="timezone = 'Mars/Olympus': expected an IANA time zone"):
        read_settings(path)
    path.write_text(
        '[stream]\nname = "s"\nlead_time_target = "ten days"\n[source]\npath = "x"\n', encoding="utf-8"
    )
    with pytest.raises(SettingsError, match="lead_time_target = 'ten days': expected a duration"):
        read_settings(path)


def test_not_toml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[stream\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="s.toml: not valid TOML"):
        read_settings(path)


# A name ending in a newline passed `re.match` with `$` (which also matches before a final
# newline): `vsm init "nl\n"` wrote streams/nl<newline>.toml, a stream no command could name.
@pytest.mark.parametrize("name", ["nl\n", "nl\t", "nl\r\n", "\nnl", "n\nl", "nl "])
@pytest.mark.parametrize("command", ["init", "discover", "ingest", "compute", "report"])
def test_a_stream_name_with_a_newline_or_tab_is_refused_and_nothing_is_written(
    tmp_path, monkeypatch, name, command
):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from tests.conftest import write

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "log.csv", "case_id,activity,timestamp\nc1,A,2026-03-02T08:00:00Z\n")
    args = {
        "init": ["init", name, "--source", "log.csv"],
        "discover": ["discover", "log.csv", "--stream", name, "--no-png"],
    }.get(command, [command, name])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: stream name {name!r}: expected letters, digits, '_', '-' or '.', starting with a letter "
        "or digit, at most 64 characters"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_a_settings_file_naming_its_stream_with_a_trailing_newline_is_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[stream]\nname = "s\\n"\n[source]\npath = "x.csv"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"stream name 's\\n': expected letters"):
        read_settings(path)
