"""The fault figures (run by scripts/faults.sh with the services started): for each fault, N
rows shaped like the Socrata API's are served, paced, by a Socrata-like server; one
`runner run ingest --once` moves them into a Kafka-protocol broker while three
`runner run deliver` workers of one group write them to S3; the fault is injected mid-run.
Then the script waits until the group's committed offsets reach the log's end, stops the
workers with SIGTERM, reads every object under the layout's prefix and counts each source
key: delivered once, more than once, or not at all. Prints a Markdown table.

The broker is a tansu of the script's own (port 19092), in memory, except for the broker
restart: there it keeps its log in s3s-fs, so it can be killed and started again without
losing what it held. Runs where a worker takes a partition over produce one record a batch
on fewer rows (see HANDOVER). S3 is s3s-fs, Glue is moto;
S3 and Glue faults go through an HTTP proxy in front of them that answers a share of the
requests with an error, as the real services do under load. A worker or ingest that dies
is started again at once, as a service manager would, except the one a failover fault
kills on purpose.

"Partitions reassigned" is, from the moment of the fault, how long until another worker
logged a partition assigned to it by the group. "Recovery" is how long until every
partition that still had records to deliver saw its committed offset move again (for the
broker restart, counted from the kill, so it holds the 5 s the broker was down). For
faults that last the whole run both are left out and the run time shows their cost.

usage: faults.py RUNNER_BINARY ROWS [FAULT ...]   (no FAULT: all of them)
       HANDOVER_ROWS=N faults.py ...              (rows of the handover runs, default 50,000)
"""

import bisect
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import boto3
from confluent_kafka import Consumer, TopicPartition

from bench_streaming import ROOT, api_rows, configure, remove_bucket

BROKER_PORT = 19092
PARTITIONS = 3
WORKERS = 3
# The run's pace: pages of PAGE rows, one every PAGE_DELAY seconds.
PAGE = 1000
PAGE_DELAY = 0.12
# When the fault strikes, in seconds after the workers start.
FAULT_AT = 10.0


class QuietHandler(BaseHTTPRequestHandler):
    """A keep-alive request handler that logs nothing and answers with `reply`."""

    protocol_version = "HTTP/1.1"

    def reply(self, status, headers, data):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(handler):
    """`handler` served on a free port of 127.0.0.1 from a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Feed:
    """A Socrata-like server over rows sorted by report time: `$where` on the watermark
    (`report_datetime >= '...'`), the runner's `$order`, `$limit` and `$offset`. Pages come
    PAGE_DELAY apart; `throttle`, `fail` and `stall` make it answer 429, 500 or nothing for
    a while, as the real API does."""

    def __init__(self, rows):
        self.rows = rows
        self.times = [json.loads(r)["report_datetime"] for r in rows]
        self.throttle = self.fail = 0.0
        self.stall_at = None  # the request number to hold for `stall_seconds`
        self.stall_seconds = 0.0
        self.requests = 0
        self.errors = 0
        self.lock = threading.Lock()
        feed = self

        class Handler(QuietHandler):
            def do_GET(self):
                with feed.lock:
                    feed.requests += 1
                    number = feed.requests
                if number == feed.stall_at:
                    time.sleep(feed.stall_seconds)
                roll = random.random()
                if roll < feed.throttle:
                    feed.errors += 1
                    return self.answer(429, b'{"message":"Too many requests"}', [("Retry-After", "1")])
                if roll < feed.throttle + feed.fail:
                    feed.errors += 1
                    return self.answer(500, b'{"message":"Internal error"}')
                time.sleep(PAGE_DELAY)
                query = dict(parse_qsl(urlsplit(self.path).query))
                start = 0
                if "$where" in query:
                    match = re.fullmatch(r"report_datetime >= '([^']+)'", query["$where"])
                    if not match:
                        return self.answer(400, b'{"message":"unsupported $where"}')
                    start = bisect.bisect_left(feed.times, match[1])
                offset = start + int(query["$offset"])
                page = feed.rows[offset:offset + int(query["$limit"])]
                self.answer(200, b"[" + b",".join(page) + b"]")

            def answer(self, status, body, headers=()):
                self.reply(status, [("Content-Type", "application/json"), *headers], body)

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/resource/tazs-3rd5.json"


class FaultProxy:
    """An HTTP proxy in front of an S3 or Glue endpoint that answers a share of the requests
    with an error of the service's own (503 SlowDown, 500 InternalError, or Glue's
    ThrottlingException) and forwards the rest unchanged, Host header included, so the
    request signatures still hold."""

    S3_ERRORS = {
        503: b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        500: b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
    }

    def __init__(self, upstream, faults):
        """`faults`: (probability, status, body, content type) tuples, tried in order."""
        self.faults = faults
        self.injected = 0
        self.forwarded = 0
        target = urlsplit(upstream)
        proxy = self
        local = threading.local()

        class Handler(QuietHandler):
            def handle_any(self):
                body = self.read_body()
                roll = random.random()
                for chance, status, error, kind in proxy.faults:
                    if roll < chance:
                        proxy.injected += 1
                        return self.reply(status, [("Content-Type", kind)], error)
                    roll -= chance
                proxy.forwarded += 1
                if getattr(local, "connection", None) is None:
                    local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                connection = local.connection
                try:
                    connection.putrequest(self.command, self.path, skip_host=True,
                                          skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                            connection.putheader(name, value)
                    connection.putheader("Content-Length", str(len(body)))
                    connection.endheaders(body)
                    answer = connection.getresponse()
                    data = answer.read()
                except (OSError, http.client.HTTPException):
                    local.connection = None
                    connection.close()
                    return self.reply(502, [], b"")
                headers = [(k, v) for k, v in answer.getheaders()
                           if k.lower() not in ("transfer-encoding", "content-length", "connection")]
                self.reply(answer.status, headers, data)

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


class Broker:
    """The script's own tansu on BROKER_PORT. `durable`: its log kept in an s3s-fs bucket,
    so it survives a restart; otherwise in memory."""

    def __init__(self, s3s, work, durable):
        self.s3s = s3s
        self.bucket = f"faults-broker-{uuid.uuid4().hex[:8]}" if durable else None
        if durable:
            s3(s3s).create_bucket(Bucket=self.bucket)
        self.storage = f"s3://{self.bucket}/" if durable else "memory://tansu/"
        self.env = dict(os.environ, AWS_ENDPOINT=s3s, AWS_ALLOW_HTTP="true",
                        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                        AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
        self.log = open(work / "tansu.log", "ab")
        self.process = None
        self.bootstrap = f"127.0.0.1:{BROKER_PORT}"
        self.start()

    def start(self):
        url = f"tcp://127.0.0.1:{BROKER_PORT}"
        self.process = subprocess.Popen(
            ["tansu", "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", self.storage],
            env=self.env, stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                with __import__("socket").create_connection(("127.0.0.1", BROKER_PORT), 0.2):
                    return
            except OSError:
                time.sleep(0.1)
        sys.exit("the script's tansu did not listen")

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.kill()
        if self.bucket:
            try:
                remove_bucket(self.s3s, self.bucket)
            except Exception as e:  # noqa: BLE001 - reported, never hides the run's error
                print(f"clean-up: {e}", file=sys.stderr)
            self.bucket = None


def s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1")


def read_partition(bootstrap, topic, partition):
    """Every record of `partition` from its start, read with a client of its own. Polls of
    1 s each until one comes back empty after the first records, or 30 s without any (the
    first fetch can take that long: tansu's s3 storage finds offset 0 by listing its
    objects)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-reader",
                       "enable.auto.commit": False})
    reader.assign([TopicPartition(topic, partition, 0)])
    deadline, seen = time.monotonic() + 30, False
    try:
        while True:
            messages = [m for m in reader.consume(num_messages=10000, timeout=1.0)
                        if m.error() is None]
            if messages:
                seen = True
                yield from messages
            elif seen or time.monotonic() > deadline:
                return
    finally:
        reader.close()


class Progress:
    """The group's committed offsets, read every 0.25 s (OffsetFetch, without joining)."""

    def __init__(self, bootstrap, group, topic):
        self.topic = topic
        self.bootstrap = bootstrap
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "enable.auto.commit": False})
        self.history = []  # (time, {partition: committed})
        self.running = True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def read(self):
        try:
            parts = self.consumer.committed(
                [TopicPartition(self.topic, p) for p in range(PARTITIONS)], timeout=2)
            return {p.partition: max(p.offset, 0) for p in parts}
        except Exception:  # noqa: BLE001 - the broker may be down during its own fault
            return None

    def ends(self):
        """Each partition's end: past its last record, found by reading the partition from
        its start (once, after ingest is done). Read, not asked: tansu's s3 storage answers
        ListOffsets(latest) with an offset short of the end (see docs/targets.md)."""
        return {p: max((m.offset() + 1 for m in read_partition(self.bootstrap, self.topic, p)),
                       default=0)
                for p in range(PARTITIONS)}

    def watch(self):
        while self.running:
            now = self.read()
            if now is not None:
                self.history.append((time.monotonic(), now))
            time.sleep(0.25)

    def latest(self):
        return self.history[-1][1] if self.history else {}

    def recovery(self, since, ends):
        """Seconds from `since` until every partition that was behind then had moved."""
        before = [c for t, c in self.history if t <= since]
        at = before[-1] if before else {p: 0 for p in range(PARTITIONS)}
        waiting = {p for p in range(PARTITIONS) if at.get(p, 0) < ends[p]}
        moved = {}
        for t, c in self.history:
            if t <= since:
                continue
            for p in waiting:
                if p not in moved and c.get(p, 0) > at.get(p, 0):
                    moved[p] = t - since
        if not waiting or set(moved) != waiting:
            return None
        return max(moved.values(), default=0.0)

    def close(self):
        self.running = False
        self.thread.join()
        self.consumer.close()


class Run:
    """One pipeline under names of its own, its ingest and its three deliver workers."""

    def __init__(self, runner, work, feed, broker, aws, s3s, one_record):
        self.runner = runner
        self.suffix = uuid.uuid4().hex[:8]
        self.topic = f"faults_{self.suffix}"
        self.group = f"bench-{self.suffix}"
        os.environ["MAX_RECORDS"] = "10000"
        self.pipeline = configure(work, self.suffix, self.topic)
        text = self.pipeline.read_text()
        edits = [("page_size: 50000", f"page_size: {PAGE}\n    timeout: 5s"),
                 ("max_age: 60s", "max_age: 2s")]
        if one_record:
            edits.append(("      bootstrap: ${KAFKA_BOOTSTRAP_SERVERS",
                          '      properties: { batch.num.messages: "1" }\n'
                          "      bootstrap: ${KAFKA_BOOTSTRAP_SERVERS"))
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new)
        self.pipeline.write_text(text)
        self.bucket = f"bench-{self.suffix}"
        self.database = f"bench_{self.suffix}"
        self.aws, self.s3s = aws, s3s
        self.logs = work / f"logs-{self.suffix}"
        self.logs.mkdir()
        self.env = dict(os.environ, AWS_ENDPOINT_URL=aws, AWS_ENDPOINT_URL_S3=s3s,
                        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                        AWS_REGION="us-west-2", KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
                        RUST_LOG="warn,runner::backend::kafka_group=info",
                        SOCRATA_URL=feed.url)
        # apply makes the bucket on moto (s3s-fs has no bucket tagging), then again on s3s-fs
        apply_env = {k: v for k, v in self.env.items() if k != "AWS_ENDPOINT_URL_S3"}
        applied = subprocess.run([runner, "apply", str(self.pipeline), "--target", "aws"],
                                 env=apply_env, capture_output=True)
        if applied.returncode != 0:
            sys.exit(f"apply failed:\n{applied.stdout.decode()[-2000:]}{applied.stderr.decode(errors='replace')[-3000:]}")
        s3(s3s).create_bucket(Bucket=self.bucket)
        self.started = 0

    def spawn(self, flow, extra_env=None, once=False):
        self.started += 1
        name = f"{flow}-{self.started}"
        command = [self.runner, "run", flow, str(self.pipeline), "--target", "aws", "--format", "json"]
        if once:
            command.append("--once")
        process = subprocess.Popen(
            command, env=dict(self.env, **(extra_env or {})),
            stdout=open(self.logs / f"{name}.json", "wb"),
            stderr=open(self.logs / f"{name}.log", "wb"))
        process.name = name
        SPAWNED.append(process)
        return process

    def reassigned(self, since, victim):
        """Seconds from `since` (wall clock) until a worker other than `victim` logged a
        partition assigned to it by the group, or None."""
        first = None
        for log in self.logs.glob("deliver-*.log"):
            if victim is not None and log.stem == victim.name:
                continue
            for line in log.read_text(errors="replace").splitlines():
                if "partitions assigned by the group" not in line or "partitions=[]" in line:
                    continue
                at = datetime.fromisoformat(line.split()[0]).timestamp()
                if at > since and (first is None or at < first):
                    first = at
        return None if first is None else first - since

    def delivered(self):
        """Each key under the layout's prefix, with how many times it was delivered."""
        client = s3(self.s3s)
        counts = {}
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix="incremental_data/"):
            for item in page.get("Contents", []):
                # boto3 asks for URL-encoded keys and decodes `+` as a space; s3s-fs sends
                # them unencoded, and the runner's object names hold `+`, never a space.
                key = item["Key"].replace(" ", "+")
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                for line in body.splitlines():
                    key = json.loads(line)["offense_id"]
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def clean_up(self):
        for endpoint in (self.s3s, self.aws):
            try:
                remove_bucket(endpoint, self.bucket)
            except Exception as e:  # noqa: BLE001 - reported, never hides the run's error
                print(f"clean-up: {e}", file=sys.stderr)
        try:
            boto3.client("glue", endpoint_url=self.aws, aws_access_key_id="test",
                         aws_secret_access_key="test", region_name="us-west-2",
                         ).delete_database(Name=self.database)
        except Exception:  # noqa: BLE001
            pass


# The faults after which a worker takes a partition over from where the last commit left
# it. tansu answers a fetch that starts inside a record batch with nothing (see
# docs/targets.md), so these runs produce one record a batch; tansu's in-memory log slows
# down as such a log grows (measured: from about 1,400 records/s at the start to 600 at
# 150,000), so they run on HANDOVER_ROWS rows (default 50,000).
HANDOVER = {"kill-worker", "sigterm-worker", "crash-after-pending", "crash-mid-write",
            "crash-after-write"}


# Every process the script started, killed on the way out whatever happened.
SPAWNED = []


# Each fault: what it is called, and what it does to the run (see `scenario`).
FAULTS = {
    "none": "no fault",
    "kill-worker": "`kill -9` of one deliver worker (not restarted)",
    "sigterm-worker": "SIGTERM to one deliver worker during a batch (not restarted)",
    "crash-after-pending": "deliver killed at `deliver-after-pending`, restarted",
    "crash-mid-write": "deliver killed at `deliver-mid-write`, restarted",
    "crash-after-write": "deliver killed at `deliver-after-write`, restarted",
    "crash-ingest": "ingest killed at `ingest-after-produce`, restarted",
    "broker-restart": "broker `kill -9`, back 5 s later",
    "s3-errors": "S3 answers 503 SlowDown to 10% of requests, 500 to 2%",
    "glue-throttling": "Glue answers ThrottlingException to {glue:.0%} of requests",
    "socrata-errors": "Socrata answers 429 to 10% of requests, 500 to 5%, and stalls one for 20 s",
}


def scenario(fault, runner, rows, keys, work, broker, aws, s3s):
    feed = Feed(rows)
    run = Run(runner, work, feed, broker, aws, s3s, one_record=fault in HANDOVER)
    worker_env = [{} for _ in range(WORKERS)]
    ingest_env = {}
    proxies = []
    if fault.startswith("crash-") and fault != "crash-ingest":
        worker_env[0] = {"RUNNER_CRASH_AT": f"deliver-{fault[len('crash-'):]}:2"}
    if fault == "crash-ingest":
        ingest_env = {"RUNNER_CRASH_AT": "ingest-after-produce:20"}
    if fault == "s3-errors":
        proxy = FaultProxy(s3s, [(0.10, 503, FaultProxy.S3_ERRORS[503], "application/xml"),
                                 (0.02, 500, FaultProxy.S3_ERRORS[500], "application/xml")])
        proxies.append(proxy)
        run.env["AWS_ENDPOINT_URL_S3"] = proxy.url
    if fault == "glue-throttling":
        throttled = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        proxy = FaultProxy(aws, [(float(os.environ.get("GLUE_THROTTLE", "0.20")), 400, throttled,
                                  "application/x-amz-json-1.1")])
        proxies.append(proxy)
        run.env["AWS_ENDPOINT_URL_GLUE"] = proxy.url
    if fault == "socrata-errors":
        feed.throttle, feed.fail = 0.10, 0.05
        feed.stall_at, feed.stall_seconds = 60, 20.0

    progress = Progress(broker.bootstrap, run.group, run.topic)
    start = time.monotonic()
    workers = [run.spawn("deliver", worker_env[i]) for i in range(WORKERS)]
    ingest = run.spawn("ingest", ingest_env, once=True)
    restarts, fault_time, fault_wall, victim = 0, None, None, None
    exits = []  # the exit codes of the processes that died and were started again
    deadline = start + 600
    ingest_code = None
    last_report, ends = start, None
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = time.monotonic()
        if fault_time is None and now - start >= FAULT_AT:
            if fault in ("kill-worker", "sigterm-worker"):
                victim = workers[0]
                victim.send_signal(signal.SIGKILL if fault == "kill-worker" else signal.SIGTERM)
                fault_time, fault_wall = now, time.time()
            elif fault == "broker-restart":
                broker.kill()
                fault_time, fault_wall = now, time.time()
                time.sleep(5)
                broker.start()
            elif fault in ("none", "s3-errors", "glue-throttling", "socrata-errors"):
                fault_time, fault_wall = now, time.time()
        for i, worker in enumerate(workers):
            code = worker.poll()
            if code is not None and worker is not victim:
                if fault.startswith("crash-") and fault_time is None:
                    fault_time, fault_wall = now, time.time()
                restarts += 1
                exits.append(code)
                workers[i] = run.spawn("deliver")
        if ingest_code is None:
            code = ingest.poll()
            if code is not None and code != 0:
                if fault == "crash-ingest" and fault_time is None:
                    fault_time, fault_wall = now, time.time()
                restarts += 1
                exits.append(code)
                ingest = run.spawn("ingest", once=True)
            elif code == 0:
                ingest_code = 0
        if now - last_report >= 5:
            last_report = now
            print(f"  {fault}: {now - start:.0f} s, committed {progress.latest()} ingest {ingest_code} ends {ends}", file=sys.stderr)
        if ingest_code == 0:
            ends = ends or progress.ends()
            if progress.latest() == ends and (fault_time is not None or now - start > FAULT_AT + 30):
                break
    else:
        print(f"{fault}: the group did not reach the log's end in time", file=sys.stderr)
    run_seconds = time.monotonic() - start
    if fault_time is None:
        print(f"{fault}: the fault never struck (the run ended first)", file=sys.stderr)
    ends = ends or progress.ends()
    # Recovery and reassignment are figures of faults that strike once; a fault that lasts
    # the run shows its cost in the run time.
    recovery = (progress.recovery(fault_time, ends)
                if fault in HANDOVER | {"broker-restart"} and fault_time is not None else None)
    failover = run.reassigned(fault_wall, victim) if fault in HANDOVER and fault_wall else None
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    codes = sorted({w.wait(timeout=60) for w in workers} | set(exits)
                   | ({victim.wait()} if victim else set()))
    progress.close()
    feed.server.shutdown()
    for proxy in proxies:
        proxy.server.shutdown()

    counts = run.delivered()
    once = sum(1 for k in keys if counts.get(k) == 1)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    lost = sum(1 for k in keys if k not in counts)
    injected = sum(p.injected for p in proxies) + feed.errors
    committed = sum(progress.latest().values())
    if lost or duplicates:
        # Kept for a look: where the missing records lie in the log, and the bucket.
        missing = {k for k in keys if k not in counts}
        where = {}
        for p in range(PARTITIONS):
            for m in read_partition(broker.bootstrap, run.topic, p):
                if json.loads(m.value())["offense_id"] in missing:
                    where.setdefault(p, []).append(m.offset())
        for p, offsets in sorted(where.items()):
            offsets.sort()
            print(f"  {fault}: partition {p}: {len(offsets)} missing, offsets {offsets[0]}..{offsets[-1]}",
                  file=sys.stderr)
        print(f"  {fault}: bucket {run.bucket} on {s3s} kept", file=sys.stderr)
    else:
        run.clean_up()
    return {
        "fault": FAULTS[fault].format(glue=float(os.environ.get("GLUE_THROTTLE", "0.20"))),
        "in": len(keys), "once": once, "duplicates": duplicates,
        "lost": lost, "failover": failover, "recovery": recovery, "seconds": run_seconds, "restarts": restarts,
        "codes": codes, "injected": injected, "committed": committed, "end": sum(ends.values()),
    }


def main():
    runner, n = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    chosen = sys.argv[3:] or list(FAULTS)
    for fault in chosen:
        if fault not in FAULTS:
            sys.exit(f"unknown fault {fault!r}; the faults: {', '.join(FAULTS)}")
    aws, s3s = os.environ["RUNNER_TEST_AWS"], os.environ["RUNNER_TEST_S3S"]
    handover_n = min(n, int(os.environ.get("HANDOVER_ROWS", "50000")))
    rows = api_rows(n)
    keys = [int(json.loads(r)["offense_id"]) for r in rows]
    few_rows = api_rows(handover_n)
    few_keys = [int(json.loads(r)["offense_id"]) for r in few_rows]
    work = Path(tempfile.mkdtemp(prefix="faults-", dir=ROOT / "target" / "bench"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    results = []
    try:
        for fault in chosen:
            broker = Broker(s3s, work, durable=fault == "broker-restart")
            SPAWNED.append(broker)
            if fault in HANDOVER:
                result = scenario(fault, runner, few_rows, few_keys, work, broker, aws, s3s)
            else:
                result = scenario(fault, runner, rows, keys, work, broker, aws, s3s)
            broker.stop()
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
    finally:
        for process in SPAWNED:
            if isinstance(process, Broker):
                process.stop()
            elif process.poll() is None:
                process.kill()
    print(f"\n{WORKERS} deliver workers, {PARTITIONS} partitions; logs in {work}\n")
    print("| fault | records in | delivered once | duplicates | lost | partitions reassigned "
          "| recovery | run time | errors injected | restarts | exit codes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        recovery = f"{r['recovery']:.1f} s" if r["recovery"] is not None else "-"
        failover = f"{r['failover']:.1f} s" if r["failover"] is not None else "-"
        print(f"| {r['fault']} | {r['in']:,} | {r['once']:,} | {r['duplicates']:,} | "
              f"{r['lost']:,} | {failover} | {recovery} | {r['seconds']:.0f} s | {r['injected']:,} | "
              f"{r['restarts']} | {', '.join(map(str, r['codes']))} |")


if __name__ == "__main__":
    main()
