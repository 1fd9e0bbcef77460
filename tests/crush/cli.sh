#!/usr/bin/env bash
# `norn crush` end to end: compile/decompile round trip (files and pipes),
# test and diff output, exit codes on bad arguments.
# usage: cli.sh NORN_BINARY SOURCE_DIR
set -u
NORN=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$NORN" crush compile "$SRC/examples/asgard.crush" "$T/a.bin" || fail "compile"
head -c 4 "$T/a.bin" | grep -q NCRU || fail "binary magic"
"$NORN" crush decompile "$T/a.bin" "$T/a.txt" || fail "decompile"
sed -n '/^# begin crush map$/,$p' "$SRC/examples/asgard.crush" | cmp -s - "$T/a.txt" \
  || fail "decompile(compile(asgard)) differs from the file"
"$NORN" crush compile - - < "$T/a.txt" | "$NORN" crush decompile - - | cmp -s - "$T/a.txt" \
  || fail "round trip through pipes"

out=$("$NORN" crush test --map "$SRC/examples/asgard.crush" --rule replicated_host \
      --num-rep 3 --min-x 0 --max-x 1999) || fail "test"
echo "$out" | grep -q "^osd.38 " || fail "test lists devices"
echo "$out" | grep -q "placements 6000 of 6000 slots; 0 mappings short" || fail "test placements: $out"
echo "$out" | grep -q "^mappings/s" || fail "test rate"

# diff: a map with osd.30 removed from mimir moves exactly what it held
sed '/item osd.30 weight/d; /^device 30 /d' "$T/a.txt" > "$T/b.txt"
out=$("$NORN" crush diff "$T/a.bin" "$T/b.txt" --rule replicated_host --num-rep 3 --max-x 4999) \
  || fail "diff"
echo "$out" | grep -q "ratio moved/min    1.000" || fail "diff ratio: $out"
out=$("$NORN" crush diff "$T/a.bin" "$T/a.bin" --rule 0 --num-rep 3) || fail "diff same"
echo "$out" | grep -q "placements moved   0 " || fail "diff of same map: $out"

# bad arguments: usage and exit 2; bad input: exit 1
"$NORN" crush >/dev/null 2>&1; [ $? -eq 2 ] || fail "no subcommand"
"$NORN" crush frob >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown subcommand"
"$NORN" crush test --map "$T/a.bin" >/dev/null 2>&1; [ $? -eq 2 ] || fail "missing --rule"
"$NORN" crush test --map "$T/a.bin" --rule 0 --num-rep 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "num-rep 0"
"$NORN" crush test --map "$T/a.bin" --rule 0 --num-rep 3 --min-x 5 --max-x 1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "min > max"
"$NORN" crush compile "$T/a.txt" >/dev/null 2>&1; [ $? -eq 2 ] || fail "compile one arg"
printf 'host a {\n item nope weight 1\n}\n' > "$T/bad.txt"
err=$("$NORN" crush compile "$T/bad.txt" "$T/bad.bin" 2>&1); [ $? -eq 1 ] || fail "bad text exit"
echo "$err" | grep -q "line 2: unknown item 'nope'" || fail "error names the line: $err"
head -c 100 "$T/a.bin" > "$T/trunc.bin"
"$NORN" crush decompile "$T/trunc.bin" - >/dev/null 2>&1; [ $? -eq 1 ] || fail "truncated binary"
"$NORN" crush test --map "$T/a.bin" --rule nosuch --num-rep 3 >/dev/null 2>&1; [ $? -eq 1 ] || fail "bad rule"
echo "crush cli: all passed"
