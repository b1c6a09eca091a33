"""Durations are true elapsed seconds, also across a daylight-saving change in the stream's zone."""

from __future__ import annotations

from pipeline.flow import compute_flow
from pipeline.ingest import ingest
from pipeline.settings import Source, StreamSettings
from tests.conftest import write


def test_durations_across_the_dst_change_are_elapsed_seconds(store, tmp_path):
    # Europe/Amsterdam springs forward on 2026-03-29 (02:00 -> 03:00): from 2026-03-27 00:00Z
    # to 2026-03-30 00:00Z is 72 h of elapsed time, whatever the local clocks say.
    log = (
        "case,activity,lifecycle,time\n"
        "c1,A,start,2026-03-27T00:00:00Z\n"
        "c1,A,complete,2026-03-28T00:00:00Z\n"
        "c1,B,start,2026-03-29T12:00:00Z\n"
        "c1,B,complete,2026-03-30T00:00:00Z\n"
    )
    path = write(tmp_path / "dst.csv", log)
    settings = StreamSettings(
        name="dst", source=Source(path=str(path)), timezone="Europe/Amsterdam", end_activities=["B"]
    )
    ingest(store, settings)
    compute_flow(store, settings)
    assert store.execute("SELECT lead_time_s FROM cases").fetchall() == [(72 * 3600.0,)]
    visits = store.execute("SELECT step, queue_time_s, process_time_s FROM visits ORDER BY seq").fetchall()
    # B: ready 03-28 00:00Z, start 03-29 12:00Z = 36 h queue; 12 h of process
    assert visits == [("A", None, 24 * 3600.0), ("B", 36 * 3600.0, 12 * 3600.0)]
