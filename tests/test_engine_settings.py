"""[engine] (pipeline/settings.py parse_engine) and `vsm compute --engine / --out`: every key
acts or is refused with the key, the value and what is expected; the engine is not part of
the incremental settings digest; a compute after another engine's is full, and says why."""

from __future__ import annotations

from dataclasses import replace

import pytest
import tomli

from pipeline import incremental
from pipeline.errors import SettingsError
from pipeline.settings import (
    EngineSettings,
    StreamSettings,
    parse_engine,
    render_settings,
    settings_from_dict,
)
from pipeline.streams import use_engine
from tests.conftest import vsm_in, write


def test_spark_settings_are_read_and_written_back():
    engine = parse_engine(
        {
            "name": "spark",
            "spark_master": "spark://host:7077",
            "spark_shuffle_partitions": 64,
            "spark_conf": {"spark.executor.memory": "4g", "spark.executor.cores": 2, "spark.x.on": True},
            "out": "/data/vsm",
        }
    )
    assert engine == EngineSettings(
        "spark",
        "spark://host:7077",
        64,
        {"spark.executor.memory": "4g", "spark.executor.cores": "2", "spark.x.on": "true"},
        "/data/vsm",
    )
    settings = replace(StreamSettings(name="s", source=replace(StreamSettings("s").source, path="x.csv")))
    settings.engine = engine
    text = render_settings(settings)
    assert "[engine]" in text
    assert settings_from_dict(tomli.loads(text)).engine == engine
    # the default: its name alone (the other keys are refused with duckdb); none reads as duckdb
    settings.engine = EngineSettings()
    text = render_settings(settings)
    assert '[engine]\nname = "duckdb"\n' in text and "spark_master =" not in text
    assert settings_from_dict(tomli.loads(text)).engine == EngineSettings()
    assert parse_engine({}) == EngineSettings(name="duckdb")


@pytest.mark.parametrize(
    "table, expected",
    [
        ({"name": "flink"}, "name = 'flink': expected one of duckdb, spark"),
        ({"nme": "spark"}, "unknown key 'nme'; allowed keys: name, spark_master"),
        ({"spark_master": "local[2]"}, "spark_master = 'local[2]' acts on the spark engine only"),
        ({"name": "duckdb", "out": "x"}, "out = 'x' acts on the spark engine only"),
        ({"name": "spark", "spark_shuffle_partitions": 0}, "spark_shuffle_partitions = 0: expected a whole"),
        ({"name": "spark", "spark_shuffle_partitions": "8"}, "spark_shuffle_partitions = '8': expected"),
        ({"name": "spark", "spark_master": " "}, 'spark_master = "": expected a Spark master URL'),
        ({"name": "spark", "spark_conf": {"executor.memory": "4g"}}, "'executor.memory': expected a Spark"),
        ({"name": "spark", "spark_conf": {"spark.master": "yarn"}}, "'spark.master': set by spark_master"),
        ({"name": "spark", "spark_conf": {"spark.jars.packages": "a:b:1"}}, "vsm fetches no jars"),
        ({"name": "spark", "spark_conf": {"spark.a": [1]}}, "'spark.a' = [1]: expected a string, number"),
        ({"name": "spark", "spark_conf": "x"}, "spark_conf = 'x': expected a table"),
    ],
)
def test_engine_keys_that_would_not_act_are_refused_with_key_value_and_expected(table, expected):
    with pytest.raises(SettingsError, match=None) as e:
        parse_engine(table, "s.toml [engine]")
    assert expected in str(e.value)
    assert str(e.value).startswith("s.toml [engine]")


def test_the_engine_is_not_part_of_the_settings_digest_but_a_decision_of_its_own():
    settings = StreamSettings(name="s")
    other = replace(settings, engine=EngineSettings("spark", "local[2]", 4, {}, "out"))
    assert incremental.settings_digest(settings) == incremental.settings_digest(other)
    decisions = {"settings": "d", "engine": "duckdb"}
    # a state written before the engine was a decision: it was duckdb's
    assert incremental.plan({"settings": "d"}, decisions, full=False).full is False
    after_spark = incremental.plan({"settings": "d", "engine": "spark"}, decisions, full=False)
    assert after_spark.full and after_spark.reason.startswith("the last compute ran on another engine")


def test_engine_option_overrides_the_settings_and_out_needs_spark():
    settings = StreamSettings(name="s")
    use_engine(settings, "spark")
    assert settings.engine == EngineSettings(name="spark")
    settings.engine = EngineSettings("spark", "yarn", 16, {"spark.a": "1"}, "o")
    use_engine(settings, "duckdb")  # the spark keys are the spark engine's: not kept
    assert settings.engine == EngineSettings()
    with pytest.raises(SettingsError, match="--engine 'flink': expected one of duckdb, spark"):
        use_engine(settings, "flink")
    with pytest.raises(SettingsError, match="--out out: Parquet results are written by the spark engine"):
        use_engine(settings, None, "out")


LOG = "case,activity,ts\nA,Intake,2026-03-02 08:00:00\nA,Close,2026-03-02 09:00:00\n"


def test_vsm_compute_refuses_out_on_duckdb_and_an_unknown_engine_before_the_store(tmp_path):
    write(tmp_path / "log.csv", LOG)
    assert vsm_in(tmp_path, "discover", "log.csv", "--stream", "s", "--no-png").exit_code == 0
    done = vsm_in(tmp_path, "compute", "s", "--out", "parquet")
    assert done.exit_code == 2
    assert "--out parquet: Parquet results are written by the spark engine" in done.output
    done = vsm_in(tmp_path, "compute", "s", "--engine", "flink")
    assert done.exit_code == 2
    assert "--engine 'flink': expected one of duckdb, spark" in done.output
    assert not (tmp_path / "parquet").exists()
    # [engine] in the settings file: checked with the file's name
    path = tmp_path / "streams" / "s.toml"
    text = path.read_text()
    assert '[engine]\nname = "duckdb"\n' in text
    path.write_text(
        text.replace('[engine]\nname = "duckdb"\n', '[engine]\nname = "duckdb"\nspark_master = "yarn"\n')
    )
    done = vsm_in(tmp_path, "compute", "s")
    assert done.exit_code == 2
    assert "s.toml [engine]: spark_master = 'yarn' acts on the spark engine only" in done.output


def test_a_cluster_master_without_an_output_folder_is_refused_before_spark_starts(tmp_path):
    # a cluster's executors read the events from Parquet: they need a folder they reach
    write(tmp_path / "log.csv", LOG)
    assert vsm_in(tmp_path, "discover", "log.csv", "--stream", "s", "--no-png").exit_code == 0
    path = tmp_path / "streams" / "s.toml"
    path.write_text(
        path.read_text().replace(
            '[engine]\nname = "duckdb"\n', '[engine]\nname = "spark"\nspark_master = "spark://nohost:7077"\n'
        )
    )
    done = vsm_in(tmp_path, "compute", "s")
    assert done.exit_code == 2
    assert "spark_master = 'spark://nohost:7077' is a cluster" in done.output
    assert "set [engine] out (or --out DIR)" in done.output


def test_a_relative_out_is_read_from_the_folder_that_holds_streams(tmp_path):
    from pipeline.settings import read_settings

    (tmp_path / "streams").mkdir()
    path = write(
        tmp_path / "streams" / "s.toml",
        '[stream]\nname = "s"\n[source]\npath = "log.csv"\n[engine]\nname = "spark"\nout = "parquet"\n',
    )
    assert read_settings(path).engine_out() == tmp_path.resolve() / "parquet"
    assert StreamSettings(name="s").engine_out() is None
