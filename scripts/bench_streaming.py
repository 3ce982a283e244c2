"""The streaming benchmark (run by scripts/bench-streaming.sh with the services started):
N rows shaped like the Socrata API's (real SPD rows repeated with unique offense ids) are
served by a replay server; `runner run ingest --once` moves them into the broker and
`runner run deliver --once` into S3 (moto, then again into s3s-fs when RUNNER_TEST_S3S is
set); plain librdkafka (confluent-kafka) produces and
consumes the same messages with the same settings as the baseline. With LAG_MS set (and
s3s-fs), deliver runs once more with its S3 and Glue requests answered LAG_MS later, through
a proxy: how it does against a store that is far away, as the cloud's is. Prints a Markdown
table.

usage: bench_streaming.py RUNNER_BINARY ROWS
"""

import asyncio
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "spd_crime_data_2023_formatted.csv"


def api_rows(n):
    """Rows in the API's JSON shape, sorted by report time then row id, as the runner asks."""
    with SAMPLE.open(newline="") as f:
        sample = list(csv.DictReader(f))
    rows = []
    for i in range(n):
        source = sample[i % len(sample)]
        row = {}
        for name, value in source.items():
            if not value:
                continue
            if name == "block_address":
                name = "_100_block_address"
            if name.endswith("datetime"):
                value = value.replace(" ", "T") + ".000"
            row[name] = value
        row["offense_id"] = f"{source['offense_id']}{i // len(sample):04d}"
        rows.append(row)
    rows.sort(key=lambda r: r["report_datetime"])
    return [json.dumps(r).encode() for r in rows]


def serve(rows):
    """A replay server for the first poll: `$order`, `$limit`, `$offset` (no `$where`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = parse_qs(urlparse(self.path).query)
            if "$where" in query:
                self.send_error(400, "the benchmark serves the first poll only")
                return
            limit, offset = int(query["$limit"][0]), int(query["$offset"][0])
            body = b"[" + b",".join(rows[offset:offset + limit]) + b"]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def lagging(url, delay):
    """A TCP proxy to the server of `url` whose answers to each request come `delay` seconds
    late (the first bytes back after bytes sent wait); returns its URL."""
    target = urlparse(url)
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, port)
        asked = False

        async def up():
            nonlocal asked
            try:
                while data := await client_reader.read(1 << 16):
                    asked = True
                    server_writer.write(data)
                    await server_writer.drain()
            finally:
                server_writer.close()

        async def down():
            nonlocal asked
            try:
                while data := await server_reader.read(1 << 16):
                    if asked:
                        asked = False
                        await asyncio.sleep(delay)
                    client_writer.write(data)
                    await client_writer.drain()
            finally:
                client_writer.close()

        await asyncio.gather(up(), down(), return_exceptions=True)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return f"{target.scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def timed(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return seconds, json.loads(done.stdout)


def timed_workers(command, env, workers):
    """Runs `workers` copies of `command` at once (deliver workers of one group); returns
    the seconds until the last exits, the records they wrote together, and when the group
    settled: the seconds until the last partition assignment a worker logged."""
    env = dict(env, RUST_LOG="warn,runner::backend::kafka_group=info")
    started = time.time()
    start = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(workers)]
    outputs = [p.communicate() for p in processes]
    seconds = time.perf_counter() - start
    settled = 0.0
    for process, (_, err) in zip(processes, outputs):
        if process.returncode != 0:
            sys.exit(f"a deliver worker failed:\n{err.decode(errors='replace')[-3000:]}")
        for line in err.decode(errors="replace").splitlines():
            if "partitions assigned by the group" in line and "partitions=[]" not in line:
                at = datetime.fromisoformat(line.split()[0]).timestamp() - started
                settled = max(settled, at)
    return seconds, {"written": sum(json.loads(out)["written"] for out, _ in outputs),
                     "settled": settled}


def raw_client(bootstrap, payloads):
    """Produces and consumes `payloads` with librdkafka alone, as the runner is configured."""
    topic = f"bench_raw_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result()
    time.sleep(1)
    producer = Producer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
        "compression.type": "lz4", "linger.ms": 5,
    })
    start = time.perf_counter()
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(600) != 0:
        sys.exit("raw producer: messages left undelivered")
    produce_seconds = time.perf_counter() - start

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    start = time.perf_counter()
    received = 0
    deadline = start + 600
    while received < len(payloads) and time.perf_counter() < deadline:
        for message in consumer.consume(num_messages=5000, timeout=1.0):
            if message.error() is None:
                received += 1
    consume_seconds = time.perf_counter() - start
    consumer.close()
    admin.delete_topics([topic])[topic].result()
    return produce_seconds, consume_seconds, received


def clean_up(bootstrap, topic, buckets, aws, databases):
    """Deletes the benchmark's topic, buckets and Glue databases (`aws` is the Glue
    endpoint); a failure here is reported, not raised, so it never hides the error that
    ended a run."""
    try:
        for endpoint, bucket in buckets:
            remove_bucket(endpoint, bucket)
        glue = boto3.client("glue", endpoint_url=aws, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name="us-west-2")
        for database in databases:
            try:
                glue.delete_database(Name=database)
            except glue.exceptions.EntityNotFoundException:
                pass
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.delete_topics([topic])[topic].result()
    except Exception as e:  # noqa: BLE001 - any failure of the clean-up is only reported
        print(f"clean-up: {e}", file=sys.stderr)


def remove_bucket(endpoint, bucket):
    """Deletes `bucket` and its objects, so the services do not grow from run to run (moto
    keeps objects in memory; a fuller store was measured slower)."""
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                      aws_secret_access_key="test", region_name="us-east-1")
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass


def configure(work, name, topic):
    """The Seattle pipeline under its own names (pipeline, bucket, database, table) reading
    and writing `topic`, with the benchmark's page and batch sizes."""
    folder = work / name
    shutil.copytree(ROOT / "pipelines", folder)
    pipeline = folder / "seattle_911_crime.yaml"
    text = pipeline.read_text()
    for old, new in [
        ("page_size: 1000", "page_size: 50000"),
        ("pipeline: seattle-911-crime", f"pipeline: bench-{name}"),
        ("bucket: seattle-911", f"bucket: bench-{name}"),
        ("database: seattle_911", f"database: bench_{name}"),
        ("  seattle_911_crime:\n    partitions", f"  {topic}:\n    partitions"),
        ("to_topic: seattle_911_crime", f"to_topic: {topic}"),
        ("from_topic: seattle_911_crime", f"from_topic: {topic}"),
        ("group: s3-sink", f"group: bench-{name}"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    # Deliver in batches as large as the broker's reads allow (MAX_RECORDS=10000 keeps the
    # pipeline's own size).
    text = re.sub(r"max_records: 10000", f"max_records: {os.environ.get('MAX_RECORDS', '50000')}",
                  text)
    pipeline.write_text(text)
    return pipeline


def main():
    runner, n = sys.argv[1], int(sys.argv[2])
    bootstrap = os.environ["RUNNER_TEST_KAFKA"]
    aws = os.environ["RUNNER_TEST_AWS"]
    s3s = os.environ.get("RUNNER_TEST_S3S")
    lag_ms = float(os.environ.get("LAG_MS", "0"))
    workers = int(os.environ.get("WORKERS", "3"))
    rows = api_rows(n)
    server = serve(rows)
    work = Path(tempfile.mkdtemp(prefix="bench-streaming-", dir=ROOT / "target" / "bench"))
    suffix = uuid.uuid4().hex[:8]
    topic = f"bench_{suffix}"
    try:
        pipeline = configure(work, suffix, topic)
        env = dict(os.environ, AWS_ENDPOINT_URL=aws, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-west-2",
                   KAFKA_BOOTSTRAP_SERVERS=bootstrap, RUST_LOG="warn",
                   SOCRATA_URL=f"http://127.0.0.1:{server.server_port}/resource/tazs-3rd5.json")
        subprocess.run([runner, "apply", str(pipeline), "--target", "aws"], check=True, env=env,
                       capture_output=True)
        ingest_seconds, ingest = timed(
            [runner, "run", "ingest", str(pipeline), "--target", "aws", "--once", "--format", "json"], env)
        deliver_seconds, deliver = timed(
            [runner, "run", "deliver", str(pipeline), "--target", "aws", "--once", "--format", "json"], env)
        # The same records delivered again by a second pipeline whose objects go to s3s-fs
        # (a Rust S3 server) rather than moto (Python): what deliver does when the store
        # keeps up. Its catalog stays on moto.
        fast = lagged = several = None

        def on_s3s(name):
            """The pipeline under `name`, applied, its bucket made again on s3s-fs (which has
            no bucket tagging: apply makes the bucket on moto)."""
            other = configure(work, name, topic)
            subprocess.run([runner, "apply", str(other), "--target", "aws"], check=True,
                           env=env, capture_output=True)
            boto3.client("s3", endpoint_url=s3s, aws_access_key_id="test",
                         aws_secret_access_key="test", region_name="us-east-1",
                         ).create_bucket(Bucket=f"bench-{name}")
            return other

        if s3s:
            other = on_s3s(f"{suffix}s")
            fast_env = dict(env, AWS_ENDPOINT_URL_S3=s3s)
            fast = timed([runner, "run", "deliver", str(other), "--target", "aws", "--once",
                          "--format", "json"], fast_env)
            # The same again with WORKERS (default 3) workers of one group sharing the
            # topic's partitions through Kafka's group protocol.
            shared = on_s3s(f"{suffix}w")
            several = timed_workers([runner, "run", "deliver", str(shared), "--target", "aws",
                                     "--once", "--format", "json"], fast_env, workers)
            if lag_ms:
                far = on_s3s(f"{suffix}l")
                far_env = dict(env, AWS_ENDPOINT_URL=lagging(aws, lag_ms / 1000),
                               AWS_ENDPOINT_URL_S3=lagging(s3s, lag_ms / 1000))
                lagged = timed([runner, "run", "deliver", str(far), "--target", "aws",
                                "--once", "--format", "json"], far_env)
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
        others = [f"{suffix}s", f"{suffix}w"] + ([f"{suffix}l"] if lag_ms else []) if s3s else []
        clean_up(bootstrap, topic,
                 [(aws, f"bench-{suffix}")]
                 + [(store, f"bench-{other}") for other in others for store in (aws, s3s)],
                 aws, [f"bench_{suffix}"] + [f"bench_{other}" for other in others])

    produced, written = ingest["produced"], deliver["written"]
    print(f"runner: ingest {produced:,} in {ingest_seconds:.1f} s, deliver {written:,} in "
          f"{deliver_seconds:.1f} s", file=sys.stderr)
    payloads = [(str(i).encode(), row) for i, row in enumerate(rows)]
    raw_produce, raw_consume, received = raw_client(bootstrap, payloads)
    consume_rate = received / raw_consume

    print(f"\n{n:,} rows; confluent-kafka {__import__('confluent_kafka').version()[0]}; "
          f"broker {bootstrap}; S3 {aws}" + (f" and {s3s}" if s3s else "") + "\n")
    print("| step | messages | seconds | messages/s | raw librdkafka messages/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| ingest (HTTP, clean, produce) | {produced:,} | {ingest_seconds:.2f} | "
          f"{produced / ingest_seconds:,.0f} | {n / raw_produce:,.0f} (produce) | "
          f"{(produced / ingest_seconds) / (n / raw_produce):.0%} |")
    print(f"| deliver (consume, decode, write S3: moto) | {written:,} | {deliver_seconds:.2f} | "
          f"{written / deliver_seconds:,.0f} | {consume_rate:,.0f} (consume) | "
          f"{(written / deliver_seconds) / consume_rate:.0%} |")
    if fast:
        seconds, summary = fast
        print(f"| deliver (consume, decode, write S3: s3s-fs) | {summary['written']:,} | "
              f"{seconds:.2f} | {summary['written'] / seconds:,.0f} | {consume_rate:,.0f} "
              f"(consume) | {(summary['written'] / seconds) / consume_rate:.0%} |")
    if several:
        seconds, summary = several
        print(f"| deliver, {workers} workers of one group (s3s-fs; the group settled after "
              f"{summary['settled']:.1f} s) | {summary['written']:,} | "
              f"{seconds:.2f} | {summary['written'] / seconds:,.0f} | {consume_rate:,.0f} "
              f"(consume) | {(summary['written'] / seconds) / consume_rate:.0%} |")
    if lagged:
        seconds, summary = lagged
        print(f"| deliver (consume, decode, write S3: s3s-fs, {lag_ms:g} ms a request) | "
              f"{summary['written']:,} | {seconds:.2f} | {summary['written'] / seconds:,.0f} | "
              f"{consume_rate:,.0f} (consume) | "
              f"{(summary['written'] / seconds) / consume_rate:.0%} |")


if __name__ == "__main__":
    main()
