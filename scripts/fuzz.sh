#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ and runs each for a bounded time; fails if any finds a
# crash (a panic, an oracle's assertion, or an input slower than 10 s).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     default: 60 s, every target
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpus each run
# grows is kept in fuzz/corpus-local/<target>/ (not committed) and reused by the next run; the
# committed seeds in fuzz/corpus/<target>/ are read, never written. Crashes land in
# fuzz/artifacts/<target>/. FUZZ_SANITIZER=address builds with AddressSanitizer (slower; the
# default is none, the code under test being safe Rust). See fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

secs=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is needed (cargo install cargo-fuzz)" >&2
  exit 2
fi

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
cargo +nightly fuzz build -s "$sanitizer"

mkdir -p "$root/fuzz/logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  mkdir -p "$root/fuzz/corpus-local/$t" "$root/fuzz/corpus/$t"
  log="$root/fuzz/logs/$t.log"
  # -timeout: an input that takes 10 s is a finding (denial of service), not a slow test.
  if cargo +nightly fuzz run -s "$sanitizer" "$t" \
      "$root/fuzz/corpus-local/$t" "$root/fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=8192 \
      -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E "panicked|ERROR|SUMMARY|Test unit written|artifact" "$log" | head -20 || true
  fi
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1)
  corpus=$(find "$root/fuzz/corpus-local/$t" -type f | wc -l)
  summary+=("$(printf '%-14s %-6s %10s execs  %5s corpus entries' "$t" "$status" "${execs:-?}" "$corpus")")
done

echo "== summary (${secs}s per target; logs in fuzz/logs/)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "!! crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
