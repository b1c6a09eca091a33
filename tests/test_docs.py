"""Docs cannot drift: every command documented, README examples run."""

from __future__ import annotations

import re
import shlex

import typer.main
from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text(encoding="utf-8")


def test_every_command_has_help_and_is_in_the_readme():
    click_app = typer.main.get_command(app)
    for name, command in click_app.commands.items():
        assert command.help, f"vsm {name} has no help text"
        assert f"`vsm {name}" in README, f"vsm {name} is not in README.md"


def test_readme_examples_run(tmp_path, monkeypatch):
    (tmp_path / "sample_logs").symlink_to(PROJECT / "sample_logs")
    monkeypatch.chdir(tmp_path)
    examples = re.findall(r"^\$ vsm (.+)$", README, flags=re.MULTILINE)
    assert len(examples) >= 4
    runner = CliRunner()
    for line in examples:
        result = runner.invoke(app, shlex.split(line))
        assert result.exit_code == 0, f"vsm {line}\n{result.output}"


def test_readme_documents_every_store_table_and_column(tmp_path):
    from pipeline.store import open_store

    con = open_store(tmp_path / "docs.duckdb")
    columns = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall()
    con.close()
    rows = {line.split("|")[1].strip(): line for line in README.splitlines() if line.startswith("| `")}
    for table, column in columns:
        assert f"`{table}`" in rows, f"table {table} is not documented in README.md"
        assert column in rows[f"`{table}`"], f"column {table}.{column} is not documented in README.md"
