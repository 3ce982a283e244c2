#!/usr/bin/env python3
"""A recorded Socrata feed for the local demo: replays the newest rows of a real SPD CSV
export in the SODA API's JSON shape, so `runner run ingest` polls it as it would poll
https://data.seattle.gov/resource/tazs-3rd5.json.

    scripts/socrata_replay.py CSV --hold-back N --history-out PATH [--port P]

Rows are sorted by report time; the newest N are held back from the history written to
PATH (what the demo backfills) and served as the live feed. The API's shape is kept:
floating local timestamps with milliseconds, every value a string, nulls left out,
`_100_block_address` for `block_address`. The server implements `$where` (conditions
`field >= 'literal'` / `field > 'literal'` joined by AND), `$order` (fields with ASC/DESC;
`:id` is the hidden row id), `$limit` and `$offset`, as the real API does. It prints its
URL on the first line of stdout and serves until killed.
"""

import argparse
import csv
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

RESOURCE = "/resource/tazs-3rd5.json"


def api_row(index, header, record):
    """One CSV record in the API's JSON shape, with its hidden row id."""
    row = {":id": f"row-{index:08}"}
    for name, value in zip(header, record):
        if value == "":
            continue  # the API leaves nulls out
        if name == "block_address":
            name = "_100_block_address"
        if name.endswith("datetime"):
            value = value.replace(" ", "T") + ".000"
        row[name] = value
    return row


def split_feed(path, hold_back, history_out):
    """Writes all but the newest `hold_back` rows to `history_out`; returns those rows."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        records = list(reader)
    at = header.index("report_datetime")
    records.sort(key=lambda r: r[at])
    history, feed = records[: len(records) - hold_back], records[len(records) - hold_back :]
    with open(history_out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(history)
    return [api_row(i, header, r) for i, r in enumerate(feed)]


def parse_where(text):
    """`field >= 'literal' AND ...` as (field, op, literal) triples."""
    conditions = []
    for part in text.split(" AND "):
        part = part.strip().strip("()")
        for op in (" >= ", " > "):
            if op in part:
                field, literal = part.split(op, 1)
                if not (literal.startswith("'") and literal.endswith("'")):
                    raise ValueError(f"{literal!r} is not a quoted literal")
                conditions.append((field.strip(), op.strip(), literal[1:-1]))
                break
        else:
            raise ValueError(f"cannot parse condition {part!r}")
    return conditions


def select(rows, query):
    """The page of `rows` a SODA query string selects."""
    conditions, order, limit, offset = [], [], 1000, 0
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "$where":
            conditions = parse_where(value)
        elif name == "$order":
            for part in value.split(","):
                words = part.split()
                order.append((words[0], len(words) > 1 and words[1].lower() == "desc"))
        elif name == "$limit":
            limit = int(value)
        elif name == "$offset":
            offset = int(value)
        else:
            raise ValueError(f"unknown parameter {name}")

    def keep(row):
        for field, op, literal in conditions:
            value = row.get(field)
            if value is None or not (value >= literal if op == ">=" else value > literal):
                return False
        return True

    chosen = [r for r in rows if keep(r)]
    for field, descending in reversed(order):
        chosen.sort(key=lambda r: r.get(field, ""), reverse=descending)
    page = chosen[offset : offset + limit]
    return [{k: v for k, v in r.items() if k != ":id"} for r in page]


def serve(rows, port):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            if url.path != RESOURCE:
                return self.answer(404, {"error": True, "message": f"no resource {url.path}"})
            try:
                page = select(rows, url.query)
            except ValueError as e:
                return self.answer(400, {"error": True, "code": "query.compiler.malformed", "message": str(e)})
            self.answer(200, page)

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}{RESOURCE}", flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="a CSV export with a report_datetime column")
    parser.add_argument("--hold-back", type=int, default=500, help="newest rows served as the feed")
    parser.add_argument("--history-out", required=True, help="where the rest is written")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    rows = split_feed(args.csv, args.hold_back, args.history_out)
    print(f"replaying {len(rows)} rows", file=sys.stderr, flush=True)
    serve(rows, args.port)


if __name__ == "__main__":
    main()
