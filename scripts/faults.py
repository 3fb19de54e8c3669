#!/usr/bin/env python3
"""Tributary's fault suite (run it through scripts/faults.sh, which brings up the stack).

Starts gateway, enrichers and sinks as separate release processes against the fault stack,
drives seed-000 JSON batches with unique event ids through the gateway (a few concurrent
clients, 503s and broken connections retried with the same body), injects one fault per
scenario, and then checks ClickHouse with the documented collapsed queries:

  sent       events sent (each batch until it got a final answer)
  accepted   events of batches answered 2xx
  found      distinct accepted events in `events` (by event_uid)
  dup        events shown more than once by the collapsed query (LIMIT 1 BY event_uid), or
             stored under two event_uids
  lost       accepted but not found within the scenario's drain limit
  copies     raw rows beyond one per event_uid: redelivery the collapse hides (informational)

  rejoins    the consumers' stall-watchdog rejoins (`tributary_consumer_rejoins_total`) and
             liveness restarts (below) during the scenario

A scenario passes when lost = 0, dup = 0, every accepted event was found within its limit
and no service died on its own. Nobody operates the pipeline during a scenario: the only
restarts are the ones the scenario injects, the local stack's broker supervisor
(`deploy/local/broker-supervisor`, as `deploy/local/stack up` starts it) and a liveness probe
that restarts a service whose `/healthz` failed three times in a row, as Kubernetes'
`livenessProbe` does (`Liveness`). Stalls must be healed by the services themselves.
Standard library only; every address is 127.0.0.1, every load bounded in count and time.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

# Poison runs last: a consumer it crashes cannot spoil the scenarios after it.
SCENARIOS = ["sink_kill", "enricher_kill", "clickhouse_outage", "broker_restart",
             "client_retries", "rebalance", "single_enricher_kill", "single_sink_kill",
             "clickhouse_freeze", "broker_freeze", "erasure_sink_kill", "poison"]
S2S_TOKEN = "skjdfASFasf03asdffar3asJHB32r"
ACTIVITY_KEY = "demo-netcore-key"
RETRYABLE = {408, 429, 500, 502, 503, 504}


def log(message):
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The stack and the services


class Stack:
    """The fault stack of deploy/local/stack: its pids, and ClickHouse queries over HTTP."""

    def __init__(self, args):
        self.repo = args.repo
        self.data = args.data
        self.kafka_port = args.kafka_port
        self.clickhouse_url = f"http://127.0.0.1:{args.clickhouse_port}"

    def query(self, sql, timeout=60):
        request = urllib.request.Request(f"{self.clickhouse_url}/?database=tributary",
                                         data=sql.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode()

    def up(self):
        """Start whatever of the stack is not running (the script skips what runs)."""
        subprocess.run([os.path.join(self.repo, "deploy/local/stack"), "up"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _pid(self, name):
        with open(os.path.join(self.data, f"{name}.pid")) as f:
            return int(f.read().strip())

    def broker_panics(self):
        """Panics in the broker's logs so far (the current run's and earlier runs')."""
        count = 0
        for name in ("tansu-history.log", "tansu.log"):
            try:
                with open(os.path.join(self.data, "log", name), errors="replace") as f:
                    count += f.read().count("panicked at")
            except OSError:
                pass
        return count

    def signal(self, name, sig):
        """Send `sig` to the stack's `name` process (SIGSTOP/SIGCONT: freeze and resume)."""
        os.kill(self._pid(name), sig)

    def pid(self, name):
        try:
            return self._pid(name)
        except (OSError, ValueError):
            return None

    def supervisor_restarts(self):
        """Broker restarts by the stack's supervisor so far (lines of its log)."""
        try:
            with open(os.path.join(self.data, "log", "broker-supervisor.log"),
                      errors="replace") as f:
                return sum(1 for line in f if "restarting the broker" in line)
        except OSError:
            return 0

    def kill(self, name, sig):
        pid = self._pid(name)
        os.kill(pid, sig)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} (pid {pid}) did not exit")


class Service:
    """One release binary with its own admin port and log file."""

    def __init__(self, suite, kind, name, admin_port):
        self.suite, self.kind, self.name, self.admin_port = suite, kind, name, admin_port
        self.process = None
        self.stopped = False  # stopped on purpose (a scenario or the suite), not on its own
        self.log_path = os.path.join(suite.data, "services", f"{name}.log")
        # Scenario kills and liveness restarts never interleave on one service.
        self.lock = threading.RLock()

    def rejoins(self):
        """The watchdog's rejoins in this service's log (every run of it), by reason."""
        counts = {}
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    if "leaving and rejoining the group" in line:
                        try:  # JSON logs (the default)
                            reason = json.loads(line)["fields"]["reason"]
                        except (ValueError, KeyError, TypeError):
                            reason = line.split("reason=", 1)[-1].split()[0].strip('"')
                        counts[reason] = counts.get(reason, 0) + 1
        except OSError:
            pass
        return counts

    def healthz(self):
        """The status of /healthz, or None when it does not answer."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.admin_port}/healthz", timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, OSError):
            return None

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TRIBUTARY_") or "__" in k}
        env.update(self.suite.service_env)
        env[f"TRIBUTARY_{self.kind.upper()}__ADMIN_LISTEN"] = f"127.0.0.1:{self.admin_port}"
        return env

    def start(self):
        with self.lock:
            self._start()

    def _start(self):
        self.stopped = False
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        out = open(self.log_path, "ab")
        binary = os.path.join(self.suite.bin, f"tributary-{self.kind}")
        self.process = subprocess.Popen([binary, "--config", self.suite.config_path],
                                        env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        out.close()
        self.suite.write_pids()

    def wait_healthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.admin_port}/healthz", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy within {timeout}s")

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def last_words(self):
        """The last fatal line of this service's log (panic or allocation failure)."""
        try:
            with open(self.log_path, errors="replace") as f:
                fatal = [line.strip() for line in f
                         if "panicked" in line or "memory allocation of" in line]
        except OSError:
            fatal = []
        return (fatal[-1][:160] if fatal else "no panic in the log") + f" ({self.log_path})"

    def metric(self, name):
        """Sum of a counter over its labels on this service's /metrics (0 when absent)."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return 0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and not line.startswith("#"))

    def kill9(self):
        with self.lock:
            if self.alive():
                self.process.send_signal(signal.SIGKILL)
                self.process.wait()

    def stop(self, timeout=30):
        with self.lock:
            self._stop(timeout)

    def _stop(self, timeout):
        self.stopped = True
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop on TERM within {timeout}s; killing")
                self.process.kill()
                self.process.wait()


class Liveness:
    """What Kubernetes' livenessProbe does for the consumers (deploy/k8s: /healthz every 10 s,
    three failures): a service whose /healthz answered 503 three times in a row, 2 s apart, is
    restarted (SIGTERM, then a new process). Its restarts are reported with the scenario."""

    def __init__(self, suite):
        self.suite = suite
        self.restarts = []  # (monotonic time, service name)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()

    def _run(self):
        failures = {}
        while not self.stopped.wait(2):
            for service in [*self.suite.enrichers, *self.suite.sinks]:
                process = service.process
                if not service.alive():
                    failures.pop(service.name, None)
                    continue
                # Counted per process: a scenario's restart starts the count again.
                key = (service.name, process.pid)
                if service.healthz() == 503:
                    failures[key] = failures.get(key, 0) + 1
                else:
                    failures.pop(key, None)
                if failures.get(key, 0) < 3:
                    continue
                failures.pop(key, None)
                with service.lock:
                    if service.process is not process or not service.alive():
                        continue
                    log(f"liveness: {service.name} /healthz failed 3 times; restarting it")
                    service._stop(20)
                    service._start()
                    self.restarts.append((time.monotonic(), service.name))


class Suite:
    def __init__(self, args):
        self.args = args
        self.repo, self.data, self.bin = args.repo, args.data, args.bin
        self.stack = Stack(args)
        self.gateway_port = args.gateway_port
        self.run_id = uuid.uuid4().hex[:6]
        self.config_path = os.path.join(self.data, "faults.toml")
        self.write_config()
        self.service_env = {
            "TRIBUTARY_KAFKA__BROKERS": f"127.0.0.1:{args.kafka_port}",
            "TRIBUTARY_CLICKHOUSE__URL": self.stack.clickhouse_url,
            "TRIBUTARY_CLICKHOUSE__DATABASE": "tributary",
            "TRIBUTARY_GATEWAY__LISTEN": f"127.0.0.1:{args.gateway_port}",
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        }
        if os.environ.get("TRIBUTARY_FAULTS_IDEMPOTENCE"):
            # To measure the producers' idempotence against the local broker (README).
            self.service_env["TRIBUTARY_KAFKA__IDEMPOTENCE"] = os.environ[
                "TRIBUTARY_FAULTS_IDEMPOTENCE"]
        port = args.admin_port
        self.gateway = Service(self, "gateway", "gateway", port)
        self.enrichers = [Service(self, "enricher", f"enricher-{i}", port + 1 + i)
                          for i in range(2)]
        self.sinks = [Service(self, "sink", f"sink-{i}", port + 3 + i) for i in range(3)]
        self.services = [self.gateway, *self.enrichers, *self.sinks]
        self.liveness = Liveness(self)

    def rejoins(self):
        """Watchdog rejoins so far in every consumer's log, by reason."""
        total = {}
        for s in [*self.enrichers, *self.sinks]:
            for reason, n in s.rejoins().items():
                total[reason] = total.get(reason, 0) + n
        return total

    def write_config(self):
        """The repository's config plus test-speed group timings and retries (librdkafka keys
        contain dots, so they cannot be given as environment variables)."""
        with open(os.path.join(self.repo, "config/tributary.toml")) as f:
            base = f.read()
        base = base.replace("[sink]\n", "[sink]\nmax_backoff_ms = 2000\n", 1)
        extra = ('\n# scripts/faults.py: a dead group member is noticed within seconds.\n'
                 '[kafka.properties]\n"session.timeout.ms" = "6000"\n'
                 '"heartbeat.interval.ms" = "500"\n'
                 '# A few of those session timeouts, as the default is for 10 s sessions.\n'
                 '[kafka.watchdog]\nstall_after_ms = 20000\n')
        with open(self.config_path, "w") as f:
            f.write(base + extra)

    def write_pids(self):
        with open(os.path.join(self.data, "services.pids"), "w") as f:
            for s in self.services:
                if s.alive():
                    f.write(f"{s.process.pid}\n")

    def start_pipeline(self):
        """Gateway, two enrichers and two sinks (the third sink is for the rebalance)."""
        for s in [self.gateway, *self.enrichers, *self.sinks[:2]]:
            if not s.alive():
                s.start()
        for s in [self.gateway, *self.enrichers, *self.sinks[:2]]:
            s.wait_healthy()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.gateway_port}/openapi.json", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError("gateway does not answer")

    def stop_all(self):
        for s in self.services:
            s.stop(timeout=20)
        try:
            os.remove(os.path.join(self.data, "services.pids"))
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# Traffic


class Batch:
    __slots__ = ("family", "index", "path", "body", "headers", "keys", "copies", "answers",
                 "final")

    def __init__(self, family, index, path, body, headers, keys, copies=1):
        self.family, self.index, self.path, self.body = family, index, path, body
        self.headers, self.keys, self.copies = headers, keys, copies
        self.answers = []  # (monotonic time the answer arrived, status or "conn")
        self.final = []  # final status of each copy


def mobile_batch(tag, index, size, rnd):
    """One seed-000 JSON request of `size` events with unique ids (about 45 KB per 100)."""
    now = int(time.time())
    events = []
    keys = []
    for i in range(size):
        event_id = f"{tag}-{index}-{i}"
        keys.append(event_id)
        events.append({
            "event_id": event_id,
            "event_name": tag,
            "event_category": "faults",
            "timestamp_utc": now - rnd.randint(0, 3600),
            "session_id": uuid.UUID(int=rnd.getrandbits(128)).hex,
            "source": rnd.choice(["android", "ios", "web"]),
            "user_id": rnd.randint(1, 10**9),
            "name": f"User {rnd.randint(1, 10**6)}",
            "country_code": "91",
            "mobile_number": f"+91 9{rnd.randint(100000000, 999999999)}",
            "screen_name": rnd.choice(["home", "search", "product", "cart", "checkout"]),
            "duration_seconds": rnd.randint(0, 600),
            "payload": {"sku": f"SKU-{rnd.randint(1, 99999)}",
                        "price": round(rnd.uniform(1, 500), 2), "qty": rnd.randint(1, 5),
                        "ref": uuid.UUID(int=rnd.getrandbits(128)).hex[:12]},
            "ip": f"203.0.113.{rnd.randint(1, 254)}",
            "country": rnd.choice(["India", "IN", "United States", "DE"]),
            "state": "Maharashtra",
            "city": rnd.choice(["Mumbai", "Pune", "Nagpur"]),
            "zip": str(rnd.randint(400000, 499999)),
            "latitude": round(rnd.uniform(-90, 90), 5),
            "longitude": round(rnd.uniform(-180, 180), 5),
        })
    body = json.dumps({"events": events}).encode()
    return Batch("mobile", index, "/api/analytics/events", body,
                 {"Content-Type": "application/json"}, keys)


def s2s_batch(tag, index, size, rnd):
    """A customEventBatch (at most 20 items, under 10 KB); no client event id, so the
    event_uid is a hash of the content: a retry must still collapse."""
    now = int(time.time())
    items, keys = [], []
    for i in range(size):
        user = f"{tag}-{index}-{i}"
        keys.append(user)
        items.append({"customUserId": user, "customEventName": tag, "eventTimestamp": now,
                      "customEventParams": {"level": str(rnd.randint(1, 99))}})
    body = json.dumps(items).encode()
    return Batch("s2s", index, "/v1/customEventBatch/?idApp=666", body,
                 {"Content-Type": "application/json", "Authorization": S2S_TOKEN}, keys)


def activity_batch(tag, index, size, rnd):
    """An activity upload (no event id either: content hash)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    items, keys = [], []
    for i in range(size):
        identity = f"{tag}-{index}-{i}"
        keys.append(identity)
        items.append({"asset_id": "faults", "activity_name": tag, "timestamp": stamp,
                      "identity": identity, "activity_source": "app",
                      "activity_params": {"qty": rnd.randint(1, 9)}})
    body = json.dumps(items).encode()
    return Batch("activity", index, "/v1/activity/upload", body,
                 {"Content-Type": "application/json",
                  "Authorization": f"Bearer {ACTIVITY_KEY}"}, keys)


# ClickHouse column that identifies one event of each family in the scenario's queries.
KEY_COLUMN = {"mobile": "event_id", "s2s": "user_id", "activity": "identity"}


class Traffic:
    """Sends `batches` from `clients` threads at `rate` requests/s, each copy of a batch
    retried with the same body until it gets a final answer or `retry_for` seconds pass."""

    def __init__(self, port, batches, clients=4, rate=None, retry_for=180):
        self.port, self.batches, self.clients = port, batches, clients
        self.rate, self.retry_for = rate, retry_for
        self.jobs = [b for b in batches for _ in range(b.copies)]
        self.next = 0
        self.lock = threading.Lock()
        self.threads = []
        self.started = self.finished = None

    def start(self):
        self.started = time.monotonic()
        for _ in range(self.clients):
            t = threading.Thread(target=self._client, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def join(self):
        for t in self.threads:
            t.join()
        return self

    def done(self):
        return all(not t.is_alive() for t in self.threads)

    def _take(self):
        with self.lock:
            if self.next >= len(self.jobs):
                return None, None
            n = self.next
            self.next += 1
            return n, self.jobs[n]

    def _client(self):
        conn = None
        while True:
            n, batch = self._take()
            if batch is None:
                break
            if self.rate:
                delay = self.started + n / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            deadline = time.monotonic() + self.retry_for
            backoff = 0.2
            while True:
                status = "conn"
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    conn.request("POST", batch.path, body=batch.body, headers=batch.headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if response.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
                now = time.monotonic()
                with self.lock:
                    batch.answers.append((now, status))
                if status != "conn" and status not in RETRYABLE:
                    break
                if now > deadline:
                    break
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            with self.lock:
                batch.final.append(status)
        if conn is not None:
            conn.close()
        with self.lock:
            self.finished = max(self.finished or 0.0, time.monotonic())


# ---------------------------------------------------------------------------------------------
# Checking ClickHouse


class Result:
    def __init__(self, name, family, tag):
        self.name, self.family, self.tag = name, family, tag
        self.sent = self.accepted = self.found = self.dup = self.lost = self.copies = 0
        self.unknown = 0
        self.retried = 0
        self.rejoins = None  # watchdog rejoins + liveness restarts, filled in by `main`
        self.traffic_s = self.drain_s = 0.0
        self.limit_s = 0
        self.notes = []
        self.failures = []

    @property
    def ok(self):
        return (not self.failures and self.lost == 0 and self.dup == 0
                and self.unknown == 0)


def check(suite, name, tag, batches, traffic, drain_limit):
    """Wait until every accepted event of `tag` is in ClickHouse (or `drain_limit` passes),
    then count found, duplicates and losses."""
    family = batches[0].family
    key = KEY_COLUMN[family]
    result = Result(name, family, tag)
    sent, accepted = set(), set()
    for b in batches:
        sent.update(b.keys)
        if any(isinstance(s, int) and 200 <= s < 300 for s in b.final):
            accepted.update(b.keys)
        result.retried += sum(1 for _, s in b.answers if s == "conn" or s in RETRYABLE)
    result.sent, result.accepted = len(sent), len(accepted)
    result.traffic_s = traffic.finished - traffic.started
    result.limit_s = drain_limit
    where = f"event_name = '{tag}'"
    start = time.monotonic()
    deadline = start + drain_limit
    while True:
        try:
            got = int(suite.stack.query(f"SELECT uniqExact(event_uid) FROM events WHERE {where}"))
        except (urllib.error.URLError, OSError, ValueError):
            got = -1
        if got >= len(accepted) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    result.drain_s = time.monotonic() - start
    collapsed = f"SELECT event_uid, {key} FROM events WHERE {where} LIMIT 1 BY event_uid"
    found = set(filter(None, suite.stack.query(
        f"SELECT DISTINCT {key} FROM ({collapsed}) FORMAT TSV").split("\n")))
    result.found = len(found & accepted)
    result.lost = len(accepted - found)
    result.unknown = len(found - sent)
    by_uid = int(suite.stack.query(
        f"SELECT count() FROM (SELECT event_uid, count() AS c FROM ({collapsed}) "
        f"GROUP BY event_uid HAVING c > 1)"))
    by_key = int(suite.stack.query(
        f"SELECT count() FROM (SELECT {key}, count() AS c FROM ({collapsed}) "
        f"GROUP BY {key} HAVING c > 1)"))
    result.dup = by_uid + by_key
    result.copies = int(suite.stack.query(
        f"SELECT count() - uniqExact(event_uid) FROM events WHERE {where}"))
    if result.lost:
        sample = sorted(accepted - found)[:5]
        result.failures.append(f"lost e.g. {sample}")
    if result.accepted < result.sent:
        finals = {}
        for b in batches:
            for s in b.final:
                finals[s] = finals.get(s, 0) + 1
        result.notes.append(f"not accepted: final answers {finals}")
    if got < len(accepted):
        result.failures.append(f"not all accepted events found within {drain_limit}s")
    return result


HEADER = (f"{'scenario':<26}{'family':<9}{'sent':>8}{'accepted':>10}{'found':>8}{'dup':>5}"
          f"{'lost':>6}{'copies':>8}{'retries':>9}{'traffic':>9}{'drain':>8}{'limit':>7}"
          f"{'rejoins':>9}  verdict")


def row(r):
    rejoins = "-" if r.rejoins is None else r.rejoins
    return (f"{r.name:<26}{r.family:<9}{r.sent:>8}{r.accepted:>10}{r.found:>8}{r.dup:>5}"
            f"{r.lost:>6}{r.copies:>8}{r.retried:>9}{r.traffic_s:>8.1f}s{r.drain_s:>7.1f}s"
            f"{r.limit_s:>6}s{rejoins:>9}  {'PASS' if r.ok else 'FAIL'}")


def print_table(title, results, extra=()):
    print(f"\n== {title}")
    print(HEADER)
    for r in results:
        print(row(r))
        for note in r.notes + r.failures:
            print(f"   {note}")
    for line in extra:
        print(f"   {line}")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Scenarios


def volume(suite, events):
    return max(100, int(events * suite.args.scale) // 100 * 100)


def mobile_load(suite, tag, events, seed):
    rnd = random.Random(seed)
    return [mobile_batch(tag, i, 100, rnd) for i in range(volume(suite, events) // 100)]


def kill_loop(suite, name, victims, every, traffic):
    """kill -9 one of `victims` every `every` seconds while traffic flows, restarting it at
    once; returns how many kills."""
    kills = 0
    while not traffic.done():
        time.sleep(every)
        if traffic.done():
            break
        victim = victims[kills % len(victims)]
        victim.kill9()
        victim.start()
        kills += 1
    log(f"{name}: {kills} kill -9")
    return kills


def scenario_sink_kill(suite):
    tag = f"f{suite.run_id}_sink_kill"
    batches = mobile_load(suite, tag, 100_000, 1)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 40).start()
    kills = kill_loop(suite, "sink_kill", suite.sinks[:2], 4, traffic)
    traffic.join()
    r = check(suite, "1 sink kill -9", tag, batches, traffic, 180)
    r.notes.append(f"{kills} x kill -9 of a sink (two in the group), each restarted at once")
    return [r]


def scenario_enricher_kill(suite):
    tag = f"f{suite.run_id}_enricher_kill"
    batches = mobile_load(suite, tag, 100_000, 2)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 40).start()
    kills = kill_loop(suite, "enricher_kill", suite.enrichers, 4, traffic)
    traffic.join()
    r = check(suite, "2 enricher kill -9", tag, batches, traffic, 180)
    r.notes.append(f"{kills} x kill -9 of an enricher (two in the group), each restarted at once")
    return [r]


def scenario_clickhouse_outage(suite):
    tag = f"f{suite.run_id}_ch_outage"
    batches = mobile_load(suite, tag, 30_000, 3)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 45).start()
    time.sleep(5)
    asked = time.monotonic()
    suite.stack.kill("clickhouse", signal.SIGTERM)
    stopped = time.monotonic()
    log(f"clickhouse_outage: ClickHouse stopped ({stopped - asked:.1f}s after SIGTERM)")
    time.sleep(30)
    suite.stack.up()
    log(f"clickhouse_outage: ClickHouse back after {time.monotonic() - stopped:.1f}s")
    traffic.join()
    r = check(suite, "3 clickhouse 30s down", tag, batches, traffic, 120)
    retries = sum(s.metric("tributary_sink_insert_retries_total") for s in suite.sinks[:2])
    r.notes.append(f"{retries:.0f} insert retries by the sinks (every retry since they started)")
    r.notes.append(f"ClickHouse sent SIGTERM 5 s into the load (it took {stopped - asked:.1f}s to "
                   f"exit), kept down 30 s, then started again")
    return [r]


def scenario_broker_restart(suite):
    tag = f"f{suite.run_id}_broker"
    batches = mobile_load(suite, tag, 10_000, 4)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 40,
                      retry_for=240).start()
    time.sleep(5)
    panics_before = suite.stack.broker_panics()
    old = suite.stack.pid("tansu")
    suite.stack.kill("tansu", signal.SIGKILL)
    down = time.monotonic()
    log("broker_restart: tansu killed (-9); the stack's broker supervisor restarts it")
    # Nobody restarts it here: the supervisor notices the dead broker and starts it again.
    up = None
    while time.monotonic() < down + 120:
        pid = suite.stack.pid("tansu")
        if pid and pid != old:
            try:
                with socket.create_connection(("127.0.0.1", suite.args.kafka_port), timeout=1):
                    up = time.monotonic()
                    break
            except OSError:
                pass
        time.sleep(0.2)
    if up is None:
        up = time.monotonic()
    log(f"broker_restart: tansu back after {up - down:.1f}s")
    traffic.join()
    r = check(suite, "4 broker kill+restart", tag, batches, traffic, 180)
    ok_while_down = sum(1 for b in batches for t, s in b.answers
                        if isinstance(s, int) and 200 <= s < 300 and down + 1.0 < t < up)
    unavailable = sum(1 for b in batches for t, s in b.answers if s == 503 and down < t)
    r.notes.append(f"broker down {up - down:.1f}s until the supervisor restarted it: "
                   f"{unavailable} answers 503 from then on, {ok_while_down} answers 2xx while "
                   f"it was down")
    panics = suite.stack.broker_panics() - panics_before
    if panics:
        r.notes.append(f"Tansu panicked {panics} time(s) (see its logs); the supervisor's "
                       f"probe restarts a broker that stops working")
    if ok_while_down:
        r.failures.append("2xx answers while the broker could not have acknowledged")
    return [r]


def single_member_kills(suite, name, label, members, events, seed, limit):
    """The group's only member killed (-9) three times within 6 s, each restart waiting until
    the old process is gone; then `events` sent. Tansu 0.6 can leave such a group "Formed"
    with an empty assignment: the live member must notice and rejoin by itself."""
    tag = f"f{suite.run_id}_{name}"
    only, others = members[0], members[1:]
    for other in others:
        other.stop()
    only.wait_healthy()
    time.sleep(3)
    for _ in range(3):
        only.kill9()
        only.start()
        time.sleep(2)
    only.wait_healthy()
    batches = mobile_load(suite, tag, events, seed)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 10).start().join()
    r = check(suite, label, tag, batches, traffic, limit)
    r.notes.append(f"{only.name} alone in its group ({', '.join(o.name for o in others)} "
                   f"stopped), kill -9 x3 2 s apart, each restarted at once; then the load")
    return [r]


def scenario_single_enricher_kill(suite):
    return single_member_kills(suite, "single_enricher_kill", "8 1 enricher kill -9 x3",
                               suite.enrichers, 3_000, 8, 150)


def scenario_single_sink_kill(suite):
    return single_member_kills(suite, "single_sink_kill", "9 1 sink kill -9 x3",
                               suite.sinks[:2], 3_000, 9, 150)


def freeze(suite, name, label, process, seconds, events, seed, limit):
    """`process` of the stack frozen (SIGSTOP) for `seconds` under load, then resumed
    (SIGCONT): connections hang instead of being refused, as on a laptop's sleep or a starved
    VM."""
    tag = f"f{suite.run_id}_{name}"
    batches = mobile_load(suite, tag, events, seed)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 30,
                      retry_for=240).start()
    time.sleep(5)
    panics_before = suite.stack.broker_panics()
    pid = suite.stack.pid(process)
    suite.stack.signal(process, signal.SIGSTOP)
    log(f"{name}: {process} frozen (SIGSTOP) for {seconds}s")
    try:
        time.sleep(seconds)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    log(f"{name}: {process} resumed (SIGCONT)")
    traffic.join()
    r = check(suite, label, tag, batches, traffic, limit)
    r.notes.append(f"{process} frozen with SIGSTOP {5} s into the load for {seconds} s, then "
                   f"SIGCONT")
    panics = suite.stack.broker_panics() - panics_before
    if panics:
        r.notes.append(f"Tansu panicked {panics} time(s) (see its logs, e.g. lite.rs:503)")
    return [r]


def scenario_clickhouse_freeze(suite):
    r = freeze(suite, "clickhouse_freeze", "10 clickhouse SIGSTOP 30s", "clickhouse", 30,
               10_000, 10, 150)
    retries = sum(s.metric("tributary_sink_insert_retries_total") for s in suite.sinks[:2])
    r[0].notes.append(f"{retries:.0f} insert retries by the sinks (since they started)")
    return r


def scenario_broker_freeze(suite):
    return freeze(suite, "broker_freeze", "11 broker SIGSTOP 20s", "tansu", 20, 10_000, 11, 240)


def scenario_poison(suite):
    tag = f"f{suite.run_id}_poison"
    batches = mobile_load(suite, tag, 5_000, 5)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 20).start()
    env = dict(os.environ)
    env.update({
        "TRIBUTARY_TEST_KAFKA": f"127.0.0.1:{suite.args.kafka_port}",
        "TRIBUTARY_TEST_CLICKHOUSE_URL": suite.stack.clickhouse_url,
        "TRIBUTARY_POISON_GATEWAY": f"http://127.0.0.1:{suite.gateway_port}",
        "TRIBUTARY_POISON_DATABASE": "tributary",
    })
    started = time.monotonic()
    test = subprocess.run(
        ["cargo", "test", "--quiet", "-p", "tributary-tests", "--test", "poison", "--",
         "--nocapture", "--test-threads=1"],
        cwd=suite.repo, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    traffic.join()
    r = check(suite, "5 poison + traffic", tag, batches, traffic, 120)
    lines = [line[len("POISON|"):] for line in test.stdout.splitlines()
             if line.startswith("POISON|")]
    extra = [f"poison test (cargo test -p tributary-tests --test poison) {took:.1f}s, "
             f"exit {test.returncode}:"]
    extra += [f"  {line}" for line in lines]
    if test.returncode != 0:
        r.failures.append("the poison test failed")
        extra += ["  " + line for line in (test.stdout + test.stderr).splitlines()[-40:]]
    return [r], extra


def scenario_client_retries(suite):
    rnd = random.Random(6)
    results = []
    plans = [("mobile", mobile_batch, 40, 100), ("s2s", s2s_batch, 100, 20),
             ("activity", activity_batch, 20, 100)]
    for family, make, count, size in plans:
        tag = f"f{suite.run_id}_retry_{family}"
        batches = [make(tag, i, size, rnd) for i in range(count)]
        for b in batches:
            b.copies = 2 if b.index % 2 == 0 else 3
        # Copies of one batch go out back to back from different clients (some at once).
        traffic = Traffic(suite.gateway_port, batches, clients=4).start().join()
        r = check(suite, "6 client retries", tag, batches, traffic, 60)
        twice = sum(len(b.keys) for b in batches if b.copies == 2)
        r.notes.append(f"{twice} events sent in 2 identical requests, "
                       f"{r.sent - twice} in 3")
        results.append(r)
    return results


def scenario_rebalance(suite):
    tag = f"f{suite.run_id}_rebalance"
    batches = mobile_load(suite, tag, 30_000, 7)
    traffic = Traffic(suite.gateway_port, batches, rate=len(batches) / 40).start()
    third = suite.sinks[2]
    time.sleep(8)
    third.start()
    third.wait_healthy()
    log("rebalance: a third sink joined")
    time.sleep(15)
    rows = third.metric("tributary_sink_rows_inserted_total")
    third.stop()
    log(f"rebalance: the third sink left (exit {third.process.returncode}) "
        f"after inserting {rows:.0f} rows")
    traffic.join()
    r = check(suite, "7 rebalance 2->3->2", tag, batches, traffic, 120)
    r.notes.append(f"a third sink joined the group 8 s into the load, inserted {rows:.0f} rows, "
                   f"and left (SIGTERM) 15 s later")
    if rows == 0:
        r.failures.append("the third sink never got a partition: no rebalance was exercised")
    if third.process.returncode not in (0, None):
        r.failures.append(f"the third sink exited with {third.process.returncode}")
    return [r]


def scenario_erasure_sink_kill(suite):
    """One person is erased while the sinks are killed with the person's events still in
    flight: nothing of the person may be stored in the end, and nobody else's event lost."""
    tag = f"f{suite.run_id}_erasure"
    person = f"{tag}-person@example.com"
    rnd = random.Random(13)
    count = volume(suite, 20_000) // 50
    first = [activity_batch(tag, i, 50, rnd) for i in range(count // 2)]
    for b in first:  # the person is the first item of every request of the first wave
        items = json.loads(b.body)
        items[0]["identity"] = person
        b.body = json.dumps(items).encode()
        b.keys = b.keys[1:]
    second = [activity_batch(tag, i, 50, rnd) for i in range(count // 2, count)]
    traffic = Traffic(suite.gateway_port, first, rate=len(first) / 10).start()
    kills = kill_loop(suite, "erasure_sink_kill", suite.sinks[:2], 3, traffic)
    traffic.join()
    # Erase at once, while the first wave is still on its way to ClickHouse and the sinks keep
    # being killed under the second wave.
    sink = suite.sinks[0]
    eraser = subprocess.Popen(
        [os.path.join(suite.bin, "tributary-sink"), "--config", suite.config_path, "erase",
         "--tenant", "default", "--identity", person],
        env=sink.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    later = Traffic(suite.gateway_port, second, rate=len(second) / 10).start()
    kills += kill_loop(suite, "erasure_sink_kill", suite.sinks[:2], 3, later)
    later.join()
    output, _ = eraser.communicate(timeout=300)
    both = Traffic(suite.gateway_port, [], clients=0)
    both.started, both.finished = traffic.started, later.finished
    r = check(suite, "erasure while sinks die", tag, first + second, both, 180)
    r.notes.append(f"{kills} x kill -9 of a sink; the person erased between the two waves")
    if eraser.returncode != 0:
        r.failures.append(f"erase exited {eraser.returncode}: {output.decode()[-300:]}")
    left = int(suite.stack.query(
        f"SELECT count() FROM events WHERE identity = '{person}'"))
    if left:
        r.failures.append(f"{left} rows of the erased person are stored")
    else:
        r.notes.append(f"erased person: 0 rows (of {len(first)} events sent before the erasure)")
    return [r]


RUNNERS = {
    "erasure_sink_kill": scenario_erasure_sink_kill,
    "sink_kill": scenario_sink_kill,
    "enricher_kill": scenario_enricher_kill,
    "clickhouse_outage": scenario_clickhouse_outage,
    "broker_restart": scenario_broker_restart,
    "poison": scenario_poison,
    "client_retries": scenario_client_retries,
    "rebalance": scenario_rebalance,
    "single_enricher_kill": scenario_single_enricher_kill,
    "single_sink_kill": scenario_single_sink_kill,
    "clickhouse_freeze": scenario_clickhouse_freeze,
    "broker_freeze": scenario_broker_freeze,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--kafka-port", type=int, required=True)
    parser.add_argument("--clickhouse-port", type=int, required=True)
    parser.add_argument("--gateway-port", type=int, default=27080)
    parser.add_argument("--admin-port", type=int, default=27101)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("scenarios", nargs="*", metavar="scenario",
                        help="any of: " + " ".join(SCENARIOS) + " (default: all)")
    args = parser.parse_args()
    chosen = args.scenarios or SCENARIOS
    unknown = [name for name in chosen if name not in RUNNERS]
    if unknown:
        parser.error(f"unknown scenario {unknown}; choose from {SCENARIOS}")
    for port in (args.gateway_port, *range(args.admin_port, args.admin_port + 6)):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                sys.exit(f"port {port} is taken; set TRIBUTARY_FAULTS_GATEWAY_PORT / _ADMIN_PORT")

    suite = Suite(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    summary = []
    began = time.monotonic()
    try:
        suite.start_pipeline()
        suite.liveness.start()
        log(f"pipeline up: gateway 127.0.0.1:{args.gateway_port}, 2 enrichers, 2 sinks; "
            f"logs in {os.path.join(args.data, 'services')}")
        for name in chosen:
            log(f"scenario {name}")
            started = time.monotonic()
            rejoins_before = suite.rejoins()
            broker_restarts_before = suite.stack.supervisor_restarts()
            try:
                suite.start_pipeline()
                outcome = RUNNERS[name](suite)
                results, extra = outcome if isinstance(outcome, tuple) else (outcome, [])
            except Exception as error:  # a scenario that cannot run is a failed scenario
                failed = Result(name, "-", "-")
                failed.failures.append(f"scenario aborted: {error!r}")
                results, extra = [failed], []
            took = time.monotonic() - started
            after = suite.rejoins()
            rejoins = {k: v - rejoins_before.get(k, 0) for k, v in after.items()
                       if v - rejoins_before.get(k, 0)}
            restarted = [n for t, n in suite.liveness.restarts if t >= started]
            broker_restarts = suite.stack.supervisor_restarts() - broker_restarts_before
            results[-1].rejoins = sum(rejoins.values()) + len(restarted)
            extra = list(extra) + [
                f"watchdog rejoins {rejoins or 0}; liveness restarts {restarted or 0}; "
                f"broker restarts by the stack's supervisor {broker_restarts}"]
            # A service that died on its own (not killed by the scenario) is a finding.
            for s in suite.services:
                if s.process is not None and not s.alive() and not s.stopped:
                    results[-1].failures.append(
                        f"{s.name} exited on its own ({s.process.returncode}): "
                        f"{s.last_words()}")
            print_table(f"{name} ({took:.0f}s)", results, extra)
            summary.extend(results)
    finally:
        suite.liveness.stop()
        suite.stop_all()
    print_table(f"summary ({time.monotonic() - began:.0f}s)", summary)
    failed = [r for r in summary if not r.ok]
    print(f"\n{'FAIL' if failed else 'PASS'}: {len(summary) - len(failed)}/{len(summary)} "
          f"scenario rows passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
