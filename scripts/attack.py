#!/usr/bin/env python3
"""Replays the hardening corpus against a running `mneme serve` on loopback and prints a table.

    .build/release/mneme serve --data /tmp/attack-data --port 18080 &
    python3 scripts/attack.py --port 18080 --pid $!

Each case sends one kind of hostile or careless request and records the status, the time it took, whether
the server still answers a valid query afterwards, and (with --pid) the server's resident and peak memory.
Only the standard library; only loopback. Every loop is bounded in count and time.
"""
import argparse
import base64
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib


def png(width, height, rgb=(200, 30, 30)):
    """A valid RGB PNG of one colour."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def jpeg_header_claiming(width, height):
    """A tiny, truncated JPEG whose frame header claims width × height pixels."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + sof + b"\xff\xd9"


class Server:
    def __init__(self, port, pid):
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.pid = pid

    def request(self, method, path, body=None, headers=None, timeout=60):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if body is not None and not isinstance(body, bytes):
            request.add_header("Content-Type", "application/json")
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read(), time.monotonic() - start
        except urllib.error.HTTPError as error:
            return error.code, error.read(), time.monotonic() - start
        except Exception as error:  # connection refused or reset: the server may be gone
            return None, str(error).encode(), time.monotonic() - start

    def memory_mb(self):
        if not self.pid:
            return None, None
        try:
            fields = dict(line.split(":", 1) for line in open(f"/proc/{self.pid}/status"))
        except FileNotFoundError:
            return None, None
        return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def valid_query():
    return {"image": base64.b64encode(png(64, 64)).decode(), "question": "What colour is the circle?", "max_new_tokens": 4}


def push_body(name, question="What colour is it?", items=4):
    image = base64.b64encode(png(32, 32)).decode()
    return {"name": name, "items": [{"image": image, "question": question, "answer": "red"} for _ in range(items)]}


def slow_connections(port, count, seconds):
    """`count` connections that send a header line every second, for `seconds`."""
    sockets = []
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            sockets.append(s)
        except OSError:
            break
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for s in sockets:
            try:
                s.sendall(b"X-Trickle: 1\r\n")
            except OSError:
                pass
        time.sleep(1)
    for s in sockets:
        s.close()
    return len(sockets)


def held_uploads(port, count, declared, sent, seconds):
    """`count` uploads that declare `declared` bytes, send `sent` of them and hold the connection for `seconds`."""
    sockets = []
    chunk = b"a" * (1 << 20)
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(f"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {declared}\r\n\r\n".encode())
            for _ in range(sent >> 20):
                s.sendall(chunk)
            sockets.append(s)
        except OSError:
            break  # refused (503 and closed) or cut: the budget held
    time.sleep(seconds)
    for s in sockets:
        s.close()
    return len(sockets)


def answer_during(server, seconds):
    answered, failed, worst = 0, 0, 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, _, elapsed = server.request("POST", "/v1/answer", valid_query(), timeout=10)
        answered += status == 200
        failed += status != 200
        worst = max(worst, elapsed)
    return answered, failed, worst


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--pid", type=int, help="the server's process id, to read its memory from /proc")
    parser.add_argument("--slow", type=int, default=200, help="slow connections in the trickle case")
    parser.add_argument("--slow-seconds", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=32, help="held-open uploads in the large-upload case")
    args = parser.parse_args()
    server = Server(args.port, args.pid)
    # Idle memory of a server that has answered (the answer path's buffers exist), as it would be in service.
    server.request("POST", "/v1/answer", valid_query())
    time.sleep(1)
    idle_rss, _ = server.memory_mb()
    cases = [
        ("push: question of 1,000 letters", lambda: server.request("POST", "/v1/tasks", push_body("long", "a" * 1000))),
        ("push: question of 1,000 CJK characters", lambda: server.request("POST", "/v1/tasks", push_body("cjk", "文" * 1000))),
        ("answer: one grapheme of 1.6 M combining marks", lambda: server.request(
            "POST", "/v1/answer", {**valid_query(), "question": "a" + "\u0301" * 1_600_000})),
        ("push: 1,000 JPEGs claiming 4000×4000", lambda: server.request("POST", "/v1/tasks", {
            "name": "claims", "items": [{"image": base64.b64encode(jpeg_header_claiming(4000, 4000)).decode(),
                                         "question": "What?", "answer": "red"}] * 1000})),
        ("cross-site text/plain rollback", lambda: server.request(
            "POST", "/v1/rollback", b"{}", {"Content-Type": "text/plain", "Origin": "https://attacker.example"})),
        ("DNS-rebound Host push", lambda: server.request("POST", "/v1/tasks", push_body("rebound"), {"Host": "attacker.example"})),
        ("duplicate name with a trailing space", lambda: (server.request("POST", "/v1/tasks", push_body("dupseq")),
                                                         server.request("POST", "/v1/tasks", push_body("dupseq ")))[1]),
        ("duplicate name with non-breaking spaces", lambda: server.request("POST", "/v1/tasks", push_body("\u00a0dupseq\u00a0"))),
        ("multipart max_new_tokens 0", lambda: server.request(
            "POST", "/v1/answer", b"--b\r\nContent-Disposition: form-data; name=\"question\"\r\n\r\nWhat?\r\n--b\r\n"
            b"Content-Disposition: form-data; name=\"max_new_tokens\"\r\n\r\n0\r\n--b\r\nContent-Disposition: form-data; "
            b"name=\"image\"; filename=\"a.png\"\r\n\r\n" + png(8, 8) + b"\r\n--b--\r\n",
            {"Content-Type": "multipart/form-data; boundary=b"})),
    ]
    rows = []
    for label, send in cases:
        status, body, seconds = send()
        after, _, _ = server.request("POST", "/v1/answer", valid_query())
        rss, peak = server.memory_mb()
        code = ""
        try:
            code = json.loads(body).get("error", {}).get("code", "")
        except (ValueError, AttributeError):
            pass
        rows.append((label, status, code, seconds, after, rss, peak))

    # Slow connections: valid requests must keep answering while they are held open.
    holder = threading.Thread(target=slow_connections, args=(args.port, args.slow, args.slow_seconds))
    holder.start()
    time.sleep(2)
    answered, failed, worst = answer_during(server, args.slow_seconds - 4)
    holder.join()
    rss, peak = server.memory_mb()
    rows.append((f"{args.slow} trickling connections held open", None, f"{answered} answered, {failed} failed", worst, None, rss, peak))

    # Large uploads: each declares 63 MB, sends 40 MB and stalls; valid requests must keep answering.
    holder = threading.Thread(target=held_uploads, args=(args.port, args.uploads, 63 << 20, 40 << 20, 20))
    holder.start()
    time.sleep(2)
    answered, failed, worst = answer_during(server, 12)
    holder.join()
    rss, peak = server.memory_mb()
    rows.append((f"{args.uploads} held-open uploads of 40 of 63 MB", None, f"{answered} answered, {failed} failed", worst, None, rss, peak))

    print(f"idle resident memory (after one query): {idle_rss} MB" if idle_rss else "idle memory unknown (no --pid)")
    print("| case | status | code | seconds | valid query after | RSS MB | peak MB |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for label, status, code, seconds, after, rss, peak in rows:
        print(f"| {label} | {status if status is not None else '–'} | {code} | {seconds:.2f} | {after if after is not None else '–'} | "
              f"{rss if rss is not None else '–'} | {peak if peak is not None else '–'} |")


if __name__ == "__main__":
    main()
