"""pipeline/quick_imports.py: the collector is paused inside the block and as it was after it."""

import gc

import pytest

from pipeline.quick_imports import collector_paused


@pytest.fixture
def collector_state():
    was_on = gc.isenabled()
    yield
    if was_on:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_and_on_again_after(collector_state):
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_on_again_after_the_block_raises(collector_state):
    gc.enable()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("stop")
    assert gc.isenabled()


def test_left_off_when_it_was_off(collector_state):
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_nested_blocks_turn_it_on_once_the_outer_one_ends(collector_state):
    gc.enable()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block found it off: it leaves it off
    assert gc.isenabled()


@pytest.mark.parametrize("log", ["claims.csv", "incidents.csv"])
def test_a_discover_run_never_imports_pandas(tmp_path, log):
    """pandas costs 0.28 CPU-s to import and nothing in a run uses it: pyarrow imports it to ask
    whether a Python list it converts (pa.array) is a pandas object, or when it converts a
    zoned time to Python (flow.names_column and flow.first_row go through polars), and pm4py's
    parts name it in annotations only (pipeline/discovery.py). Nor pyarrow.compute, which
    an Arrow cast imports."""
    import subprocess
    import sys
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "sample_logs" / log
    code = (
        "import sys\n"
        "from pipeline.cli import app\n"
        f"code = app(['discover', {str(sample)!r}, '--stream', 's', '--no-png', '--timezone', "
        "'Europe/Amsterdam'], standalone_mode=False)\n"
        "miner = 'pm4py.algo.discovery.inductive.variants.im'\n"
        "print(code or 0, 'pandas' in sys.modules, 'pyarrow.compute' in sys.modules, miner in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    # exit 0; no pandas, no pyarrow.compute (0.05 CPU-s: a cast); pm4py's miner did run
    assert out.stdout.splitlines()[-1] == "0 False False True"
    assert (tmp_path / "reports" / "s" / "index.html").exists()
