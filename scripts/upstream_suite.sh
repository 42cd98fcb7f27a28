#!/usr/bin/env bash
# Runs an upstream project's own test suite twice, plainly and under
# `waitgraph run`, and prints both results side by side with every finding
# waitgraph raised: precision measured on code nobody here wrote.
#
#   scripts/upstream_suite.sh CHECKOUT [-- PYTEST ARGS...]
#
# CHECKOUT is a checkout of the upstream project at the tag under test (for
# asgiref: `git clone https://github.com/django/asgiref && git -C asgiref
# checkout 3.6.0`); the suite runs from there with Debian's /usr/bin/python3
# (PYTHON=... to change), so it imports the checkout's own package. PYTEST
# ARGS default to `-q tests`. Needs the build (build/bin/waitgraph) and the
# suite's own test dependencies; CI has no network, so this is for people.
# Exit status: 0 when both runs give the same pytest summary and waitgraph
# found no error; 1 otherwise; 2 on bad usage.
set -uo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
checkout=$(cd "$1" 2>/dev/null && pwd) || { echo "no such checkout: $1" >&2; exit 2; }
shift
[ "${1:-}" = "--" ] && shift
pytest_args=("$@")
[ ${#pytest_args[@]} -eq 0 ] && pytest_args=(-q tests)

root=$(cd "$(dirname "$0")/.." && pwd)
waitgraph="${WAITGRAPH:-$root/build/bin/waitgraph}"
python="${PYTHON:-/usr/bin/python3}"
[ -x "$waitgraph" ] || { echo "no $waitgraph: build first (scripts/dev.sh test)" >&2; exit 2; }

out=$(mktemp -d /tmp/wg-upstream.XXXXXX)
summary() { grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$1" | tail -1 | sed 's/=//g; s/^ *//; s/ in [0-9.]*s.*//'; }

cd "$checkout"
echo "suite: $checkout (pytest ${pytest_args[*]})"
"$python" -m pytest -p no:cacheprovider "${pytest_args[@]}" >"$out/plain.txt" 2>&1
plain_status=$?
"$waitgraph" run --trace "$out/trace.wgtrace" --format json --report "$out/report.json" -- \
  "$python" -m pytest -p no:cacheprovider "${pytest_args[@]}" >"$out/waitgraph.txt" 2>&1
wg_status=$?

plain=$(summary "$out/plain.txt")
traced=$(summary "$out/waitgraph.txt")
printf '%-16s %-40s exit %s\n' "plain run" "${plain:-?}" "$plain_status"
printf '%-16s %-40s exit %s\n' "waitgraph run" "${traced:-?}" "$wg_status"

"$python" - "$out/report.json" <<'PY'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("no waitgraph report (%s)" % e)
    sys.exit(0)
findings = report.get("findings", [])
counts = {}
for f in findings:
    counts[f["severity"]] = counts.get(f["severity"], 0) + 1
print("findings: " + (", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())) or "none"))
for f in findings:
    loc = (f.get("locations") or [{}])[0]
    print("  %s %s at %s:%s%s\n    %s" % (f["severity"], f["name"], loc.get("path", "?"),
                                       loc.get("line", "?"),
                                       " in test " + f["test"] if f.get("test") else "",
                                       f["message"]))
PY
echo "outputs, trace and report kept in $out"

errors=$(grep -c '"severity": *"error"' "$out/report.json" 2>/dev/null || true)
[ "$plain" = "$traced" ] && [ "${errors:-0}" = 0 ]
