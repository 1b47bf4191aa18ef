#!/usr/bin/env python3
"""The Python client as a worker of the .NET transport benchmark (bench/ReconService.Bench, --transport): it reads one
JSON command per line on stdin and answers one JSON line on stdout, so that the benchmark can interleave Python client
calls with in-process calls, .NET client calls and bare-transport exchanges in the same rounds.

Commands:
  {"cmd": "load", "name": N, "file": F}       read tensor "residual" of safetensors file F (written by the benchmark)
  {"cmd": "call", "transport": "json" | "safetensors", "path": "/v1/activations", "fields": {...}, "residual": N}
                                               one call through reconclient: {"ms": total, "decode_ms": decode alone}
                                               or {"error": "..."}; with "expect": K, an answer without field K is an error
  {"cmd": "decode", "bytes": B}               median µs to decode a B-byte float32 safetensors answer, no HTTP
  {"cmd": "quit"}"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from reconclient import ReconClient, ReconError, TransportError, decode_answer, safetensors  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    clients = {t: ReconClient(args.url, transport=t, timeout=600, retries=0) for t in ("json", "safetensors")}
    last = {}
    for t, c in clients.items():
        c.session.hooks["response"].append(lambda r, *a, t=t, **k: last.__setitem__(t, (r.headers.get("Content-Type", ""), r.content)))
    residuals = {}
    for line in sys.stdin:
        command = json.loads(line)
        kind = command["cmd"]
        if kind == "quit":
            break
        if kind == "load":
            with open(command["file"], "rb") as f:
                residuals[command["name"]] = safetensors.unpack(f.read())[0]["residual"]
            reply = {"ok": True}
        elif kind == "call":
            transport = command["transport"]
            start = time.perf_counter()
            try:
                answer = clients[transport].call(command["path"], command["fields"], {"residual": residuals[command["residual"]]})
            except (ReconError, TransportError) as e:
                reply = {"error": str(e)[:300]}
            else:
                if command.get("expect") and command["expect"] not in answer:
                    print(json.dumps({"error": f"the answer has no {command['expect']}"}), flush=True)
                    continue
                total = time.perf_counter() - start
                media, body = last[transport]
                start = time.perf_counter()
                decode_answer(media, body)
                reply = {"ms": total * 1e3, "decode_ms": (time.perf_counter() - start) * 1e3}
        elif kind == "decode":
            count = command["bytes"] // 4
            body = bytes(safetensors.pack({"activations": np.ones(count, np.float32)}, {"json": '{"activations":{"tensor":"activations"}}'}))
            samples = []
            for _ in range(200):
                start = time.perf_counter()
                decode_answer(safetensors.MEDIA_TYPE, body)
                samples.append(time.perf_counter() - start)
            reply = {"us": statistics.median(samples) * 1e6}
        else:
            reply = {"error": f"unknown command {kind}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
