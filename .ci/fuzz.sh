#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for SECONDS each (default 45), with the machine's own stable
# toolchain (RUSTC_BOOTSTRAP=1 lets it build the sanitizer and coverage flags cargo-fuzz
# passes). Installs cargo-fuzz from the crate registry when missing. The committed seeds and
# corpus are read, never written: new inputs go to fuzz/target/corpus-work/<target>. A crash fails
# the run; its input is in fuzz/artifacts/<target>/.
#
#   bash .ci/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-45}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -O -a
for target in "${targets[@]}"; do
  work="target/corpus-work/${target}"
  mkdir -p "$work"
  echo "fuzzing ${target} for ${seconds} s"
  inputs=("seeds/${target}")
  [ -d "corpus/${target}" ] && inputs+=("corpus/${target}")
  log="target/fuzz-${target}.log"
  cargo fuzz run -O -a "$target" "$work" "${inputs[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || true
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY|Test unit written' "$log" || true
  # The fuzzer's own exit status is not trusted alone: a crash leaves an artifact behind,
  # and a run that never started (a missing input directory, a build error) prints no
  # "Done" line.
  if compgen -G "artifacts/${target}/*" >/dev/null; then
    echo "the fuzz target ${target} found a crash:" >&2
    ls "artifacts/${target}" >&2
    exit 1
  fi
  if ! grep -q '^Done ' "$log"; then
    echo "the fuzz target ${target} did not run:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
done
