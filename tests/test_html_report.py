"""`ml4f compile --html`: one self-contained, deterministic page, checked in a
real headless Chromium against the JSON report."""
from __future__ import annotations

import json
import re

import pytest
from selenium.webdriver.common.by import By

from browser import chromium, console_errors, non_blank
from ml4f.html_report import layer_cells, live_bytes
from test_cli import DIGITS, EXAMPLES, ml4f


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    for model, name, extra in ((DIGITS, "digits", ["--test-data"]),
                               (EXAMPLES / "gesture.h5", "gesture", ["--float16"])):
        r = ml4f("compile", model, "-o", out, "-b", name, "--html", *extra)
        assert r.returncode == 0, r.stderr
    return out


def test_page_is_self_contained_and_deterministic(built, tmp_path):
    page = (built / "digits.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page                                # nothing to run
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)""", page)   # nothing to fetch
    assert "@import" not in page and "url(" not in page
    assert '<meta name="viewport"' in page and "@media print" in page
    r = ml4f("compile", DIGITS, "-o", tmp_path, "-b", "digits", "--html", "--test-data")
    assert r.returncode == 0
    assert (tmp_path / "digits.html").read_bytes() == (built / "digits.html").read_bytes()


def test_flash_shows_float32_beside_float16(built):
    page = (built / "gesture.html").read_text()
    f16 = json.loads((built / "gesture.json").read_text())
    assert "float32 weights</th><th>float16 weights" in page
    assert f"<td>{f16['totals']['file_bytes']:,}</td>" in page


def test_arena_peak_is_the_lower_bound(built):
    for name in ("digits", "gesture"):
        arena = json.loads((built / f"{name}.json").read_text())["arena"]
        peak = max(b for _, b, _ in live_bytes(arena))
        assert peak + arena["reserved_bytes"] == arena["lower_bound"]


def test_no_output_without_html_and_stale_page_removed(built, tmp_path):
    assert ml4f("compile", DIGITS, "-o", tmp_path, "-b", "m", "--html").returncode == 0
    assert (tmp_path / "m.html").exists()
    assert ml4f("compile", DIGITS, "-o", tmp_path, "-b", "m").returncode == 0
    assert not (tmp_path / "m.html").exists()


@pytest.mark.parametrize("name", ["digits", "gesture"])
def test_report_renders_in_chromium_and_matches_the_json(built, name, tmp_path):
    report = json.loads((built / f"{name}.json").read_text())
    with chromium(width=1000, height=900) as driver:
        driver.get((built / f"{name}.html").as_uri())
        assert driver.title == f"{name} · ML4F report"
        rows = driver.find_elements(By.CSS_SELECTOR, "#layer-table tbody tr[data-layer]")
        table = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        expected = [layer_cells(i, L, report["totals"]["cycles"])
                    for i, L in enumerate(report["layers"])]
        assert table == expected
        assert len(table) == len(report["layers"]) > 3
        assert [r[1] for r in table] == [L["name"] for L in report["layers"]]
        assert [int(r[7].replace(",", "")) for r in table] == [L["cycles"] for L in report["layers"]]
        cards = {c.get_attribute("data-key"): c.text for c in
                 driver.find_elements(By.CSS_SELECTOR, "#summary .card")}
        assert f"{report['totals']['file_bytes']:,} B" in cards["flash"]
        assert f"{report['arena']['lower_bound']:,} B" in cards["arena (RAM)"]
        bars = driver.find_elements(By.CSS_SELECTOR, "#cycle-chart rect")
        assert len(bars) == len(report["layers"]) + 1
        assert driver.find_element(By.ID, "arena-chart").size["height"] > 100
        png = driver.get_screenshot_as_png()
        assert console_errors(driver) == []
        # a phone: the page fits the screen's width (wide tables scroll inside their box)
        driver.set_window_size(390, 844)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        inner = driver.execute_script("return window.innerWidth")
        assert width <= inner
    (tmp_path / "shot.png").write_bytes(png)
    assert non_blank(png) > 0.05
