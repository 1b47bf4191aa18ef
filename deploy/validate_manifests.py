#!/usr/bin/env python3
"""Checks docker-compose.yml and deploy/k8s/*.yaml: they parse, and their parts agree with each other and the service.

    python3 deploy/validate_manifests.py        (needs python3-yaml)

What is checked: every document has apiVersion/kind/metadata.name; the Deployment's selector matches its pods, its
probes hit /health/ready and /health/live on a declared port, it has memory requests and limits, a preStop hook, a
grace period longer than preStop plus the drain timeout, and runs as the image's non-root user; the Service, the
PodDisruptionBudget and the HorizontalPodAutoscaler point at those pods or that Deployment; kustomization.yaml lists
every manifest; compose's replicas reach Redis by its service name, stop after the drain timeout, and mount nginx
files that exist. Prints one line per check; exits 1 if any failed.
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(name)


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def seconds(value):
    match = re.fullmatch(r"(\d+)(s|m)?", str(value))
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1) if match else None


def kubernetes():
    folder = ROOT / "deploy" / "k8s"
    documents = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            if path.name == "kustomization.yaml":
                listed = set(doc.get("resources", []))
                manifests = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
                check("kustomization lists every manifest", listed == manifests, f"{sorted(listed)} vs {sorted(manifests)}")
                continue
            ok = all(k in doc for k in ("apiVersion", "kind")) and doc.get("metadata", {}).get("name")
            check(f"{path.name}: {doc.get('kind')} {doc.get('metadata', {}).get('name')} has apiVersion, kind, name", bool(ok))
            documents[(doc["kind"], doc["metadata"]["name"])] = doc

    deployment = documents.get(("Deployment", "reconservice"))
    check("Deployment reconservice exists", deployment is not None)
    if deployment is None:
        return
    spec = deployment["spec"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    check("Deployment selector matches its pod labels", selects(spec["selector"]["matchLabels"], labels))
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    env = env_of(container)
    ready, live = container.get("readinessProbe", {}), container.get("livenessProbe", {})
    check("readiness probe GET /health/ready on a declared port",
          ready.get("httpGet", {}).get("path") == "/health/ready" and ready["httpGet"].get("port") in ports)
    check("liveness probe GET /health/live on a declared port",
          live.get("httpGet", {}).get("path") == "/health/live" and live["httpGet"].get("port") in ports)
    check("container port is the service's ASPNETCORE_HTTP_PORTS", str(ports.get("http")) == env.get("ASPNETCORE_HTTP_PORTS"),
          f"{ports.get('http')} vs {env.get('ASPNETCORE_HTTP_PORTS')}")
    resources = container.get("resources", {})
    check("memory request and limit, CPU request (the autoscaler's base)",
          all(k in resources.get("requests", {}) for k in ("cpu", "memory")) and "memory" in resources.get("limits", {}))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = int(pre_stop[1]) if len(pre_stop) == 2 and pre_stop[0] == "sleep" else None
    drain = int(env.get("Drain__TimeoutSeconds") or 0)
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    check("preStop sleep, then the drain, fit in the grace period", sleep is not None and drain > 0 and grace > sleep + drain,
          f"preStop {sleep} s + Drain__TimeoutSeconds {drain} s < terminationGracePeriodSeconds {grace} s")
    security = pod["spec"].get("securityContext", {})
    check("runs as the image's non-root user 1654", security.get("runAsNonRoot") is True and security.get("runAsUser") == 1654)
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    check("read-only root file system with a writable /tmp",
          container.get("securityContext", {}).get("readOnlyRootFilesystem") is True and "/tmp" in mounts)

    service = documents.get(("Service", "reconservice"))
    check("Service selects the Deployment's pods", service is not None and selects(service["spec"]["selector"], labels))
    if service:
        target = service["spec"]["ports"][0]["targetPort"]
        check("Service targetPort is a container port", target in ports or target in ports.values(), str(target))
    pdb = next((d for (k, _), d in documents.items() if k == "PodDisruptionBudget"), None)
    check("PodDisruptionBudget selects the pods and leaves a replica to drain",
          pdb is not None and selects(pdb["spec"]["selector"]["matchLabels"], labels)
          and pdb["spec"].get("minAvailable", 0) < spec.get("replicas", 1))
    hpa = next((d for (k, _), d in documents.items() if k == "HorizontalPodAutoscaler"), None)
    check("HorizontalPodAutoscaler scales the Deployment, min <= max, min >= PDB minAvailable + 1",
          hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == "reconservice"
          and hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
          and hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
          and hpa["spec"]["minReplicas"] >= (pdb["spec"].get("minAvailable", 0) + 1 if pdb else 1))
    redis_host = (env.get("Cache__Redis") or "").split(":")[0]
    check("Cache__Redis names the Redis Service", ("Service", redis_host) in documents, redis_host)


def compose():
    path = ROOT / "docker-compose.yml"
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services", {})
    check("compose has reconservice, nginx and redis", {"reconservice", "nginx", "redis"} <= set(services), str(sorted(services)))
    service = services.get("reconservice", {})
    env = service.get("environment", {})
    replicas = str(service.get("deploy", {}).get("replicas", "1"))
    check("compose runs several replicas", replicas.startswith("${RECON_REPLICAS:-") or replicas.isdigit() and int(replicas) > 1, replicas)
    check("compose replicas use the redis service", str(env.get("Cache__Redis", "")).split(":")[0] in services, str(env.get("Cache__Redis")))
    check("compose replicas are not published directly (nginx in front)", "ports" not in service)
    grace, drain = seconds(service.get("stop_grace_period", "10s")), int(env.get("Drain__TimeoutSeconds", 0))
    check("compose stop_grace_period is longer than the drain timeout", grace is not None and grace > drain > 0, f"{grace} s vs {drain} s")
    for volume in services.get("nginx", {}).get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            check(f"nginx mount {source} exists", (ROOT / source).is_file())


kubernetes()
compose()
print("manifests: all checks passed" if not failures else f"manifests: {len(failures)} check(s) failed")
sys.exit(1 if failures else 0)
