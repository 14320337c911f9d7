"""Asks /healthz on a new connection each time, as the kubelet does, until its standard input
closes; then prints, as JSON, when it asked, how long each answer took and its status. Run as
its own process (`python healthz_probe.py HOST PORT [EVERY_S]`), so that what is measured is
the server's event loop, not a client sharing its interpreter. Used by tests/board/test_crowd.py
and bench/board_bench.py."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time

SCRIPT = __file__


def main(host: str, port: int, every_s: float) -> None:
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    waits: list[tuple[float, float, int]] = []
    print("ready", flush=True)
    while not stop.is_set():
        started = time.perf_counter()
        connection = http.client.HTTPConnection(host, port, timeout=600)
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        answer.read()
        connection.close()
        waits.append((started, time.perf_counter() - started, answer.status))
        time.sleep(every_s)
    print(json.dumps(waits))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.005)
