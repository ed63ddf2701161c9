"""The report page of a SCons (and so PlatformIO) build: NAME.html beside
NAME.bin, its path printed once, removed by `scons -c` and by a failed build."""
from __future__ import annotations

import re

from test_scons import project, scons


def test_build_writes_the_report_page_and_prints_its_path_once(tmp_path):
    p = project(tmp_path, 'env.ML4F("out/digits", "digits.h5")')
    out = scons(["-Q"], p).stdout
    assert re.findall(r"^ML4F digits report: (.*)$", out, re.MULTILINE) == ["out/digits.html"]
    page = (p / "out" / "digits.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'id="layer-table"' in page
    assert "report:" not in scons(["-Q"], p).stdout            # up to date: nothing printed
    scons(["-Q", "-c"], p)
    assert not (p / "out" / "digits.html").exists()


def test_a_failed_build_leaves_no_report_page(tmp_path):
    p = project(tmp_path, 'env.ML4F("out/digits", "digits.h5")')
    scons(["-Q"], p)
    assert (p / "out" / "digits.html").exists()
    (p / "digits.h5").write_bytes(b"not a model")
    r = scons(["-Q"], p, check=False)
    assert r.returncode != 0
    assert not (p / "out" / "digits.html").exists()
