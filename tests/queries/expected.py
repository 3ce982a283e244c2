#!/usr/bin/env python3
"""The expected answer of every query in tests/queries/, computed without any SQL engine.

Each NN_name.sql is an Athena query over the Seattle history table (`offenses`); its answer
on the shipped data (data/spd_crime_data_2023_formatted.csv, cleaned by the rules of the
`offenses` dataset in pipelines/seattle_911_crime.yaml) is computed here in plain Python,
following Trino's documented semantics, and kept in NN_name.csv, in the CSV `runner query
--format csv` prints. The integration test `queries::*` runs each query on the embedded
engine and compares; this script is the independent side.

    python3 tests/queries/expected.py --write   # writes every NN_name.csv
    python3 tests/queries/expected.py --check   # exits 1 when a .csv differs from here

Standard library only.
"""

import csv
import io
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data" / "spd_crime_data_2023_formatted.csv"
LOCAL = ZoneInfo("America/Los_Angeles")


def text(raw, null_if=(), upper=False, allowed=None):
    """A text field: trimmed, NULL when empty or a null token, then upper-cased."""
    value = raw.strip()
    if value == "" or value in null_if:
        return None
    if upper:
        value = value.upper()
    if allowed is not None and value not in allowed:
        return None  # on_invalid: null
    return value


def instant(raw):
    """A local Seattle time as a UTC instant; NULL when empty or unreadable."""
    value = raw.strip()
    if not value:
        return None
    try:
        local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=LOCAL).astimezone(timezone.utc)


def coordinate(raw, low, high):
    """A coordinate; NULL for the null tokens and outside the range (on_invalid: null)."""
    value = text(raw, null_if=("0", "0.0", "-1.0", "REDACTED", "-"))
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if low <= number <= high else None


def load():
    """The cleaned rows of the `offenses` dataset, last row of each offense_id kept."""
    rows = {}
    with open(DATA, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            row = {
                "report_number": text(r["report_number"]),
                "offense_id": int(r["offense_id"]),
                "offense_start_datetime": instant(r["offense_start_datetime"]),
                "report_datetime": instant(r["report_datetime"]),
                "crime_against_category": text(
                    r["crime_against_category"],
                    upper=True,
                    allowed={"PERSON", "PROPERTY", "SOCIETY", "NOT_A_CRIME"},
                ),
                "offense_parent_group": text(r["offense_parent_group"], upper=True),
                "offense": text(r["offense"]),
                "offense_code": text(r["offense_code"]),
                "precinct": text(r["precinct"], null_if=("UNKNOWN", "OOJ", "-"), upper=True),
                "sector": text(r["sector"], null_if=("-", "99"), upper=True),
                "mcpp": text(r["mcpp"], null_if=("UNKNOWN", "-"), upper=True),
                "block_address": text(r["block_address"], null_if=("REDACTED", "-")),
                "longitude": coordinate(r["longitude"], -122.5, -122.2),
                "latitude": coordinate(r["latitude"], 47.4, 47.8),
            }
            rows[row["offense_id"]] = row  # dedupe: last
    return list(rows.values())


def ts(t):
    """A UTC instant as `runner query --format csv` prints it."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(t):
    """to_iso8601 of a UTC timestamp: milliseconds, no zone."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def diff(unit, a, b):
    """Trino's date_diff(unit, a, b): whole units from a to b, toward zero."""
    if a is None or b is None:
        return None
    if unit == "month":
        months = (b.year * 12 + b.month) - (a.year * 12 + a.month)

        def add(t, n):
            y, m = divmod(t.month - 1 + n, 12)
            year, month = t.year + y, m + 1
            last = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
            return t.replace(year=year, month=month, day=min(t.day, last))

        if months > 0 and add(a, months) > b:
            months -= 1
        elif months < 0 and add(a, months) < b:
            months += 1
        return months
    seconds = {"day": 86400, "hour": 3600}[unit]
    delta = b - a
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    whole = abs(micros) // (seconds * 1_000_000)
    return whole if micros >= 0 else -whole


def grouped(rows, key):
    """Counts by key, NULL keys included."""
    return Counter(key(r) for r in rows)


def top(counter, limit, reverse_count=True):
    """(key, n) by n descending then key, at most `limit`."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def daily(rows):
    return sorted(grouped(rows, lambda r: r["report_datetime"].date()).items())


def answers(rows):
    """Each query's header and rows."""
    reported = [r["report_datetime"] for r in rows]
    first, last = min(reported), max(reported)
    addresses = [r["block_address"] for r in rows if r["block_address"] is not None]
    days = daily(rows)
    groups = grouped(rows, lambda r: r["offense_parent_group"])
    out = {}
    out["01_count"] = (["n"], [[len(rows)]])
    out["02_by_parent_group"] = (["offense_parent_group", "n"], top(groups, 10))
    out["03_year_month"] = (
        ["y", "m", "n"],
        [[y, m, n] for (y, m), n in sorted(grouped(rows, lambda r: (r["report_datetime"].year, r["report_datetime"].month)).items())],
    )
    out["04_partition_keys"] = (
        ["year", "month", "n"],
        [[y, m, n] for (y, m), n in sorted(grouped(rows, lambda r: (r["report_datetime"].year, r["report_datetime"].month)).items()) if y == 2024 and 1 <= m <= 2],
    )
    out["05_day_of_week"] = (["dow", "n"], sorted(grouped(rows, lambda r: r["report_datetime"].isoweekday()).items()))
    out["06_hour"] = (["h", "n"], sorted(grouped(rows, lambda r: r["report_datetime"].hour).items()))
    weeks = defaultdict(set)
    for t in reported:
        weeks[(t.month - 1) // 3 + 1].add(t.isocalendar()[1])
    out["07_quarter_weeks"] = (["q", "weeks"], [[q, len(w)] for q, w in sorted(weeks.items())])
    by_day = grouped(rows, lambda r: r["report_datetime"].replace(hour=0, minute=0, second=0, microsecond=0))
    out["08_busiest_days"] = (["day", "n"], [[ts(d), n] for d, n in top(by_day, 5)])
    late = [diff("day", r["offense_start_datetime"], r["report_datetime"]) for r in rows]
    quick = [diff("hour", r["offense_start_datetime"], r["report_datetime"]) for r in rows]
    out["09_reported_late"] = (
        ["over_a_month", "within_the_hour", "no_start"],
        [[sum(1 for d in late if d is not None and d > 30), sum(1 for d in quick if d is not None and d < 1), sum(1 for r in rows if r["offense_start_datetime"] is None)]],
    )
    out["10_last_week"] = (["n"], [[sum(1 for t in reported if t >= last - timedelta(days=7))]])
    out["11_interval"] = (["n"], [[sum(1 for t in reported if t >= datetime(2024, 2, 1, tzinfo=timezone.utc))]])
    out["12_date_format"] = (["ym", "n"], sorted(grouped(rows, lambda r: r["report_datetime"].strftime("%Y-%m")).items()))
    out["13_to_iso8601"] = (["first", "last"], [[iso(first), iso(last)]])
    out["14_from_iso8601"] = (["n"], [[sum(1 for t in reported if t >= datetime(2024, 2, 1, tzinfo=timezone.utc))]])
    out["15_date_parse"] = (["n"], [[sum(1 for t in reported if t < datetime(2024, 1, 15, tzinfo=timezone.utc))]])
    out["16_cast_date"] = (["d", "n"], [[d.isoformat(), n] for d, n in top(grouped(rows, lambda r: r["report_datetime"].date()), 3)])
    codes = [int(r["offense_code"]) if r["offense_code"] and re.fullmatch(r"[+-]?\d+", r["offense_code"]) else None for r in rows]
    out["17_try_cast"] = (["not_numeric", "code_sum"], [[sum(1 for c in codes if c is None), sum(c for c in codes if c is not None)]])

    def area(r):
        if r["latitude"] is None:
            return "no location"
        return "north" if r["latitude"] > 47.6 else "south"

    out["18_case"] = (["area", "n"], sorted(grouped(rows, area).items()))
    counts = [n for _, n in days]
    out["19_cte"] = (["busiest", "quietest", "days"], [[max(counts), min(counts), len(counts)]])
    per_precinct = defaultdict(Counter)
    for r in rows:
        if r["precinct"] is not None:
            per_precinct[r["precinct"]][r["offense_parent_group"]] += 1
    out["20_top_group_per_precinct"] = (
        ["precinct", "offense_parent_group", "n"],
        [[p, *top(c, 1)[0]] for p, c in sorted(per_precinct.items())],
    )
    running, rows21 = 0, []
    for d, n in days[:5]:
        running += n
        rows21.append([d.isoformat(), n, running])
    out["21_running_total"] = (["d", "n", "running"], rows21)
    out["22_day_over_day"] = (
        ["d", "n", "change"],
        [[d.isoformat(), n, None if i == 0 else n - days[i - 1][1]] for i, (d, n) in enumerate(days[:5])],
    )
    out["23_split_part"] = (["report_year", "n"], sorted(grouped(rows, lambda r: r["report_number"].split("-")[0]).items()))
    out["24_words_per_address"] = (["words", "n"], sorted(Counter(len(a.split(" ")) for a in addresses).items()))
    out["25_last_word"] = (["last_word", "n"], top(Counter(a.split(" ")[-1] for a in addresses), 5))
    out["26_contains"] = (["on_an_avenue"], [[sum(1 for a in addresses if "AVE" in a.split(" "))]])
    hundreds = Counter(m.group(1) for a in addresses if (m := re.match(r"^(\d+)XX BLOCK", a)))
    out["27_regexp_extract"] = (["hundreds", "n"], top(hundreds, 5))
    out["28_regexp_like"] = (
        ["intersections", "blocks"],
        [[sum(1 for a in addresses if " / " in a), sum(1 for a in addresses if re.match(r"^\d+XX BLOCK OF ", a))]],
    )
    slugs = grouped(rows, lambda r: re.sub(r"[^A-Z]+", "_", r["offense_parent_group"]))
    out["29_regexp_replace"] = (["slug", "n"], top(slugs, 5))
    offenses = [r["offense"] for r in rows if r["offense"] is not None]
    out["30_strpos_length"] = (["longest", "thefts"], [[max(len(o) for o in offenses), sum(1 for o in offenses if "Theft" in o)]])
    out["31_lpad"] = (["mm", "n"], sorted(grouped(rows, lambda r: f"{r['report_datetime'].month:02d}").items()))
    categories = grouped(rows, lambda r: r["crime_against_category"])
    out["32_count_if"] = (
        ["person", "property", "society", "unknown"],
        [[categories["PERSON"], categories["PROPERTY"], categories["SOCIETY"], categories[None]]],
    )
    newest = max(rows, key=lambda r: r["offense_id"])
    oldest = min(rows, key=lambda r: r["offense_id"])
    out["33_max_by_min_by"] = (["newest_report", "oldest_offense"], [[newest["report_number"], oldest["offense"]]])
    out["34_approx_distinct"] = (
        ["precincts", "categories"],
        [[len({r["precinct"] for r in rows} - {None}), len({r["crime_against_category"] for r in rows} - {None})]],
    )
    out["35_arbitrary"] = (["reports"], [[len({r["report_number"] for r in rows})]])
    mcpp = grouped([r for r in rows if r["mcpp"] is not None], lambda r: r["mcpp"])
    out["36_having"] = (["mcpp", "n"], [[k, n] for k, n in top(mcpp, len(mcpp)) if n > 500])
    top3 = {g for g, _ in top(groups, 3)}
    out["37_in_subquery"] = (["n"], [[sum(1 for r in rows if r["offense_parent_group"] in top3)]])
    out["38_union_all"] = (["kind", "n"], [["person", categories["PERSON"]], ["property", categories["PROPERTY"]]])
    out["39_coalesce"] = (["precinct", "n"], sorted(grouped(rows, lambda r: r["precinct"] or "UNKNOWN").items()))
    located = defaultdict(lambda: ([], []))
    for r in rows:
        if r["precinct"] is not None:
            if r["latitude"] is not None:
                located[r["precinct"]][0].append(r["latitude"])
            if r["longitude"] is not None:
                located[r["precinct"]][1].append(r["longitude"])
    out["40_round_avg"] = (
        ["precinct", "lat", "lon"],
        [[p, round(sum(la) / len(la), 3), round(sum(lo) / len(lo), 3)] for p, (la, lo) in sorted(located.items())],
    )
    out["41_between_dates"] = (
        ["n"],
        [[sum(1 for t in reported if datetime(2024, 1, 1).date() <= t.date() <= datetime(2024, 1, 31).date())]],
    )
    out["42_span_days"] = (["span_days", "span_months"], [[diff("day", first, last), diff("month", first, last)]])
    sectors = defaultdict(set)
    for r in rows:
        if r["precinct"] is not None and r["sector"] is not None:
            sectors[r["precinct"]].add(r["sector"])
    out["43_sectors"] = (["precinct", "sectors"], [[p, len(s)] for p, s in sorted(sectors.items())])
    out["44_day_of_year"] = (["first_day", "last_day"], [[first.timetuple().tm_yday, last.timetuple().tm_yday]])
    out["45_format_datetime"] = (["weekday", "n"], top(grouped(rows, lambda r: r["report_datetime"].strftime("%A")), 3))
    words = [w for a in addresses for w in a.split(" ")]
    out["46_unnest_split"] = (["word", "n"], top(Counter(w for w in words if w != ""), 5))
    out["47_unnest_qualified"] = (["distinct_words", "words"], [[len(set(words)), len(words)]])
    return out


def as_csv(header, rows):
    """Header and rows as `runner query --format csv` prints them (NULL as nothing)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    computed = answers(load())
    queries = sorted(p.stem for p in HERE.glob("*.sql"))
    missing = sorted(set(queries) ^ set(computed))
    if missing:
        print(f"queries and answers do not pair up: {missing}", file=sys.stderr)
        return 1
    differ = []
    for name in queries:
        expected = as_csv(*computed[name])
        path = HERE / f"{name}.csv"
        if mode == "--write":
            path.write_text(expected, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != expected:
            differ.append(name)
    if differ:
        print(f"answers that differ from the independent computation: {differ}", file=sys.stderr)
        return 1
    print(f"{len(queries)} answers {'written' if mode == '--write' else 'agree'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
