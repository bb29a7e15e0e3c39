#!/usr/bin/env bash
# Production lines of code at a git revision (default HEAD): the lines of every `*/src/**.rs` file
# before its `#[cfg(test)]`, leaving out the chaos tests, the test kit and the benchmarks (dev-only
# crates). Prints the total, the five longest files and how many are over 600 lines (issue 13).
set -euo pipefail
rev=${1:-HEAD}
cd "$(dirname "$0")/.."
git ls-tree -r --name-only "$rev" | grep '\.rs$' | grep '/src/' \
  | grep -v -e '^chaos-tests/' -e '^nodes/testkit/' -e '^nodes/bench/' -e 'nodes/src/sandbox.rs' -e 'nodes/src/receivers.rs' \
  | while read -r f; do
      n=$(git show "$rev:$f" | awk '/^#\[cfg\(test\)\]/{stop=1} !stop{n++} END{print n+0}')
      echo "$n $f"
    done | sort -n > "${TMPDIR:-/tmp}/loc-$$.txt"
awk '{s+=$1} END{print "production lines:", s}' "${TMPDIR:-/tmp}/loc-$$.txt"
tail -5 "${TMPDIR:-/tmp}/loc-$$.txt"
echo "files over 600 lines: $(awk '$1>600' "${TMPDIR:-/tmp}/loc-$$.txt" | wc -l)"
rm -f "${TMPDIR:-/tmp}/loc-$$.txt"
