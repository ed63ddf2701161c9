"""Headless Chromium (Debian's chromium + chromium-driver) driven by Selenium.

The flags keep a browser with no network from stalling on its background
services; every browser gets a fresh profile and a download directory.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


@contextlib.contextmanager
def chromium(width: int = 1100, height: int = 1400, downloads: Path | None = None):
    with tempfile.TemporaryDirectory(prefix="ml4f-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if downloads is not None:
            options.add_experimental_option("prefs", {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "safebrowsing.enabled": False})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        try:
            if downloads is not None:
                driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                       {"behavior": "allow", "downloadPath": str(downloads)})
            yield driver
        finally:
            driver.quit()


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def non_blank(png: bytes) -> float:
    """Fraction of pixels that differ from the most common colour (the background)."""
    import io

    import numpy as np
    from matplotlib import image

    img = image.imread(io.BytesIO(png), format="png")
    flat = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    return float(np.mean(np.any(flat != background, axis=1)))
