#!/usr/bin/env python3
"""Probes for deploy/cluster-test.sh: the drain of one replica, the shared cache across replicas, Redis down.

    cluster_probe.py drain URL PID [--busy N] [--log F]  queue N large requests at URL, SIGTERM PID, watch readiness and a
                                                   new request; F: the replica's log, for what it held at the signal
    cluster_probe.py shared-cache URL_A URL_B      one new request to A, the same to B: B should answer X-Cache: hit
    cluster_probe.py redis-down URL [URL ...]      new requests through the first URL; then each replica's recon_cache_errors_total

Each prints `PROBE <name> <PASS|FAIL> <what was seen>` lines and exits 0; the harness decides. Standard library only.
"""
import base64
import http.client
import json
import os
import random
import re
import signal
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def call(url, body=None, timeout=60.0):
    """(status, headers, body bytes) or ("refused", {}, error text) when no HTTP answer came."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
        return "refused", {}, str(error).encode()


def d_model(url):
    status, _, body = call(url + "/v1/model")
    return json.loads(body)["config"]["dModel"] if status == 200 else 128


def residual(tokens, width, seed):
    rng = random.Random(seed)
    raw = struct.pack(f"<{tokens * width}f", *(rng.uniform(-1, 1) for _ in range(tokens * width)))
    return {"dtype": "float32", "shape": [tokens, width], "data": base64.b64encode(raw).decode()}


def mlp_request(width, seed, tokens=8):
    return {"residual": residual(tokens, width, seed), "layerIndex": 0, "nodeType": "mlp_neuron", "preOrPostAct": "post"}


def report(name, ok, detail):
    print(f"PROBE {name} {'PASS' if ok else 'FAIL'} {detail}", flush=True)


def drain(url, pid, busy, log_path=None):
    """Queues `busy` large requests, sends SIGTERM, then watches /health/ready and sends one new engine request."""
    width = d_model(url)
    results = [None] * busy
    # logprobs over 64 tokens: [64, n_vocab] values, about a hundred ms each, so some are still running or queued at SIGTERM.
    bodies = [{"residual": residual(64, width, 1_000_000 + i + int(time.time())), "outputEncoding": "base64"} for i in range(busy)]
    finished = [None] * busy

    sent = threading.Semaphore(0)

    def send(i):
        # The whole request is written before the signal (the probe waits for every thread's write below); only then
        # does it count as queued or running at SIGTERM. A thread still starting when the signal lands would rightly get 503.
        target = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        try:
            connection.request("POST", "/v1/logprobs", json.dumps(bodies[i]).encode(), {"Content-Type": "application/json"})
            sent.release()
            response = connection.getresponse()
            response.read()
            results[i] = response.status
            finished[i] = time.monotonic()
        except (ConnectionError, TimeoutError, OSError, http.client.HTTPException) as error:
            results[i] = f"refused ({error})"
            sent.release()
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(busy)]
    for t in threads:
        t.start()
    for _ in range(busy):
        sent.acquire(timeout=30)
    # Written is not yet read: give the server a moment to take every request into its pipeline (a request whose bytes
    # still wait in the socket when the signal lands is a new request to the drain, rightly a 503). The check below
    # requires that some were still unanswered at the signal, so the wait cannot make it pass vacuously.
    time.sleep(0.3)
    signalled = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    seen = []            # (ms after SIGTERM the probe was sent, readiness status)
    new_request = None   # (ms, status, Retry-After) of one new engine request sent while the replica still answered
    while time.monotonic() - signalled < 30:
        ms = int((time.monotonic() - signalled) * 1000)   # when the probe was sent: what it can say about the drain
        status, headers, _ = call(url + "/health/ready", timeout=5)
        seen.append((ms, status))
        if status == 503 and new_request is None:
            s, h, _ = call(url + "/v1/activations", mlp_request(width, 7), timeout=10)
            new_request = (int((time.monotonic() - signalled) * 1000), s, h.get("Retry-After"))
        if status == "refused" and len([1 for _, s in seen[-20:] if s == "refused"]) >= 20:
            break
        time.sleep(0.01)
    for t in threads:
        t.join(timeout=130)

    first = seen[0] if seen else None
    # "At once": the signal takes a moment to reach the host, so a 200 in the first 100 ms is not held against it.
    ready_after = [s for ms, s in seen if s == 200 and ms > 100]
    ready_503 = [ms for ms, s in seen if s == 503]
    summary = ", ".join(f"{s}x{n}" for s, n in collapse([s for _, s in seen]))
    report("drain.readiness", bool(ready_503) and not ready_after,
           f"readiness after SIGTERM: first {first[1] if first else '-'} (sent at {first[0] if first else '-'} ms); sequence {summary}")
    report("drain.new-request", new_request is not None and new_request[1] == 503 and new_request[2] is not None,
           "a new engine request during the drain: " + (f"{new_request[1]} Retry-After {new_request[2]} at {new_request[0]} ms"
                                                        if new_request else "not sent (readiness never answered 503)"))
    open_at_signal = sum(1 for f in finished if f is None or f > signalled)
    # What the replica held at the signal is what it says it waited for ("waiting for N engine requests in flight"): a
    # request whose bytes were still unread then is a new request to the drain and rightly a 503. Each of those N must
    # finish ("Drained in", not "timed out"), the probe's own requests are answered 200 or 503, at least one 200.
    held, drained = None, False
    if log_path:
        time.sleep(0.5)
        with open(log_path, encoding="utf-8", errors="replace") as log:
            text = log.read()
        found = re.findall(r"waiting for (\d+) engine requests in flight", text)
        held = int(found[-1]) if found else None
        drained = "Drained in" in text.split("Draining:")[-1]
        ok = held is not None and held >= 1 and drained and all(r in (200, 503) for r in results) and 200 in results
    else:
        ok = all(r == 200 for r in results) and open_at_signal > 0
    report("drain.in-flight", ok,
           f"{busy} requests sent before SIGTERM, {open_at_signal} unanswered at the signal: " + ", ".join(str(r) for r in results)
           + (f"; the replica held {held} engine requests at the signal and {'drained them' if drained else 'did not drain them'}"
              if log_path else ""))


def collapse(values):
    out = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


def shared_cache(url_a, url_b):
    width = d_model(url_a)
    body = mlp_request(width, random.SystemRandom().randrange(1 << 30), tokens=16)
    a = call(url_a + "/v1/activations", body)
    # A's answer reaches Redis in a background write just after it is sent: give it a moment before asking B.
    time.sleep(0.2)
    b = call(url_b + "/v1/activations", body)
    ok = a[0] == 200 and b[0] == 200 and a[2] == b[2] and b[1].get("X-Cache") == "hit"
    report("shared-cache", ok, f"replica A {a[0]} X-Cache {a[1].get('X-Cache', '(none)')}; then replica B {b[0]} "
                               f"X-Cache {b[1].get('X-Cache', '(none)')}; same body {a[2] == b[2]}")


def prometheus_sum(url, name):
    status, _, body = call(url + "/metrics")
    if status != 200:
        return None
    total = 0.0
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def redis_down(urls):
    width = d_model(urls[0])
    before = [prometheus_sum(u, "recon_cache_errors_total") for u in urls[1:]]
    statuses = []
    for i in range(10):
        status, headers, _ = call(urls[0] + "/v1/activations", mlp_request(width, random.SystemRandom().randrange(1 << 30)))
        statuses.append(status)
    # The Prometheus exporter answers scrapes from a copy up to 300 ms old (its ScrapeResponseCacheDurationMilliseconds):
    # ten small requests can finish inside that window, and the second scrape would then repeat the first.
    time.sleep(1.0)
    after = [prometheus_sum(u, "recon_cache_errors_total") for u in urls[1:]]
    report("redis-down.answers", all(s == 200 for s in statuses), "10 new requests with Redis stopped: " + ", ".join(map(str, statuses)))
    counted = sum((a or 0) - (b or 0) for a, b in zip(after, before))
    report("redis-down.counted", counted > 0, f"recon_cache_errors_total rose by {counted:g} across the replicas (before {before}, after {after})")


def main(argv):
    if len(argv) >= 3 and argv[0] == "drain":
        busy = int(argv[argv.index("--busy") + 1]) if "--busy" in argv else 6
        drain(argv[1].rstrip("/"), int(argv[2]), busy, argv[argv.index("--log") + 1] if "--log" in argv else None)
    elif len(argv) == 3 and argv[0] == "shared-cache":
        shared_cache(argv[1].rstrip("/"), argv[2].rstrip("/"))
    elif len(argv) >= 3 and argv[0] == "redis-down":
        redis_down([u.rstrip("/") for u in argv[1:]])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
