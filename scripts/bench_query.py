"""The query benchmark (run by scripts/bench-query.sh): backfills N synthesized SPD rows
(as scripts/bench_backfill.py makes them) into a local target, then times `runner query`
printing every row of the `offenses` table in each output format, its output read and
counted as it comes. Prints a Markdown table of seconds, peak RSS (from wait4(2)) and
output size per format.

usage: bench_query.py RUNNER_BINARY ROWS
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_backfill import ROOT, synthesize

SQL = "SELECT * FROM {{ table('offenses') }}"


def measure(command, env):
    """Runs `command`; returns (seconds, peak RSS in MiB, bytes and lines it printed, its
    last line)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)
        size = lines = 0
        tail = b""
        while chunk := process.stdout.read(1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
            tail = (tail + chunk)[-4096:]
        _, status, usage = os.wait4(process.pid, 0)
        errors.seek(0)
        stderr = errors.read()
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{stderr.decode(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, size, lines, tail.decode(errors="replace").rstrip("\n").rsplit("\n", 1)[-1]


def main():
    runner, rows = sys.argv[1], int(sys.argv[2])
    work = Path(tempfile.mkdtemp(prefix="bench-query-", dir=ROOT / "target" / "bench"))
    try:
        data = work / "spd.csv"
        synthesize(rows, data)
        folder = work / "pipelines"
        shutil.copytree(ROOT / "pipelines", folder)
        pipeline = folder / "seattle_911_crime.yaml"
        pipeline.write_text(pipeline.read_text().replace(
            "path: data/spd_crime_data_2008_present_export_sample.csv", f"path: {data}"))
        env = dict(os.environ, RUNNER_STATE_DIR=str(work / "state"), RUST_LOG="warn")
        subprocess.run([runner, "apply", str(pipeline)], check=True, env=env, capture_output=True)
        backfill = subprocess.run(
            [runner, "run", "backfill_export", str(pipeline), "--format", "json"],
            check=True, env=env, capture_output=True)
        written = json.loads(backfill.stdout)["written"]
        data.unlink()
        results = []
        for output in ["csv", "json", "table"]:
            seconds, rss, size, lines, last = measure(
                [runner, "query", str(pipeline), "--sql", SQL, "--engine", "embedded",
                 "--format", output], env)
            # Every row came out: CSV has a header line, JSON its brackets, and the table
            # counts them under its first rows.
            expected = {"csv": written + 1, "json": written + 2}.get(output)
            assert lines == expected or (output == "table" and last.startswith(f"({written} rows")), \
                (output, lines, last)
            results.append((output, seconds, rss, size, lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{written:,} rows in the offenses table (Parquet), {os.cpu_count()} cores\n")
    print("| format | seconds | rows/s | peak RSS MiB | output MB | output lines |")
    print("|---|---:|---:|---:|---:|---:|")
    for output, seconds, rss, size, lines in results:
        print(f"| {output} | {seconds:.1f} | {written / seconds:,.0f} | {rss:,.0f} | "
              f"{size / 1e6:,.0f} | {lines:,} |")


if __name__ == "__main__":
    main()
