#!/usr/bin/env python3
"""Screenshot of the Mneme web page with a real answer on it, taken in headless Chromium.

    python3 scripts/screenshot_web.py http://127.0.0.1:8080 docs/web.png [--image IMG] [--question Q]

Starts Chromium (`apt-get install chromium`) with `--remote-debugging-pipe` and drives it over the DevTools
protocol (NUL-separated JSON on file descriptors 3 and 4, so only the standard library is needed): opens the
page, chooses the image, types the question, clicks Ask, compares the two snapshots the page preselects,
waits for the answers, the jobs and the snapshot table, and saves a full-page PNG.

Without --image it draws a small picture (a red circle on white) itself. With Pillow importable (the project venv,
/work/venv/bin/python) the PNG is re-encoded with a 256-colour palette to keep it small.
"""

import argparse
import base64
import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib


def draw_png(path, size=64):
    """A red disc on white, as an 8-bit RGB PNG (written with zlib only)."""
    rows = []
    centre, radius = (size - 1) / 2, size * 0.32
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            inside = (x - centre) ** 2 + (y - centre) ** 2 <= radius ** 2
            row += bytes((220, 40, 40) if inside else (255, 255, 255))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def shrink(path):
    """Re-encodes the PNG with a 256-colour palette when Pillow is there (the venv has it): a page of flat UI colours
    loses nothing visible and the file about halves."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


class Browser:
    """Headless Chromium spoken to over --remote-debugging-pipe."""

    def __init__(self, executable, width, height):
        self.profile = tempfile.mkdtemp(prefix="mneme-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes():  # in the child: the protocol lives on fds 3 (commands in) and 4 (answers out)
            commands, answers = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        self.process = subprocess.Popen(
            [executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--force-color-profile=srgb", f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=(3, 4, to_browser_r, from_browser_w), preexec_fn=wire_pipes,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events = []
        self.session = None

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            data = os.read(self._from_browser, 1 << 16)
            if not data:
                raise RuntimeError("Chromium closed the DevTools pipe (is it installed and able to start?)")
            self._buffer += data
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=True, timeout=60):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(index)
            self._events.append(self._read_message(deadline))

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')} in {expression[:80]}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=60, what="the page"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}")

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=10)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="server URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("output", help="PNG file to write")
    parser.add_argument("--image", help="image to ask about (default: a drawn red circle)")
    parser.add_argument("--question", default="What colour is the circle?")
    parser.add_argument("--no-compare", action="store_true", help="only ask, do not also compare two snapshots")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"))
    args = parser.parse_args()
    if not args.chromium:
        sys.exit("no Chromium found; install it with: apt-get install -y chromium")

    scratch = tempfile.mkdtemp(prefix="mneme-shot-")
    image = os.path.abspath(args.image) if args.image else os.path.join(scratch, "circle.png")
    if not args.image:
        draw_png(image)

    browser = Browser(args.chromium, args.width, 900)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        browser.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        browser.send("Page.enable")
        browser.send("Runtime.enable")
        browser.send("Emulation.setDeviceMetricsOverride", {"width": args.width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        browser.send("Page.navigate", {"url": args.url.rstrip("/") + "/"})
        browser.wait_event("Page.loadEventFired")
        # The snapshot list fills the pickers; wait for it before asking.
        browser.wait_for("document.querySelectorAll('#snapshots-body tr').length > 0", what="the snapshot list")

        document = browser.send("DOM.getDocument")["root"]["nodeId"]
        node = browser.send("DOM.querySelector", {"nodeId": document, "selector": "#ask-image"})["nodeId"]
        browser.send("DOM.setFileInputFiles", {"nodeId": node, "files": [image]})  # fires change: the preview appears
        browser.evaluate(f"document.getElementById('ask-question').value = {json.dumps(args.question)}")
        browser.evaluate("document.getElementById('ask-form').requestSubmit()")
        browser.wait_for("!document.getElementById('ask-result').hidden || document.getElementById('ask-error').textContent !== ''",
                         what="the answer")
        error = browser.evaluate("document.getElementById('ask-error').textContent")
        if error:
            print(f"warning: the page shows an error for Ask: {error}", file=sys.stderr)
        if not args.no_compare:
            browser.evaluate("document.getElementById('compare-form').requestSubmit()")
            browser.wait_for("document.querySelectorAll('#compare-results .card').length > 0"
                             " || document.getElementById('compare-error').textContent !== ''", what="the comparison")
        browser.wait_for("document.getElementById('ask-preview').complete", what="the image preview")
        time.sleep(0.5)  # one more jobs poll and repaint

        height = int(browser.send("Page.getLayoutMetrics")["cssContentSize"]["height"]) + 1
        browser.send("Emulation.setDeviceMetricsOverride", {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.3)
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(args.output, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        shrink(args.output)
        print(f"wrote {args.output} ({os.path.getsize(args.output) // 1024} KB, {args.width}×{height})")
    finally:
        browser.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
