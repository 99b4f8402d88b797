#!/usr/bin/env bash
# Runs each coverage-guided fuzz target for a bounded time and says what it found.
#
#   bash fuzz/run.sh                          # every target, 60 s each
#   FUZZ_SECONDS=600 bash fuzz/run.sh csv_import callback
#
# Targets: campaign, segment, csv_import, sms_reply, callback (what each checks is in
# src/fuzz.rs). Each starts from the committed seeds in fuzz/seeds/TARGET and keeps what it
# learns in fuzz/corpus/TARGET (not committed). An input that breaks a target is saved in
# fuzz/artifacts/TARGET/ and the script ends with exit status 1 after the other targets
# ran; replay one with `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...` and, once
# fixed, copy it into fuzz/seeds/TARGET so the test suite keeps checking it.
# A single input taking over FUZZ_TIMEOUT seconds (default 10) counts as a hang.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
ALL=(campaign segment csv_import sms_reply callback)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 2
# cargo fuzz passes nightly-only flags (-Z sanitizer); this lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
SANITIZER="${FUZZ_SANITIZER:-address}"
cargo fuzz build --sanitizer "$SANITIZER" || exit 2

mkdir -p logs
failed=()
printf '%-11s %10s %8s %8s %8s  %s\n' target runs exec/s cov corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cargo fuzz run --sanitizer "$SANITIZER" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -rss_limit_mb=4096 \
    -print_final_stats=1 >"logs/$t.log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1 | grep -o '[0-9]*$')
  corpus=$(find "corpus/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then result=ok; else result="FAILED: see fuzz/logs/$t.log"; failed+=("$t"); fi
  printf '%-11s %10s %8s %8s %8s  %s\n' "$t" "${runs:--}" "${speed:--}" "${cov:--}" "$corpus" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "broken: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
