"""map.png: the map's SVG rendered to PNG by headless Chromium, offline.

Why Chromium and not a Python library: cairosvg needs the system's libcairo anyway, and the
report's tests need Chromium already, so one renderer draws both the page and the PNG, with
the same fonts. Without Chromium the PNG is skipped and the report says so; map.svg is
always written. Chromium runs with networking features off and a throwaway profile, and
never outlives the process that started it.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import VsmError
from pipeline.processes import child_process, private_temp_dir

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Offline and self-contained: no first-run, sync, component or background fetches.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
MAX_SIDE_PX = 8000
SCALE = 2  # PNG pixels per SVG pixel: sharp on slides
TIMEOUT_S = 120
# Chromium's singleton socket is $TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket, and a
# socket's path holds at most 107 bytes: Chromium aborts (exit -6) past that.
MAX_TMPDIR_CHARS = 60


class SnapshotError(VsmError):
    exit_code = 1


def find_chromium() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def svg_size(svg: str) -> tuple[int, int]:
    """(width, height) in pixels of an SVG document: its width/height, else its viewBox."""
    root = re.search(r"<svg\b[^>]*>", svg)
    tag = root.group(0) if root else ""

    def attr(name: str) -> float | None:
        m = re.search(rf'\s{name}="\s*([0-9.]+)\s*(px)?\s*"', tag)
        return float(m.group(1)) if m else None

    width, height = attr("width"), attr("height")
    box = re.search(r'viewBox="\s*[-0-9.]+[\s,]+[-0-9.]+[\s,]+([0-9.]+)[\s,]+([0-9.]+)\s*"', tag)
    if (width is None or height is None) and box:
        width, height = float(box.group(1)), float(box.group(2))
    width, height = width or 800, height or 600
    return min(math.ceil(width), MAX_SIDE_PX), min(math.ceil(height), MAX_SIDE_PX)


@contextmanager
def _chromium_tmpdir(scratch: Path) -> Iterator[Path]:
    """Chromium's own $TMPDIR (it makes a folder there for a socket and leaves it when killed):
    `scratch` when its path is short enough for a Unix socket's, else a private folder in
    the system's temp folder (removed as `scratch` is, or at the next start)."""
    if len(str(scratch)) <= MAX_TMPDIR_CHARS:
        yield scratch
        return
    with private_temp_dir("chromium", in_system_temp=True) as short:
        yield short


def svg_to_png(svg_path: Path, png_path: Path, browser: str | None = None) -> str | None:
    """Render `svg_path` to `png_path`; return None when written, else why not (no browser).

    Chromium (and the helpers it starts) runs in its own process group with a parent-death
    signal (pipeline/processes.py) and sees only a private folder: it reads a copy of the SVG
    there and writes the PNG there, which is then moved to `png_path`. A Chromium that
    outlived an interrupted run could otherwise write the PNG beside a page it does not
    belong to."""
    browser = browser or find_chromium()
    if browser is None:
        png_path.unlink(missing_ok=True)  # an old PNG would show an old map
        return "map.png not written: no Chromium found (install Debian's chromium to get it)"
    svg = svg_path.read_text(encoding="utf-8")
    width, height = svg_size(svg)
    with private_temp_dir("chromium") as scratch, _chromium_tmpdir(scratch) as tmpdir:
        page, shot, profile = scratch / "map.svg", scratch / "map.png", scratch / "profile"
        page.write_text(svg, encoding="utf-8")
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--force-device-scale-factor={SCALE}",
            f"--screenshot={shot}",
            page.as_uri(),
        ]
        with child_process(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ | {"TMPDIR": str(tmpdir)},
        ) as chromium:
            try:
                _, stderr = chromium.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired as exc:
                raise SnapshotError(f"{browser} did not render {svg_path} within {TIMEOUT_S} s") from exc
        if chromium.returncode != 0 or not shot.exists():
            tail = " ".join(stderr.strip().splitlines()[-3:])
            raise SnapshotError(f"{browser} could not render {svg_path} (exit {chromium.returncode}): {tail}")
        shutil.move(shot, png_path)  # the store's temp folder may be on another file system
    return None
