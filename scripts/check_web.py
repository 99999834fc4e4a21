#!/usr/bin/env python3
"""Checks the web page's behaviour in headless Chromium against a running server, as a person would use it.

    .build/release/mneme serve --data /tmp/web-data --port 18090 &
    python3 scripts/check_web.py http://127.0.0.1:18090 [--screenshot docs/web-check.png]

Each check drives the real page (clicks, a paste, a drop, the file pickers) and reads what it shows; one line
per check, PASS or FAIL, and the exit status says whether all passed. It changes the server's state (pushes a
small task, cancels its job, deletes it, labels a snapshot, gives feedback): use a scratch data directory.
"""

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from screenshot_web import Browser, draw_png  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--screenshot", help="also save a full-page PNG at the end")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"))
    args = parser.parse_args()
    if not args.chromium:
        sys.exit("no Chromium found; install it with: apt-get install -y chromium")

    scratch = tempfile.mkdtemp(prefix="mneme-webcheck-")
    dataset = os.path.join(scratch, "pushme")
    os.makedirs(os.path.join(dataset, "images"))
    with open(os.path.join(dataset, "data.jsonl"), "w") as manifest:
        for index in range(40):
            draw_png(os.path.join(dataset, "images", f"{index}.png"), size=96)
            manifest.write(json.dumps({"image": f"images/{index}.png", "question": "What colour is the disc?", "answer": "red"}) + "\n")

    results = []

    def check(name, passed, detail=""):
        results.append(passed)
        print(f"{'PASS' if passed else 'FAIL'}  {name}{'  — ' + detail if detail else ''}")

    browser = Browser(args.chromium, 1280, 900)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        browser.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        browser.send("Page.enable")
        browser.send("Runtime.enable")
        browser.send("Page.navigate", {"url": args.url.rstrip("/") + "/"})
        browser.wait_event("Page.loadEventFired")
        browser.wait_for("document.querySelectorAll('#snapshots-body tr').length > 0", what="the snapshot list")
        js = browser.evaluate

        # Examples: a click loads the scene and its question; the default model answers it as expected.
        browser.wait_for("document.querySelectorAll('#ask-examples button').length > 0", what="the examples")
        expected = js("fetch('examples/examples.json').then(r => r.json()).then(d => d.examples[0])")
        js("document.querySelector('#ask-examples button').click()")
        browser.wait_for("document.getElementById('ask-image').files.length === 1", what="the example image")
        check("an example fills the image and the question",
              js("document.getElementById('ask-question').value") == expected["question"]
              and js("!document.getElementById('ask-preview').hidden"))
        js("document.getElementById('ask-form').requestSubmit()")
        browser.wait_for("!document.getElementById('ask-result').hidden || document.getElementById('ask-error').textContent !== ''",
                         what="the answer")
        answer = js("(document.querySelector('#ask-result .answer') || {}).textContent")
        check("the example is answered as expected", answer == expected["answer"], f"{answer!r}, expected {expected['answer']!r}")
        terms = js("[...document.querySelectorAll('#ask-result dt')].map(d => d.textContent)")
        check("the router's margin is named for what it is", "Routing margin" in terms and "Task confidence" not in terms, str(terms))

        # Feedback on the answer: "Wrong…" with the right answer is stored, and the snapshot's online accuracy shows it.
        js("window.prompt = () => 'purple'")
        js("document.querySelector('#ask-result button[aria-label$=\"was wrong\"]').click()")
        try:
            browser.wait_for("document.getElementById('ask-result').textContent.includes('should be')", timeout=10, what="the feedback")
            browser.wait_for("document.getElementById('snapshots-body').textContent.includes('0/1 right')", timeout=10, what="online accuracy")
            check("feedback on an answer is stored and counted online", True)
        except TimeoutError:
            check("feedback on an answer is stored and counted online", False, js("document.getElementById('ask-result').textContent"))

        # A pasted image and a dropped one become the Ask image.
        make_file = ("(name) => { const c = document.createElement('canvas'); c.width = c.height = 32;"
                     " const g = c.getContext('2d'); g.fillStyle = '#2255dd'; g.fillRect(4, 4, 24, 24);"
                     " return new Promise(r => c.toBlob(b => r(new File([b], name, { type: 'image/png' })))); }")
        js(f"({make_file})('pasted.png').then(f => {{ const t = new DataTransfer(); t.items.add(f);"
           " document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: t, bubbles: true })); })")
        check("pasting an image makes it the Ask image", js("(document.getElementById('ask-image').files[0] || {}).name") == "pasted.png")
        js(f"({make_file})('dropped.png').then(f => {{ const t = new DataTransfer(); t.items.add(f);"
           " document.getElementById('ask-drop').dispatchEvent(new DragEvent('drop', { dataTransfer: t, bubbles: true, cancelable: true })); })")
        check("dropping an image makes it the Ask image", js("(document.getElementById('ask-image').files[0] || {}).name") == "dropped.png")

        # A snapshot's label is edited from the page.
        js("window.prompt = () => 'before the March relabel'")
        js("document.querySelector('#snapshots-body button[aria-label^=\"Label\"]').click()")
        try:
            browser.wait_for("document.getElementById('snapshots-body').textContent.includes('before the March relabel')", timeout=10,
                             what="the label")
            check("a snapshot's label is edited from the page", True)
        except TimeoutError:
            check("a snapshot's label is edited from the page", False, js("document.getElementById('snapshots-error').textContent"))

        # A push shows its upload's progress; its task, once its job is cancelled, is deleted from the page.
        document = browser.send("DOM.getDocument")["root"]["nodeId"]
        node = browser.send("DOM.querySelector", {"nodeId": document, "selector": "#push-files"})["nodeId"]
        files = [os.path.join(dataset, "data.jsonl")] + [os.path.join(dataset, "images", f"{i}.png") for i in range(40)]
        browser.send("DOM.setFileInputFiles", {"nodeId": node, "files": files})
        browser.wait_for("document.getElementById('push-summary').textContent.includes('40 items')", what="the push summary")
        js("document.getElementById('push-name').value = 'webcheck'")
        js("document.getElementById('push-form').requestSubmit()")
        browser.wait_for("document.getElementById('push-result').textContent.startsWith('Accepted')"
                         " || document.getElementById('push-error').textContent !== ''", what="the push")
        bar = js("(() => { const b = document.getElementById('push-upload'); return [b.hidden, b.value, b.max]; })()")
        check("a push shows its upload's progress", not bar[0] and bar[2] > 1000 and bar[1] == bar[2], f"hidden, sent, total = {bar}")
        job = js("document.getElementById('push-result').textContent").split("job ")[-1].rstrip(".")
        browser.wait_for(f"!!document.querySelector('#jobs-body button[aria-label=\"Cancel job {job}\"]')", what="the job's Cancel button")
        js("refreshSnapshots()")
        browser.wait_for("document.getElementById('tasks-body').textContent.includes('webcheck')", what="the pushed task's row")
        check("a task whose job is running offers no Delete (the server would refuse it)",
              not js("!!document.querySelector('#tasks-body button[aria-label=\"Delete task webcheck\"]')"))
        js(f"document.querySelector('#jobs-body button[aria-label=\"Cancel job {job}\"]').click()")
        browser.wait_for(f"fetch('/v1/jobs/{job}').then(r => r.json()).then(j => j.state === 'failed')", timeout=120, what="the cancellation")
        js("refreshSnapshots()")
        browser.wait_for("!!document.querySelector('#tasks-body button[aria-label=\"Delete task webcheck\"]')", what="the task's Delete button")
        js("window.confirm = () => true")
        js("document.querySelector('#tasks-body button[aria-label=\"Delete task webcheck\"]').click()")
        try:
            browser.wait_for("!document.getElementById('tasks-body').textContent.includes('webcheck')", timeout=10, what="the deletion")
            gone = js("fetch('/v1/tasks').then(r => r.json()).then(d => !d.tasks.some(t => t.name === 'webcheck'))")
            check("a task no snapshot learned is deleted from the page", gone)
        except TimeoutError:
            check("a task no snapshot learned is deleted from the page", False, js("document.getElementById('tasks-error').textContent"))

        # At phone width nothing makes the page scroll sideways.
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        time.sleep(0.3)
        width = js("document.documentElement.scrollWidth")
        check("at phone width (390 px) the page does not scroll sideways", width <= 390, f"{width} px wide")
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})

        if args.screenshot:
            height = int(browser.send("Page.getLayoutMetrics")["cssContentSize"]["height"]) + 1
            browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.3)
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
            with open(args.screenshot, "wb") as file:
                file.write(base64.b64decode(shot["data"]))
    finally:
        browser.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{sum(results)}/{len(results)} checks passed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
