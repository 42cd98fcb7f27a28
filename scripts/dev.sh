#!/usr/bin/env bash
# The two commands of the README, for a fresh Debian bookworm machine:
#   scripts/dev.sh demo   install what is needed, build, record the bundled
#                         asgiref program that deadlocks and print the diagnosis
#   scripts/dev.sh test   install what is needed, build, run every test
#   scripts/dev.sh bench  install what the benchmarks use too (valgrind for
#                         the instruction counts, perf for profiles), build,
#                         and measure the shim's overhead (bench/run_bench.py)
# Both are idempotent: packages already there are not reinstalled, and the
# build is incremental (build/).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PACKAGES=(cmake g++ make libclang-14-dev libabsl-dev libprotobuf-dev protobuf-compiler
                python3-dev googletest pkg-config libgraphviz-dev libzstd-dev)
# The fuzzer of the trace reader and the analysis (scripts/fuzz.sh): clang's
# libFuzzer, ASan and UBSan runtimes.
FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)
# The real libraries the bugs live in, and the servers the tests start.
TEST_PACKAGES=(python3-asgiref python3-django python3-uvicorn python3-starlette python3-anyio
               python3-redis redis-server python3-pytest python3-pytest-asyncio graphviz wrk
               python3-uvloop gdb chromium tmux gunicorn)  # gdb: `gcore` for the attach --core tests

# The benchmarks' own tools (bench/shim_instructions.py and
# uvicorn_instructions.py count instructions under valgrind; RESULTS.md's
# profiles come from perf).
BENCH_PACKAGES=(valgrind linux-perf)

install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Microsoft's SARIF validator, for the tests of `check --format sarif` (npm).
install_sarif_validator() {
  local dir=build/tools/npm
  [ -x "$dir/node_modules/.bin/sarif-multitool" ] && return 0
  if ! command -v npm >/dev/null; then install_packages npm; fi
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error @microsoft/sarif-multitool >/dev/null
}

build() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAITGRAPH_PYTHON=/usr/bin/python3 >/dev/null
  cmake --build build -j"$(nproc)"
}

case "${1:-}" in
  demo)
    install_packages "${BUILD_PACKAGES[@]}" python3-asgiref
    build
    echo
    echo "== waitgraph run -- /usr/bin/python3 testdata/cases/asgiref_cancelled_request_deadlock/program.py"
    status=0
    build/bin/waitgraph run -- /usr/bin/python3 \
      testdata/cases/asgiref_cancelled_request_deadlock/program.py || status=$?
    if [ "$status" -eq 3 ]; then
      echo "(exit 3: waitgraph found the deadlock and stopped the program, as expected)"
      exit 0
    fi
    echo "unexpected exit status $status (expected 3: deadlock found)" >&2
    exit 1
    ;;
  test)
    install_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    build
    install_sarif_validator
    # Hostile traces: a bounded libFuzzer run over the reader and every rule
    # (WAITGRAPH_FUZZ_SECONDS=0 skips it).
    if [ "${WAITGRAPH_FUZZ_SECONDS:-60}" != 0 ]; then
      bash scripts/fuzz.sh "${WAITGRAPH_FUZZ_SECONDS:-60}"
    fi
    ctest --test-dir build --output-on-failure -j"$(nproc)"
    ;;
  bench)
    install_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
    build
    /usr/bin/python3 bench/run_bench.py --waitgraph build/bin/waitgraph --python /usr/bin/python3 --repeat 5
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test|bench" >&2
    exit 2
    ;;
esac
