#!/usr/bin/env python3
"""Smoke check of a running ReconService: health, the viewer page, metrics, and one request of each kind.

Every POST endpoint is called with each request example of its OpenAPI document (/swagger/v1/swagger.json, "a working
example body for every endpoint"), so endpoints added later are checked without changing this file. Each request is
sent twice: the second must give the same body; the X-Cache header is reported when the service sends one.

    python3 deploy/smoke.py http://127.0.0.1:8080 [--api-key KEY]

Standard library only. Prints one line per check and exits 1 if any failed.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def call(url, method="GET", body=None, headers=None, timeout=120):
    request = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read(), time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    auth = {"X-API-Key": args.api_key} if args.api_key else {}
    failures = []

    def check(name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not ok:
            failures.append(name)

    status, _, body, _ = call(base + "/health/ready")
    check("GET /health/ready", status == 200, f"{status} {body.decode(errors='replace')[:40]}")
    status, headers, body, _ = call(base + "/")
    page = body.decode(errors="replace")
    check("GET / (viewer page)", status == 200 and "js/main.js" in page, f"{status}, {len(body)} bytes, {headers.get('Content-Type')}")
    status, _, body, _ = call(base + "/js/main.js")
    check("GET /js/main.js", status == 200 and len(body) > 0, f"{status}, {len(body)} bytes")
    status, _, body, _ = call(base + "/v1/metrics", headers=auth)
    check("GET /v1/metrics (JSON)", status == 200 and "liveTensors" in json.loads(body or b"{}"), str(status))
    status, _, body, _ = call(base + "/v1/model", headers=auth)
    check("GET /v1/model", status == 200, str(status) + (" " + json.dumps(json.loads(body).get("config")) if status == 200 else ""))

    status, _, body, _ = call(base + "/swagger/v1/swagger.json", headers=auth)
    if status != 200:
        check("GET /swagger/v1/swagger.json", False, str(status))
        return 1
    document = json.loads(body)
    kinds = 0
    for path, operations in document["paths"].items():
        post = operations.get("post")
        if post is None:
            continue
        examples = post.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples", {})
        if not examples:
            check(f"POST {path}", False, "no request example in the OpenAPI document")
            continue
        for example_name, example in examples.items():
            target = path
            for parameter in post.get("parameters", []):
                if parameter.get("in") == "path":
                    value = next(iter(parameter.get("examples", {}).values()), {}).get("value") or parameter.get("example")
                    target = target.replace("{" + parameter["name"] + "}", str(value))
            payload = json.dumps(example["value"]).encode()
            headers = {"Content-Type": "application/json", **auth}
            first = call(base + target, "POST", payload, headers)
            second = call(base + target, "POST", payload, headers)
            kinds += 1
            cache = [h.get("X-Cache") for _, h, _, _ in (first, second)]
            same = first[2] == second[2]
            check(f"POST {target} ({example_name})", first[0] == 200 and second[0] == 200 and same,
                  f"{first[0]}/{second[0]}, {len(first[2])} bytes, {first[3] * 1000:.0f}/{second[3] * 1000:.0f} ms, "
                  f"same body {same}, X-Cache {cache[0] or '-'}/{cache[1] or '-'}")
    check("request kinds exercised", kinds >= 10, str(kinds))
    # After the requests, so the engine's series (time by operation, queue waits) are there too.
    status, _, body, _ = call(base + "/metrics", headers=auth)
    text = body.decode(errors="replace")
    names = sorted({line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("recon_")})
    check("GET /metrics (Prometheus)", status == 200 and "recon_queue_queued" in text and "http_server_request_duration_seconds" in text,
          f"{status}, recon_* series: {', '.join(names) or 'none'}")
    print(f"{'all checks passed' if not failures else f'{len(failures)} check(s) failed: ' + ', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
