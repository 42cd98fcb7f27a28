#!/usr/bin/env bash
# Fuzzes the trace reader and the whole analysis (fuzz/trace_bytes.h) with
# libFuzzer under ASan+UBSan, for a bounded time; fails on a crash, a leak,
# undefined behaviour, a timeout or running out of memory.
#
#   scripts/fuzz.sh [SECONDS]     default 60; CI runs it from scripts/dev.sh test
#
# Needs clang-14 (Debian's clang-14 and libclang-rt-14-dev) and the main
# build (build/bin/waitgraph), which records the seed traces. Builds
# build-fuzz/ with -DWAITGRAPH_FUZZ=ON. The seed corpus is made here, not
# committed: every hand-written trace of testdata/traces converted to binary,
# real traces recorded from a few testdata programs, and the inputs that once
# crashed (fuzz/regressions/). New inputs the fuzzer finds stay in
# build-fuzz/fuzz/corpus for the next run; a crash lands in
# build-fuzz/fuzz/crashes/. docs/fuzzing.md has a longer run's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=build-fuzz/fuzz

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAITGRAPH_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target trace_analysis_fuzzer trace_fuzz_dictionary wg_text_to_trace

# Real programs with different shapes: a cross-call deadlock, a lock ABBA, a
# lost context write, a loop stall, asyncio tasks, a pool starving itself.
RECORDED=(asgiref_cancelled_request_deadlock lock_abba_deadlock ctx_signal_gather_lost_write
          loop_blocks_on_executor_result async_lock_abba_tasks pool_self_starvation
          future_awaited_on_other_loop lock_order_latent_inversion handoff_closed_loop_swallowed)
make_seeds() {
  local seeds=$out/seeds
  mkdir -p "$seeds"
  for text in testdata/traces/*.textproto; do
    local name
    name=$(basename "$text" .textproto)
    [ -s "$seeds/text-$name.wgtrace" ] || "$out/wg_text_to_trace" "$text" "$seeds/text-$name.wgtrace"
  done
  if [ ! -x build/bin/waitgraph ]; then
    echo "fuzz: no build/bin/waitgraph: seeds from testdata/traces only (build the project first)" >&2
    return 0
  fi
  for case in "${RECORDED[@]}"; do
    [ -s "$seeds/run-$case.wgtrace" ] && continue
    rm -f "$seeds/run-$case".*
    build/bin/waitgraph run --trace "$seeds/run-$case.wgtrace" --hang-timeout 1 -- \
      /usr/bin/python3 "testdata/cases/$case/program.py" >/dev/null 2>&1 </dev/null || true
  done
  find fuzz/regressions -type f ! -name README.md -exec cp {} "$seeds/" \;
}
make_seeds

mkdir -p "$out/corpus" "$out/crashes"
echo "fuzz: trace_analysis_fuzzer for ${seconds}s ($(ls "$out/seeds" | wc -l) seeds, $(ls "$out/corpus" | wc -l) in the corpus)"
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$out/trace_analysis_fuzzer" -max_total_time="$seconds" -dict="$out/trace.dict" \
    -timeout=20 -rss_limit_mb=2560 -max_len=65536 -len_control=0 -print_final_stats=1 \
    -artifact_prefix="$out/crashes/" "$out/corpus" "$out/seeds" \
    >"$out/last-run.log" 2>&1 || status=$?
grep -E '^(stat::|Done|INFO: -max_total_time)' "$out/last-run.log" || true
if [ "$status" -ne 0 ]; then
  tail -n 60 "$out/last-run.log" >&2
  echo "fuzz: FAILED (exit $status); the input is in $out/crashes/; reproduce with" \
       "$out/trace_analysis_fuzzer $out/crashes/<file>, then add it to fuzz/regressions/" >&2
  exit 1
fi
echo "fuzz: no crash in ${seconds}s"
