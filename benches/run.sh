#!/usr/bin/env bash
# Runs `herald bench` on SQLite and on PostgreSQL and writes the figures into
# docs/performance.md (between its bench markers) and docs/performance.json.
#
#   bash benches/run.sh                      # 1,000,000 contacts, 3 repetitions, both databases
#   CONTACTS=100000 REPS=1 bash benches/run.sh
#   DB=postgres bash benches/run.sh          # one database again; the other's figures stay
#
# PostgreSQL: HERALD_BENCH_POSTGRES_URL (default: the local test server); its role needs
# CREATEDB, as each repetition creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTACTS="${CONTACTS:-1000000}"
REPS="${REPS:-3}"
DB="${DB:-both}"
export HERALD_BENCH_POSTGRES_URL="${HERALD_BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}"

cargo build --release --locked
tables="$(mktemp)"
json="$(mktemp)"
target/release/herald bench --db "$DB" --contacts "$CONTACTS" --repetitions "$REPS" \
  --json "$json" --markdown "$tables"

python3 - "$tables" "$json" docs/performance.md docs/performance.json <<'PY'
import json, os, sys
tables, new_json, doc, doc_json = sys.argv[1:]

def sections(text):
    """The block's `### DB ...` sections by database name."""
    out, current = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("### "):
            current = line[4:].split()[0]
            out[current] = ""
        if current:
            out[current] += line
    return out

fresh = json.load(open(new_json))
kept = json.load(open(doc_json)) if os.path.exists(doc_json) else []
runs = {r["db"]: r for r in kept}
runs.update({r["db"]: r for r in fresh})
order = [db for db in ("sqlite", "postgres") if db in runs]
json.dump([runs[db] for db in order], open(doc_json, "w"), indent=2)

text = open(doc).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
head, rest = text.split(begin, 1)
old, tail = rest.split(end, 1)
blocks = sections(old)
blocks.update(sections(open(tables).read()))
dates = ", ".join(f"{db} on {runs[db]['started_at'][:10]}" for db in order)
body = "".join(blocks[db].rstrip("\n") + "\n\n" for db in order if db in blocks)
open(doc, "w").write(f"{head}{begin}\n_Run by `bash benches/run.sh`: {dates}._\n\n{body}{end}{tail}")
PY
rm -f "$tables" "$json"
echo "docs/performance.md and docs/performance.json updated"
