"""Benchmarks for unstuck (SPEC 10), against a real local Prefect server started by scripts/bench.

  slots-vs-prefect  `unstuck work-pool slots P` against `prefect work-pool slots P` on the same server,
                    whole process, alternately, median of several runs each, and the ratio (target: >= 20x).
  slots-offline     the same when the pool's worker is offline and every Running holder must be judged
                    (target: >= 20x; holder liveness in a bounded number of requests).
  pairs             `unstuck doctor R` against `prefect flow-run inspect R`, and `unstuck work-queue slots`
                    against `prefect work-queue inspect`, side by side.
  slots-scale       a pool with 10,000 slot holders across 50 queues: wall time and peak RSS of
                    `unstuck work-pool slots` against the server's own answer for the same data (one
                    `concurrency_status` read of the pool; target: within 1.15x, <= 100 MB), with the
                    worker alive and then offline, and Prefect's CLI for comparison.
  doctor-depth      every request delayed by D = 200 ms through a proxy: `unstuck doctor` wall time
  doctor-depth-kube the same for a Kubernetes run, the recorded cluster delayed by D too
  doctor-depth-ecs  the same for an ECS run, moto delayed by D too
                    (target: <= 4*D + 200 ms).
  version           `unstuck --version` (target: <= 10 ms), and the binary's size.
  build             a clean release build on this machine's cores (not in the default set: minutes).
  health-scale      `unstuck health` over 200 pools (target: <= 5 s), when the binary has `health`.

Only the Python standard library is used; run it with the Prefect virtualenv's interpreter.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import forward  # noqa: E402  (the forwarding proxy the tests use too)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_fixture  # noqa: E402  (a recorded cluster served with a delay)


def api(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    # A SQLite server answers 503 when writers pile up: retry patiently.
    for attempt in range(40):
        req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                text = resp.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == 39:
                raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:200]!r}")
            time.sleep(min(2.0, 0.1 * (attempt + 1)))


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_pool(base, prefix, queues=1, limit=None):
    name = unique(prefix)
    api(base, "POST", "/work_pools/", {"name": name, "type": "process", **({"concurrency_limit": limit} if limit else {})})
    flow = api(base, "POST", "/flows/", {"name": unique("benchflow")})
    deployments = []
    for i in range(queues):
        q = "default" if i == 0 else f"q{i:02d}"
        if i:
            api(base, "POST", f"/work_pools/{name}/queues", {"name": q})
        dep = api(base, "POST", "/deployments/", {
            "name": unique("dep"), "flow_id": flow["id"], "work_pool_name": name,
            "work_queue_name": q, "entrypoint": "flows.py:hello",
        })
        deployments.append(dep["id"])
    return name, deployments


def keep_alive(base, pool, worker, stop, interval=30):
    """Heartbeats every third of `interval` until `stop` is set, as a running worker does."""
    while True:
        api(base, "POST", f"/work_pools/{pool}/workers/heartbeat", {"name": worker, "heartbeat_interval_seconds": interval})
        if stop.wait(interval / 3):
            return


def create_runs(base, pool, deployment_ids, per_deployment, state="RUNNING", threads=6, stop=None, interval=30):
    """Runs as a live Prefect 3 worker leaves them: the worker keeps heart-beating (until the benchmark
    ends, or `stop` is set: then it goes offline after three missed intervals), and labels each run it
    claims."""
    worker = unique("bench-worker")
    stop = stop or threading.Event()
    threading.Thread(target=keep_alive, args=(base, pool, worker, stop, interval), daemon=True).start()
    jobs = [d for d in deployment_ids for _ in range(per_deployment)]
    body = {"state": {"type": state}}

    def one(d):
        run = api(base, "POST", f"/deployments/{d}/create_flow_run", body)
        api(base, "PATCH", f"/flow_runs/{run['id']}/labels", {"prefect.worker.name": worker, "prefect.worker.type": "process"})

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, jobs))
    return len(jobs)


def timed(cmd, env, runs, measure_rss=False, warm_up=True):
    """Whole-process wall times (seconds) and peak RSS (MiB, via GNU time when asked and available),
    after one untimed warm-up run (the server's first answers to a new query are slower)."""
    walls, rss = [], []
    gnu_time = shutil.which("time") if measure_rss else None
    if warm_up:
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(runs):
        full = ([gnu_time, "-f", "%M"] if gnu_time else []) + cmd
        started = time.perf_counter()
        p = subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - started)
        if p.returncode not in (0, 1, 2):
            raise RuntimeError(f"{cmd} exited {p.returncode}: {p.stderr[-500:]}")
        if gnu_time:
            kb = [int(x) for x in re.findall(r"^(\d+)$", p.stderr, re.M)]
            if kb:
                rss.append(kb[-1] / 1024)
    return walls, rss


def paired(ours, theirs, env, runs):
    """Wall times of two commands run alternately, `runs` times each after a warm-up of each, so that
    the machine's and the server's load weigh on both alike."""
    timed(ours, env, 0)
    timed(theirs, env, 0)
    a, b = [], []
    for _ in range(runs):
        a += timed(ours, env, 1, warm_up=False)[0]
        b += timed(theirs, env, 1, warm_up=False)[0]
    return a, b


def fmt(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--unstuck", required=True)
    ap.add_argument("--prefect", required=True)
    ap.add_argument("--runs", type=int, default=10, help="repetitions per measurement")
    ap.add_argument("--holders", type=int, default=10_000)
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--scale-pool", help="slots-scale on this pool of the server (built by an earlier run) instead of a new one")
    ap.add_argument("--delay", type=float, default=0.2, help="per-request delay for doctor-depth (s)")
    ap.add_argument("--pools", type=int, default=200, help="pools for health-scale")
    ap.add_argument("--only", nargs="*", help="run only these benchmarks")
    ap.add_argument("--moto-url", help="moto's AWS server, for doctor-depth-ecs")
    ap.add_argument("--moto-python", help="the moto virtualenv's python (it has boto3), for doctor-depth-ecs")
    args = ap.parse_args()
    base = args.api_url.rstrip("/")
    home = tempfile.mkdtemp(prefix="unstuck-bench-home-")
    env = {**os.environ, "PREFECT_API_URL": base, "PREFECT_HOME": home, "NO_COLOR": "1", "NO_PROXY": "127.0.0.1,localhost"}
    env.pop("PREFECT_API_KEY", None)
    want = lambda name: not args.only or name in args.only
    results = {}

    if want("version"):
        walls, _ = timed([args.unstuck, "--version"], env, max(args.runs, 20))
        results["version"] = statistics.median(walls)
        size = os.path.getsize(args.unstuck) / 2**20
        print(f"version: unstuck --version median {fmt(results['version'])} over {len(walls)} runs (target <= 10 ms); "
              f"binary {size:.1f} MiB")

    if args.only and "build" in args.only:
        # A clean release build in a scratch target directory, on every core of this machine.
        target = tempfile.mkdtemp(prefix="unstuck-bench-build-")
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        t0 = time.perf_counter()
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=root, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": target})
        print(f"build: clean release build {fmt(time.perf_counter() - t0)} on {os.cpu_count()} cores")
        shutil.rmtree(target, ignore_errors=True)

    if want("slots-vs-prefect"):
        pool, deps = make_pool(base, "bench-small", queues=2, limit=5)
        create_runs(base, pool, deps, 2)
        ours, theirs = paired([args.unstuck, "work-pool", "slots", pool], [args.prefect, "work-pool", "slots", pool],
                              env, args.runs)
        ratio = statistics.median(theirs) / statistics.median(ours)
        results["slots-vs-prefect"] = ratio
        print(f"slots-vs-prefect: unstuck median {fmt(statistics.median(ours))}, prefect median "
              f"{fmt(statistics.median(theirs))} over {args.runs} runs each: {ratio:.0f}x faster (target >= 20x)")

    if want("slots-offline"):
        # Every Running holder of a worker that stopped heart-beating must be judged by its logs.
        holders = 20
        pool, deps = make_pool(base, "bench-offline", limit=holders)
        stop = threading.Event()
        create_runs(base, pool, deps, holders, stop=stop, interval=1)
        stop.set()
        time.sleep(4)
        cmd = [args.unstuck, "work-pool", "slots", pool, "--pending-threshold", "2s"]
        ours, theirs = paired(cmd, [args.prefect, "work-pool", "slots", pool], env, args.runs)
        ratio = statistics.median(theirs) / statistics.median(ours)
        report = json.loads(subprocess.run(cmd + ["-o", "json"], env=env, capture_output=True, text=True).stdout)
        zombies = sum(1 for h in report["holders"] if h.get("zombie"))
        requests = next((s["detail"] for s in report["sources"] if s["name"] == "prefect"), "?")
        print(f"slots-offline: {holders} Running holders of an offline worker ({zombies} judged dead): unstuck median "
              f"{fmt(statistics.median(ours))}, prefect median {fmt(statistics.median(theirs))}: {ratio:.0f}x faster "
              f"(target >= 20x); prefect source: {requests}")

    if want("pairs"):
        pool, deps = make_pool(base, "bench-pairs", limit=1)
        create_runs(base, pool, deps, 1)
        past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)).isoformat()
        run = api(base, "POST", f"/deployments/{deps[0]}/create_flow_run",
                  {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": past}}})
        for ours_cmd, theirs_cmd, what in [
            ([args.unstuck, "doctor", run["id"]], [args.prefect, "flow-run", "inspect", run["id"]], "doctor vs flow-run inspect"),
            ([args.unstuck, "work-queue", "slots", "default", "--pool", pool],
             [args.prefect, "work-queue", "inspect", "default", "--pool", pool], "work-queue slots vs work-queue inspect"),
        ]:
            ours, theirs = paired(ours_cmd, theirs_cmd, env, args.runs)
            print(f"pairs: {what}: unstuck median {fmt(statistics.median(ours))}, prefect median "
                  f"{fmt(statistics.median(theirs))}: {statistics.median(theirs) / statistics.median(ours):.0f}x")

    if want("slots-scale"):
        per_queue = args.holders // args.queues
        t0 = time.perf_counter()
        scale_stop = threading.Event()
        if args.scale_pool:
            # A pool built by an earlier run (building one takes a quarter of an hour): its worker beats again.
            pool = args.scale_pool
            worker = api(base, "POST", f"/work_pools/{pool}/workers/filter", {})[0]["name"]
            threading.Thread(target=keep_alive, args=(base, pool, worker, scale_stop, 5), daemon=True).start()
            time.sleep(2)
            print(f"slots-scale: pool {pool}, worker {worker} heart-beating again")
        else:
            pool, deps = make_pool(base, "bench-big", queues=args.queues)
            n = create_runs(base, pool, deps, per_queue, stop=scale_stop, interval=5)
            print(f"slots-scale: built pool {pool} with {n} Running runs across {args.queues} queues in "
                  f"{time.perf_counter() - t0:.0f} s")
        # The server's own answer for the same data: one concurrency_status read of the pool, whole.
        # Measured in pairs with unstuck, alternately, so that the server's background services (late
        # runs, the foreman) and the machine's load weigh on both alike.
        def own_answer():
            t = time.perf_counter()
            api(base, "POST", f"/work_pools/{pool}/concurrency_status", {"limit": 200, "flow_run_limit": 200})
            return time.perf_counter() - t

        cmd = [args.unstuck, "work-pool", "slots", pool, "-o", "json"]

        def measure(label):
            own, walls, rss = [], [], []
            timed(cmd, env, 0)
            for _ in range(max(5, args.runs // 2)):
                own.append(own_answer())
                w, r = timed(cmd, env, 1, measure_rss=True, warm_up=False)
                walls += w
                rss += r
            report = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True).stdout)
            listed = len(report["holders"])
            prefect = next((s["detail"] for s in report["sources"] if s["name"] == "prefect"), "?")
            rss_note = f", peak RSS max {max(rss):.0f} MiB" if rss else ""
            ours, theirs = statistics.median(walls), statistics.median(own)
            pairs = statistics.median(w / o for w, o in zip(walls, own))
            print(f"slots-scale ({label}): the server answers concurrency_status in {fmt(theirs)} (median); unstuck "
                  f"lists {listed} holders in {fmt(ours)} (median, max {fmt(max(walls))}) = {ours / theirs:.2f}x the "
                  f"server's own answer, {pairs:.2f}x as the median of {len(walls)} pairs (target <= 1.15x)"
                  f"{rss_note} (target <= 100 MB); {prefect}")

        measure("worker alive")
        walls, rss = timed([args.prefect, "work-pool", "slots", pool], env, 1, measure_rss=True)
        rss_note = f", peak RSS {max(rss):.0f} MiB" if rss else ""
        print(f"slots-scale: prefect work-pool slots took {fmt(walls[0])}{rss_note}")
        # As a new user finds it: no live worker (every Running holder may be dead).
        scale_stop.set()
        time.sleep(20)
        measure("worker offline")

    if want("doctor-depth"):
        # A Late run in a full pool (limit 1, held by a Pending run): every round of requests happens.
        pool, deps = make_pool(base, "bench-depth", limit=1)
        holder = api(base, "POST", f"/deployments/{deps[0]}/create_flow_run", {"state": {"type": "PENDING"}})
        past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)).isoformat()
        run = api(base, "POST", f"/deployments/{deps[0]}/create_flow_run",
                  {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": past}}})
        server = forward.ThreadingServer(("127.0.0.1", 0), forward.handler(base, delay=args.delay))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        proxied = f"http://127.0.0.1:{server.server_address[1]}/api"
        walls, _ = timed([args.unstuck, "doctor", run["id"], "--api-url", proxied, "-o", "json"], env, max(3, args.runs // 2))
        server.shutdown()
        target = 4 * args.delay + 0.2
        print(f"doctor-depth: D = {fmt(args.delay)} per request: doctor median {fmt(statistics.median(walls))} "
              f"(target <= 4*D + 200 ms = {fmt(target)}); holder {holder['id']}")

    if want("doctor-depth-kube"):
        # A Kubernetes run whose pod cannot pull its image: the Prefect API and the cluster both delayed
        # by D per request; the Kubernetes collection starts as soon as the run is read.
        kpool = unique("bench-k8s")
        api(base, "POST", "/work_pools/", {"name": kpool, "type": "kubernetes"})
        flow = api(base, "POST", "/flows/", {"name": unique("flow")})
        dep = api(base, "POST", "/deployments/", {"name": unique("dep"), "flow_id": flow["id"], "work_pool_name": kpool,
                                                  "work_queue_name": "default", "entrypoint": "flows.py:hello"})
        run = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run", {"state": {"type": "PENDING", "name": "InfrastructurePending"}})
        api(base, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "PENDING", "name": "Pending"}, "force": True})
        api(base, "PATCH", f"/flow_runs/{run['id']}", {"infrastructure_pid": "prefect:grinning-chimera-x7k2p"})
        api(base, "POST", f"/work_pools/{kpool}/workers/heartbeat", {"name": "bench-worker", "heartbeat_interval_seconds": 30})
        scenario = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "k8s", "image-pull-not-found")
        recorded_id = json.load(open(os.path.join(scenario, "scenario.json")))["run_id"]
        kube, kube_url = kube_fixture.serve(scenario, args.delay, {recorded_id: run["id"]})
        kubeconfig = os.path.join(home, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: {kube_url}\n"
                    "contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n    namespace: prefect\n"
                    "current-context: bench\nusers:\n- name: bench\n  user:\n    token: bench-token\n")
        server = forward.ThreadingServer(("127.0.0.1", 0), forward.handler(base, delay=args.delay))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        proxied = f"http://127.0.0.1:{server.server_address[1]}/api"
        kenv = {**env, "KUBECONFIG": kubeconfig}
        cmd = [args.unstuck, "doctor", run["id"], "--api-url", proxied, "-o", "json", "--pending-threshold", "1s"]
        walls, _ = timed(cmd, kenv, max(3, args.runs // 2))
        report = json.loads(subprocess.run(cmd, env=kenv, capture_output=True, text=True).stdout)
        server.shutdown()
        kube.shutdown()
        sources = {s["name"]: s for s in report.get("sources", [])}
        target = 4 * args.delay + 0.2
        median = statistics.median(walls)
        print(f"doctor-depth-kube: D = {fmt(args.delay)} per Prefect and Kubernetes request: doctor median {fmt(median)} "
              f"= {median / args.delay:.1f} D (target <= 4*D + 200 ms = {fmt(target)}); primary {report['verdict'].get('primary')}; "
              f"kubernetes: {sources.get('kubernetes', {}).get('detail', '?')}; prefect: {sources.get('prefect', {}).get('detail', '?')}")

    if want("doctor-depth-ecs") and args.moto_url and args.moto_python:
        # An ECS run whose task stopped on a failed pull, in moto: Prefect and every AWS call delayed by D.
        epool = unique("bench-ecs")
        api(base, "POST", "/work_pools/", {"name": epool, "type": "ecs"})
        flow = api(base, "POST", "/flows/", {"name": unique("flow")})
        dep = api(base, "POST", "/deployments/", {"name": unique("dep"), "flow_id": flow["id"], "work_pool_name": epool,
                                                  "work_queue_name": "default", "entrypoint": "flows.py:hello"})
        run = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run", {"state": {"type": "PENDING", "name": "Pending"}})
        api(base, "POST", f"/work_pools/{epool}/workers/heartbeat", {"name": "bench-worker", "heartbeat_interval_seconds": 30})
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python", "ecs_moto.py")
        reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/acme/nope:1: not found"
        made = json.loads(subprocess.run([args.moto_python, script, args.moto_url, run["id"], "bench-secret", reason],
                                         capture_output=True, text=True, check=True).stdout)
        api(base, "PATCH", f"/flow_runs/{run['id']}", {"infrastructure_pid": f"{made['cluster']}::{made['task_arn']}"})
        prefect_proxy = forward.ThreadingServer(("127.0.0.1", 0), forward.handler(base, delay=args.delay))
        aws_proxy = forward.ThreadingServer(("127.0.0.1", 0), forward.handler(args.moto_url, delay=args.delay))
        for srv in (prefect_proxy, aws_proxy):
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        proxied = f"http://127.0.0.1:{prefect_proxy.server_address[1]}/api"
        eenv = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_proxy.server_address[1]}", "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
        time.sleep(1.5)
        cmd = [args.unstuck, "doctor", run["id"], "--api-url", proxied, "-o", "json", "--pending-threshold", "1s"]
        walls, _ = timed(cmd, eenv, max(3, args.runs // 2))
        report = json.loads(subprocess.run(cmd, env=eenv, capture_output=True, text=True).stdout)
        prefect_proxy.shutdown()
        aws_proxy.shutdown()
        sources = {s["name"]: s for s in report.get("sources", [])}
        median = statistics.median(walls)
        print(f"doctor-depth-ecs: D = {fmt(args.delay)} per Prefect and AWS request: doctor median {fmt(median)} "
              f"= {median / args.delay:.1f} D (target <= 4*D + 200 ms = {fmt(4 * args.delay + 0.2)}); primary "
              f"{report['verdict'].get('primary')}; ecs: {sources.get('ecs', {}).get('detail', '?')}; "
              f"prefect: {sources.get('prefect', {}).get('detail', '?')}")

    if want("health-scale"):
        has_health = subprocess.run([args.unstuck, "health", "--help"], capture_output=True).returncode == 0
        if not has_health:
            print("health-scale: skipped (this unstuck has no health command)")
        else:
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                list(ex.map(lambda i: make_pool(base, f"bench-fleet{i:03d}"), range(args.pools)))
            print(f"health-scale: built {args.pools} pools in {time.perf_counter() - t0:.0f} s")
            walls, rss = timed([args.unstuck, "health", "-o", "json"], env, max(3, args.runs // 3), measure_rss=True)
            rss_note = f", peak RSS max {max(rss):.0f} MiB" if rss else ""
            print(f"health-scale: health over every pool on the server: median {fmt(statistics.median(walls))}"
                  f"{rss_note} (target <= 5 s for 200 pools)")

    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
