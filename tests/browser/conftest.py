"""Headless Debian Chromium driven by Selenium against a real ``pushworker web``.

Nothing is downloaded here: ``make browser-deps`` installs ``chromium``, ``chromium-driver`` and a
CJK font, and Selenium gets both paths, so Selenium Manager has nothing to look up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PUSHWORKER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PUSHWORKER_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(
    os.environ.get("PUSHWORKER_SCREENSHOTS") or Path(__file__).parents[2] / "var" / "screenshots"
)
WIDTH = 1400  # the operator's screen the list must fit without a side scroller
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    f"--window-size={WIDTH},900",
)


def pytest_report_header(config) -> str:
    return f"browser screenshots: {SCREENSHOTS}"


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing: run `make browser-deps`")
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    if not fonts.stdout.strip():  # Chinese names would be empty boxes in every screenshot
        pytest.fail("no CJK font (fonts-noto-cjk): run `make browser-deps`")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    yield driver
    driver.quit()
