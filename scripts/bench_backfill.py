"""The backfill benchmark (run by scripts/bench-backfill.sh): synthesizes CSV exports of N rows
from the real SPD export sample and times, on the same file, `runner run backfill_export`
(local target), DuckDB and pandas + pyarrow doing the same cleaning into year/month
partitioned Snappy Parquet. Each engine runs as its own process, REPEAT times (3 unless the
environment says otherwise): the table gives the median time and the highest peak RSS (from
wait4(2)). Prints a Markdown table.

usage: bench_backfill.py RUNNER_BINARY ROWS...
"""

import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "spd_crime_data_2008_present_export_sample.csv"
PANDAS_MAX_ROWS = 1_000_000  # pandas holds the whole file in memory; 10M would not fit well
REPEAT = int(os.environ.get("REPEAT", "3"))  # runs of each engine; the median time is reported

TIMESTAMP = "%m/%d/%Y %I:%M:%S %p"

DUCKDB = r"""
import sys, duckdb
csv_path, out = sys.argv[1], sys.argv[2]
def ts(col):
    return (f"timezone('UTC', timezone('America/Los_Angeles', "
            f"try_strptime(nullif(trim(\"{col}\"), ''), '{TIMESTAMP}')))")
def nulls(col, tokens, upper=False):
    value = f"trim(\"{col}\")"
    listed = ", ".join(f"'{t}'" for t in tokens + [""])
    out = f"upper({value})" if upper else value
    return f"CASE WHEN {value} IN ({listed}) THEN NULL ELSE {out} END"
def coord(col, low, high):
    x = f"TRY_CAST({nulls(col, ['0', '0.0', '-1.0', 'REDACTED', '-'])} AS DOUBLE)"
    return f"CASE WHEN {x} BETWEEN {low} AND {high} THEN {x} END"
sql = f'''
COPY (
  WITH raw AS (
    SELECT row_number() OVER () AS line, *
    FROM read_csv('{csv_path}', header = true, all_varchar = true)
  ), typed AS (
    SELECT line,
      nullif(trim("Report Number"), '') AS report_number,
      TRY_CAST(trim("Offense ID") AS BIGINT) AS offense_id,
      {ts("Offense Start DateTime")} AS offense_start_datetime,
      {ts("Offense End DateTime")} AS offense_end_datetime,
      {ts("Report DateTime")} AS report_datetime,
      CASE WHEN upper(trim("Crime Against Category")) IN ('PERSON', 'PROPERTY', 'SOCIETY', 'NOT_A_CRIME')
           THEN upper(trim("Crime Against Category")) END AS crime_against_category,
      nullif(upper(trim("Offense Parent Group")), '') AS offense_parent_group,
      nullif(trim("Offense"), '') AS offense,
      nullif(trim("Offense Code"), '') AS offense_code,
      {nulls("Precinct", ["UNKNOWN", "OOJ", "-"], upper=True)} AS precinct,
      {nulls("Sector", ["-", "99"], upper=True)} AS sector,
      {nulls("MCPP", ["UNKNOWN", "-"], upper=True)} AS mcpp,
      {nulls("100 Block Address", ["REDACTED", "-"])} AS block_address,
      {coord("Longitude", -122.5, -122.2)} AS longitude,
      {coord("Latitude", 47.4, 47.8)} AS latitude
    FROM raw
  )
  SELECT * EXCLUDE (line), year(report_datetime) AS year, month(report_datetime) AS month
  FROM typed
  WHERE report_number IS NOT NULL AND regexp_full_match(report_number, '\d{{4}}-\d{{6}}')
    AND offense_id IS NOT NULL AND report_datetime IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY offense_id ORDER BY line DESC) = 1
) TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (year, month))
'''
duckdb.sql(sql)
""".replace("{TIMESTAMP}", TIMESTAMP)

PANDAS = r"""
import sys
import numpy as np
import pandas as pd
csv_path, out = sys.argv[1], sys.argv[2]
TIMESTAMP = "%m/%d/%Y %I:%M:%S %p"
df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
def ts(col):
    t = pd.to_datetime(df[col].str.strip(), format=TIMESTAMP, errors="coerce")
    local = t.dt.tz_localize("America/Los_Angeles", ambiguous=np.ones(len(t), dtype=bool), nonexistent="NaT")
    return local.dt.tz_convert("UTC").dt.tz_localize(None)
def nulls(col, tokens, upper=False):
    value = df[col].str.strip()
    value = value.where(~value.isin(tokens + [""]))
    return value.str.upper() if upper else value
def coord(col, low, high):
    x = pd.to_numeric(nulls(col, ["0", "0.0", "-1.0", "REDACTED", "-"]), errors="coerce")
    return x.where((x >= low) & (x <= high))
category = df["Crime Against Category"].str.strip().str.upper()
clean = pd.DataFrame({
    "report_number": nulls("Report Number", []),
    "offense_id": pd.to_numeric(df["Offense ID"].str.strip(), errors="coerce").astype("Int64"),
    "offense_start_datetime": ts("Offense Start DateTime"),
    "offense_end_datetime": ts("Offense End DateTime"),
    "report_datetime": ts("Report DateTime"),
    "crime_against_category": category.where(category.isin(["PERSON", "PROPERTY", "SOCIETY", "NOT_A_CRIME"])),
    "offense_parent_group": nulls("Offense Parent Group", [], upper=True),
    "offense": nulls("Offense", []),
    "offense_code": nulls("Offense Code", []),
    "precinct": nulls("Precinct", ["UNKNOWN", "OOJ", "-"], upper=True),
    "sector": nulls("Sector", ["-", "99"], upper=True),
    "mcpp": nulls("MCPP", ["UNKNOWN", "-"], upper=True),
    "block_address": nulls("100 Block Address", ["REDACTED", "-"]),
    "longitude": coord("Longitude", -122.5, -122.2),
    "latitude": coord("Latitude", 47.4, 47.8),
})
del df
ok = (clean["report_number"].str.fullmatch(r"\d{4}-\d{6}").fillna(False).astype(bool)
      & clean["offense_id"].notna() & clean["report_datetime"].notna())
clean = clean[ok].drop_duplicates("offense_id", keep="last")
clean["year"] = clean["report_datetime"].dt.year
clean["month"] = clean["report_datetime"].dt.month
clean.to_parquet(out, partition_cols=["year", "month"], compression="snappy", engine="pyarrow")
"""


def synthesize(rows: int, path: Path) -> None:
    """Writes `rows` rows: the real sample repeated, each copy with its own Offense IDs."""
    with SAMPLE.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        sample = list(reader)
    id_column = header.index("Offense ID")
    templates = []
    for row in sample:
        before, after = _line(row[:id_column]), _line(row[id_column + 1:])
        templates.append((before + "," if before else "", row[id_column], "," + after))
    with path.open("w", newline="") as out:
        out.write(_line(header) + "\n")
        written, copy = 0, 0
        while written < rows:
            chunk = []
            for before, offense_id, after in templates[: rows - written]:
                chunk.append(f"{before}{offense_id}{copy:04d}{after}\n")
            out.write("".join(chunk))
            written += len(chunk)
            copy += 1


def _line(fields):
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def measure(command, env=None):
    """Runs a command; returns (seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{command[0]} failed:\n{stderr.decode(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout


def timed(command, env=None, before=None):
    """Runs a command REPEAT times (`before` each run); returns (median seconds, peak RSS in
    MiB over the runs, the last run's stdout)."""
    runs = []
    for _ in range(REPEAT):
        if before:
            before()
        runs.append(measure(command, env))
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def parquet_rows(directory: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in directory.rglob("*.parquet"))


def main() -> None:
    runner = sys.argv[1]
    sizes = [int(n) for n in sys.argv[2:]] or [1_000_000]
    work = Path(tempfile.mkdtemp(prefix="bench-backfill-", dir=ROOT / "target" / "bench"))
    results = []
    try:
        for rows in sizes:
            data = work / f"spd_{rows}.csv"
            synthesize(rows, data)
            megabytes = data.stat().st_size / 1e6
            print(f"{rows:,} rows, {megabytes:,.0f} MB", file=sys.stderr)

            pipeline_dir = work / f"runner-{rows}"
            shutil.copytree(ROOT / "pipelines", pipeline_dir)
            pipeline = pipeline_dir / "seattle_911_crime.yaml"
            text = pipeline.read_text().replace(
                "path: data/spd_crime_data_2008_present_export_sample.csv", f"path: {data}"
            )
            pipeline.write_text(text)
            env = dict(os.environ, RUNNER_STATE_DIR=str(pipeline_dir / "state"), RUST_LOG="warn")
            subprocess.run([runner, "apply", str(pipeline)], check=True, env=env, capture_output=True)
            # --restart: every run does the whole job again (the first has no checkpoint).
            seconds, rss, out = timed(
                [runner, "run", "backfill_export", str(pipeline), "--restart", "--format", "json"],
                env,
            )
            summary = json.loads(out)
            written = parquet_rows(pipeline_dir / "state" / "s3" / "seattle-911" / "historical")
            assert written == summary["written"], (written, summary)
            results.append(("runner", rows, megabytes, seconds, rss, written))
            shutil.rmtree(pipeline_dir)

            out_dir = work / f"duckdb-{rows}"
            seconds, rss, _ = timed(
                [sys.executable, "-c", DUCKDB, str(data), str(out_dir)],
                before=lambda: shutil.rmtree(out_dir, ignore_errors=True),
            )
            results.append(("DuckDB", rows, megabytes, seconds, rss, parquet_rows(out_dir)))
            shutil.rmtree(out_dir)

            if rows <= PANDAS_MAX_ROWS:
                out_dir = work / f"pandas-{rows}"
                seconds, rss, _ = timed(
                    [sys.executable, "-c", PANDAS, str(data), str(out_dir)],
                    before=lambda: shutil.rmtree(out_dir, ignore_errors=True),
                )
                results.append(("pandas + pyarrow", rows, megabytes, seconds, rss, parquet_rows(out_dir)))
                shutil.rmtree(out_dir)
            data.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    import duckdb
    import pandas
    import pyarrow

    print(f"\nduckdb {duckdb.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, "
          f"{os.cpu_count()} cores, median of {REPEAT} runs\n")
    print("| engine | input rows | input MB | seconds | rows/s | MB/s | peak RSS MiB | rows written |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for engine, rows, megabytes, seconds, rss, written in results:
        print(f"| {engine} | {rows:,} | {megabytes:,.0f} | {seconds:.1f} | {rows / seconds:,.0f} | "
              f"{megabytes / seconds:.1f} | {rss:,.0f} | {written:,} |")


if __name__ == "__main__":
    main()
