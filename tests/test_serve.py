"""`ml4f serve`: the real server in a subprocess on 127.0.0.1, driven over HTTP
and through its page in headless Chromium."""
from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser import chromium, console_errors, non_blank
from ml4f.serve import MAX_INPUT_BYTES, MAX_MODEL_BYTES
from test_cli import DIGITS, EXAMPLES, ml4f

GESTURE = EXAMPLES / "gesture.h5"


def listening_addresses(port: int) -> list[str]:
    """The local addresses with a socket listening on `port` (from /proc/net/tcp*)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":          # LISTEN
                if len(addr) == 8:
                    found.append(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.append(addr)
    return found


class Server:
    def __init__(self, tmpdir: Path) -> None:
        env = dict(os.environ, TMPDIR=str(tmpdir))
        env.pop("ML4F_DEBUG", None)
        self.tmpdir = tmpdir
        self.proc = subprocess.Popen([sys.executable, "-m", "ml4f", "serve", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        line = self.proc.stdout.readline()
        m = re.match(r"ml4f serve: http://127\.0\.0\.1:(\d+)/", line)
        assert m, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}/"

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            conn.close()

    def compile(self, model: Path, **query):
        q = "&".join(f"{k}={v}" for k, v in {"file": model.name, **query}.items())
        status, body, _ = self.request("POST", f"/compile?{q}", model.read_bytes())
        return status, json.loads(body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve-tmp"))
    yield s
    s.stop()


def test_listens_on_loopback_only_and_checks_the_host(server):
    status, body, _ = server.request("GET", "/")
    assert status == 200 and b"<title>ML4F" in body
    status, body, _ = server.request("GET", "/", headers={"Host": "example.com"})
    assert status == 403
    assert listening_addresses(server.port) == ["127.0.0.1"]


def test_compile_gives_the_files_of_ml4f_compile(server, tmp_path):
    status, data = server.compile(GESTURE, float16=1, optimize="speed", mhz=100, test_data=1)
    assert status == 200, data
    r = ml4f("compile", GESTURE, "-o", tmp_path, "-b", "gesture", "--float16", "--optimize",
             "speed", "--mhz", "100", "--test-data", "--html")
    assert r.returncode == 0, r.stderr
    for suffix in (".bin", ".h", ".S", ".html"):
        status, body, headers = server.request("GET", data["files"][f"gesture{suffix}"])
        # the page names the upload, ml4f compile the path it was given
        expected = (tmp_path / f"gesture{suffix}").read_bytes().replace(
            str(GESTURE).encode(), b"gesture.h5")
        assert status == 200 and body == expected, suffix
    status, body, headers = server.request("GET", data["files"]["gesture.json"])
    ours = json.loads((tmp_path / "gesture.json").read_text())
    assert json.loads(body) == ours | {"model": "gesture.h5"}
    assert headers["Content-Disposition"] == 'attachment; filename="gesture.json"'
    # the uploaded model lived only in a temporary directory, gone now
    assert list(server.tmpdir.iterdir()) == []


def test_run_the_embedded_vector_and_an_uploaded_input(server):
    _, data = server.compile(DIGITS, test_data=1)
    status, body, _ = server.request("POST", f"/run/{data['id']}", b"")
    out = json.loads(body)
    assert status == 200 and out["embedded_test"] == "pass" and out["cycles"] > 0
    x = np.load(EXAMPLES / "digits_test_x.npy")[3]
    y = int(np.load(EXAMPLES / "digits_test_y.npy")[3])
    buf = io.BytesIO()
    np.save(buf, x)
    status, body, _ = server.request("POST", f"/run/{data['id']}", buf.getvalue())
    out = json.loads(body)
    assert status == 200 and out["argmax"] == y and len(out["output"]) == 10
    # a bad input: one line, 400
    status, body, _ = server.request("POST", f"/run/{data['id']}", b"not an npy")
    assert status == 400 and "not a readable .npy" in json.loads(body)["error"]
    buf = io.BytesIO()
    np.save(buf, np.array([None], dtype=object), allow_pickle=True)
    status, body, _ = server.request("POST", f"/run/{data['id']}", buf.getvalue())
    assert status == 400                       # never unpickled


def test_two_compiles_at_once_get_their_own_results(server):
    results = {}

    def go(model):
        results[model.stem] = server.compile(model)

    threads = [threading.Thread(target=go, args=(m,)) for m in (DIGITS, GESTURE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (s1, d), (s2, g) = results["digits"], results["gesture"]
    assert s1 == s2 == 200 and d["id"] != g["id"]
    assert d["report"]["model"] == "digits.h5" and g["report"]["model"] == "gesture.h5"
    _, b1, _ = server.request("GET", d["files"]["digits.bin"])
    _, b2, _ = server.request("GET", g["files"]["gesture.bin"])
    assert len(b1) == d["report"]["totals"]["file_bytes"]
    assert len(b2) == g["report"]["totals"]["file_bytes"]
    assert b1 != b2 and b1[:8] == b2[:8]      # two different ML4F objects


def test_bad_uploads(server, tmp_path):
    # over the limit: refused before the body is read
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/compile?file=big.h5")
    conn.putheader("Content-Length", str(MAX_MODEL_BYTES + 1))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and "too large" in json.loads(r.read())["error"]
    conn.close()
    _, data = server.compile(DIGITS)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", f"/run/{data['id']}")
    conn.putheader("Content-Length", str(MAX_INPUT_BYTES + 1))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    # not a model, a truncated model, a model the compiler refuses: its one line, 400
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(DIGITS.read_bytes()[:5000])
    masked = tmp_path / "masked.keras"
    from keras_models import keras_module, save
    K = keras_module("k3")
    save(K.Sequential([K.Input((5, 3)), K.layers.Masking(), K.layers.LSTM(4),
                       K.layers.Dense(2)]), masked)
    for model, words in ((truncated, "cut.h5"), (masked, "Masking")):
        status, body = server.compile(model)
        assert status == 400 and words in body["error"], body
        assert "\n" not in body["error"] and str(server.tmpdir) not in body["error"]
        assert "ml4f-serve-" not in body["error"]
    status, body, _ = server.request("POST", "/compile?file=notes.txt", b"hello")
    assert status == 400 and "not a Keras model file" in json.loads(body)["error"]
    status, body, _ = server.request("POST", "/compile?file=m.h5&optimize=fast", b"x")
    assert status == 400
    status, body, _ = server.request("GET", "/result/nope/m.bin")
    assert status == 404
    assert list(server.tmpdir.iterdir()) == []
    assert server.proc.poll() is None          # still serving


def test_page_compiles_an_upload_and_downloads_the_object(server, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(downloads=downloads) as driver:
        driver.get(server.url)
        driver.find_element(By.ID, "model").send_keys(str(DIGITS))
        driver.find_element(By.ID, "float16").click()
        Select(driver.find_element(By.ID, "optimize")).select_by_visible_text("size")
        driver.find_element(By.ID, "ram").send_keys("1")          # KiB: the arena does not fit
        driver.find_element(By.ID, "compile").click()
        wait = WebDriverWait(driver, 120)
        wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#downloads a")))
        assert "does not fit the board's RAM (1,024 B)" in driver.find_element(By.ID, "problems").text
        links = {a.text: a for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a")}
        assert set(links) == {"digits.bin", "digits.h", "digits.S", "digits.json", "digits.html"}
        links["digits.bin"].click()
        deadline = time.monotonic() + 60
        while not (downloads / "digits.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        driver.find_element(By.ID, "run-test").click()
        wait.until(EC.visibility_of_element_located((By.ID, "run-output")))
        assert "embedded test vector: pass" in driver.find_element(By.ID, "run-output").text
        # the report is shown in the page
        driver.switch_to.frame(driver.find_element(By.ID, "report"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#layer-table tbody tr[data-layer]")
        assert len(rows) == 5                # conv1 and pool1 stream as one region
        driver.switch_to.default_content()
        png = driver.get_screenshot_as_png()
        assert console_errors(driver) == []
        driver.set_window_size(390, 844)          # a phone: nothing wider than the screen
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")
        # a bad upload shows the compiler's line
        bad = tmp_path / "bad.h5"
        bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
        driver.find_element(By.ID, "model").send_keys(str(bad))
        driver.find_element(By.ID, "compile").click()
        wait.until(lambda d: d.find_element(By.ID, "error").text)
        assert driver.find_element(By.ID, "error").text.startswith("bad.h5: ")
    assert non_blank(png) > 0.05
    r = ml4f("compile", DIGITS, "-o", tmp_path, "-b", "digits", "--float16", "--optimize",
             "size", "--test-data")
    assert r.returncode == 0, r.stderr
    assert (downloads / "digits.bin").read_bytes() == (tmp_path / "digits.bin").read_bytes()


def test_port_out_of_range_is_a_usage_error():
    r = ml4f("serve", "--port", "70000")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "ml4f: error: --port must be in 0..65535, not 70000"]
