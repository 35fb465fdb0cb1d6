"""A recorded Kubernetes cluster for scripts/bench: serves one fixtures/k8s/<scenario> directory over
HTTP the way the API server answers the reads unstuck makes (objects, lists filtered by equality label
selectors and involvedObject field selectors, pod logs, access reviews), each answer delayed by a fixed
time, so `doctor-depth-kube` measures round trips with Kubernetes in the path.

The test suite's server is tests/it/harness/kube_api.rs (selectors, RBAC, faults); this one only needs
to answer the happy path quickly and faithfully enough for a timing.
"""

import http.server
import json
import os
import re
import threading
import time
import urllib.parse

FILES = {
    ("batch", "jobs"): "jobs.json",
    ("", "pods"): "pods.json",
    ("", "events"): "events.json",
    ("", "nodes"): "nodes.json",
    ("", "resourcequotas"): "resourcequotas.json",
    ("", "limitranges"): "limitranges.json",
    ("", "serviceaccounts"): "serviceaccounts.json",
}


def load(directory, replace):
    objects = {}
    for key, name in FILES.items():
        path = os.path.join(directory, name)
        if os.path.exists(path):
            text = open(path).read()
            for old, new in replace.items():
                text = text.replace(old, new)
            objects[key] = json.loads(text).get("items", [])
    return objects


def labels_match(obj, selector):
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in filter(None, selector.split(",")):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*$", term)
        if m:
            key, op, value = m.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif " in " in term:
            key, values = term.split(" in ", 1)
            if labels.get(key.strip()) not in [v.strip() for v in values.strip(" ()").split(",")]:
                return False
    return True


def fields_match(obj, selector):
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        node = obj
        for part in key.split("."):
            node = (node or {}).get(part) if isinstance(node, dict) else None
        if str(node or "") != value:
            return False
    return True


def handler(directory, delay, replace):
    objects = load(directory, replace)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body, content_type="application/json"):
            time.sleep(delay)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            review = json.loads(self.rfile.read(length) or b"{}")
            review["status"] = {"allowed": True, "reason": "recorded cluster"}
            self.answer(201, review)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            parts = [p for p in url.path.split("/") if p]
            group = "" if parts[0] == "api" else parts[1]
            rest = parts[2:] if parts[0] == "api" else parts[3:]
            namespace = None
            if len(rest) >= 3 and rest[0] == "namespaces":
                namespace, rest = rest[1], rest[2:]
            resource, name, sub = (rest + [None, None])[:3]
            items = [o for o in objects.get((group, resource), [])
                     if namespace is None or o.get("metadata", {}).get("namespace") == namespace]
            if sub == "log":
                pod_log = os.path.join(directory, "logs", namespace or "", name or "",
                                       query.get("container", "") + (".previous" if query.get("previous") == "true" else "") + ".log")
                if os.path.exists(pod_log):
                    return self.answer(200, open(pod_log, "rb").read(), "text/plain")
                return self.answer(400, {"kind": "Status", "code": 400, "message": "container has no log"})
            if name:
                found = [o for o in items if o.get("metadata", {}).get("name") == name]
                if found:
                    return self.answer(200, found[0])
                return self.answer(404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": f"{resource} \"{name}\" not found"})
            items = [o for o in items if labels_match(o, query.get("labelSelector", "")) and fields_match(o, query.get("fieldSelector", ""))]
            self.answer(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})

    return Handler


def serve(directory, delay, replace):
    """Starts the server on a free loopback port; returns (server, url)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(directory, delay, replace))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
