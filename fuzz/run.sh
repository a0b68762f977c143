#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in
# build/fuzz and runs each for FUZZ_SECONDS (default 60) on its committed corpus fuzz/corpus/<name>.
#   FUZZ_SECONDS=N      time per target
#   FUZZ_TARGETS="a b"  only these targets (names as in fuzz/targets.cmake)
#   FUZZ_MERGE=1        afterwards, merge inputs that add coverage into fuzz/corpus/<name>
# New inputs go to build/fuzz/corpus/<name>, crashes to build/fuzz/artifacts/<name>/. Exit status
# is non-zero if any target found a crash, a leak or a violated property.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}

cxx=${FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  # std::expected with libstdc++ needs clang >= 19 (__cpp_concepts >= 202002L).
  for c in clang++-19 clang++-20 clang++-21 clang++; do
    if command -v "$c" >/dev/null && echo '#include <expected>
      std::expected<int,int> e{1}; int main(){return *e - 1;}' |
        "$c" -std=c++23 -x c++ - -o /dev/null 2>/dev/null; then cxx=$c; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "fuzz: no clang that supports std::expected (need clang-19); run: scripts/install-deps.sh --fuzz" >&2
  exit 1
fi

build=build/fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DTETHER_BUILD_FUZZ=ON -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_TOOLS=OFF \
  -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_BENCH=OFF >/dev/null
targets=${FUZZ_TARGETS:-$(sed -n 's/^set(TETHER_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/targets.cmake)}
cmake --build "$build" -j "$(nproc)" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)

failed=()
for t in $targets; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "fuzz/corpus/$t"
  echo "== fuzz_$t: ${seconds}s" >&2
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
      -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "fuzz/corpus/$t" \
      >"$build/$t.log" 2>&1; then
    failed+=("$t")
    tail -40 "$build/$t.log" >&2
    echo "fuzz_$t FAILED: reproducer in $build/artifacts/$t/, log in $build/$t.log" >&2
    continue
  fi
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$build/$t.log" | tr '\n' ' ' >&2
  echo >&2
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    "$build/fuzz/fuzz_$t" -merge=1 "fuzz/corpus/$t" "$build/corpus/$t" >>"$build/$t.log" 2>&1
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets clean (${seconds}s each): $targets" >&2
