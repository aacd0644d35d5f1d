"""The web page in a real headless Chromium (Debian's, driven by Playwright): search, play a hit from its
window's start, drop a clip to classify, show an error for a non-audio drop, and a screenshot that is
checked for content."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import esc50_clips

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Debian chromium is not installed at {CHROMIUM} (scripts/setup.sh installs it)",
)
SHOT_DIR_ENV = "OPENCLAP_SCREENSHOT_DIR"  # set it to keep the screenshot for a look


@pytest.fixture(scope="module")
def page(server: str):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.set_default_timeout(20_000)
        tab.goto(server)
        tab.wait_for_function("document.body.dataset.ready === 'true'")
        yield tab
        browser.close()


def drop_file(page, selector: str, path: Path, mime: str = "audio/flac") -> None:
    """Drop a real file on an element the way a user's drag and drop does (a DataTransfer with a File)."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([data, name, mime]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [data, path.name, mime],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_search_play_classify_and_screenshot(page, tmp_path: Path) -> None:
    assert "indexed windows" in page.text_content("#status")
    page.select_option("#top-k", "50")
    page.fill("#query", "a dog barking")
    page.press("#query", "Enter")
    page.wait_for_selector("#results .hit")
    hits = page.locator("#results .hit")
    assert hits.count() == 50 and "hits for “a dog barking”" in page.text_content("#search-info")

    # A hit whose window starts inside its file plays from that start, in the page.
    starts = [float(s) for s in hits.evaluate_all("rows => rows.map(r => r.dataset.start)")]
    row = hits.nth(next(i for i, s in enumerate(starts) if s >= 2.0))
    start = float(row.get_attribute("data-start"))
    assert f"#t={start:g}," in row.locator("audio").get_attribute("src")
    row.locator("button.play").click()
    page.wait_for_function(
        "([el, start]) => !el.paused && el.currentTime > start + 0.05",
        arg=[row.locator("audio").element_handle(), start],
    )
    position = row.locator("audio").evaluate("el => el.currentTime")
    assert start < position < start + 1.0  # started at the window, not at 0

    # Classify: typed labels, a real clip dropped on the drop zone.
    page.fill("#labels", "dog, rain, siren")
    drop_file(page, "#drop-zone", esc50_clips()["dog"][0])
    page.wait_for_selector("#predictions .prediction")
    labels = page.locator("#predictions .prediction .label").all_text_contents()
    assert sorted(labels) == ["dog", "rain", "siren"]
    values = [float(v.rstrip(" %")) for v in page.locator("#predictions .value").all_text_contents()]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 100.0) < 0.5
    assert page.is_hidden("#error")

    shot = _screenshot(page, tmp_path)
    for selector in ("#results .hit", "#predictions .prediction", "#drop-zone", "#query"):
        assert page.locator(selector).first.is_visible(), selector

    # A dropped file that is not audio gets the server's one-line error in the page.
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not audio\n" * 50)
    drop_file(page, "#drop-zone", text_file, "text/plain")
    page.wait_for_selector("#error:not([hidden])")
    assert "notes.txt: cannot decode audio" in page.text_content("#error")
    assert shot.stat().st_size > 20_000

    # Search by example: a chosen clip replaces the hits with sounds like it.
    example = esc50_clips()["rain"][0]
    page.set_input_files("#example-input", str(example))
    page.wait_for_function(
        "name => document.querySelector('#search-info').textContent.includes(name)", arg=example.name
    )
    assert hits.count() == 50 and page.is_hidden("#error")


def _screenshot(page, tmp_path: Path) -> Path:
    """A full-page PNG; checked for real content: not blank, and the accent blue of the score bars shows."""
    from PIL import Image

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[0] >= 900 and pixels.shape[1] == 1280
    assert pixels.std() > 20  # not a blank page
    accent = np.abs(pixels - np.array([0x2F, 0x6F, 0xDE])).sum(axis=-1) < 30
    assert accent.sum() > 2000  # score and probability bars, the title, the search button
    if keep := __import__("os").environ.get(SHOT_DIR_ENV):
        shutil.copy(shot, Path(keep) / "page.png")
    return shot
