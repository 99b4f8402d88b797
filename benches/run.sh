#!/usr/bin/env bash
# Runs `herald bench` on SQLite and on PostgreSQL and writes the figures into
# docs/performance.md (between its bench markers) and docs/performance.json.
#
#   bash benches/run.sh                      # 1,000,000 contacts, 3 repetitions
#   CONTACTS=100000 REPS=1 bash benches/run.sh
#
# PostgreSQL: HERALD_BENCH_POSTGRES_URL (default: the local test server); its role needs
# CREATEDB, as each repetition creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTACTS="${CONTACTS:-1000000}"
REPS="${REPS:-3}"
export HERALD_BENCH_POSTGRES_URL="${HERALD_BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}"

cargo build --release --locked
tables="$(mktemp)"
target/release/herald bench --db both --contacts "$CONTACTS" --repetitions "$REPS" \
  --json docs/performance.json --markdown "$tables"

python3 - "$tables" docs/performance.md <<'PY'
import sys, datetime
tables, doc = open(sys.argv[1]).read(), sys.argv[2]
text = open(doc).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
stamp = datetime.date.today().isoformat()
open(doc, "w").write(f"{head}{begin}\n_Run on {stamp} by `bash benches/run.sh`._\n\n{tables}{end}{tail}")
PY
rm -f "$tables"
echo "docs/performance.md and docs/performance.json updated"
