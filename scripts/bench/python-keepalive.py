"""Python keep-alive throughput, one thread, calls back to back for a fixed time.

  python-keepalive.py raw URL METHOD SECONDS       baseline (f): http.client with keep-alive,
                                                   JSON-RPC over one connection, nothing else
  python-keepalive.py decapod ROOT METHOD SECONDS  Decapod's Python client (clients/python),
                                                   connected to the root's running server

Prints one JSON line: {"calls": N, "seconds": S, "per_s": N/S}.
"""

import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit


def raw_caller(url, method):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    ids = [0]

    def call():
        ids[0] += 1
        body = json.dumps({"jsonrpc": "2.0", "id": ids[0], "method": method, "params": {}}).encode("utf-8")
        conn.request("POST", "/rpc", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = json.loads(resp.read().decode("utf-8"))
        if "result" not in answer:
            raise RuntimeError("unexpected answer: {!r}".format(answer))
        return answer["result"]

    return call, conn.close


def decapod_caller(root, method):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "clients", "python"))
    sys.dont_write_bytecode = True  # no __pycache__ in the checkout's package folder
    from decapod_client import Client

    client = Client(root, spawn=False)
    return (lambda: client.call(method)), client.close


def main():
    kind, target, method, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    call, close = (raw_caller if kind == "raw" else decapod_caller)(target, method)
    for _ in range(50):  # warm-up: connect, first allocations
        call()
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        call()
        calls += 1
        if calls % 16 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    close()
    print(json.dumps({"calls": calls, "seconds": elapsed, "per_s": calls / elapsed}))


if __name__ == "__main__":
    main()
