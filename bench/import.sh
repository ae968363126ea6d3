#!/usr/bin/env bash
# Jinlin people-import benchmark: for each database, seed the demo county into a fresh database,
# write ROWS residents as an import-template xlsx (once), and time
#   jinlin people import FILE --region 350503000000 --only-valid
# with a release build. Each run prints one JSON line (the steps from the import's log, the
# end-to-end seconds, the peak memory); all lines go to bench/results/<date>-import.jsonl.
#
#   bench/import.sh                         # 1,000,000 rows, both databases, one run each
#   ROWS=100000 RUNS=3 BACKENDS=sqlite bench/import.sh
#   JINLIN=/tmp/jinlin-before LABEL=before bench/import.sh   # another build, on the same machine
#
# Machines differ, and so does one machine from hour to hour: compare two builds by running both
# in the same hour. Each line records the build (LABEL, by default the commit) and the CPU
# seconds, which vary less than the wall-clock time.
#
# PostgreSQL: JINLIN_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432); a database
# jinlin_import_<pid> is created and dropped for every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-1}
BACKENDS=${BACKENDS:-sqlite postgres}
PG=${JINLIN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

cargo build --release -p jinlin -p jinlin-bench
JINLIN=${JINLIN:-$TARGET/release/jinlin}
LABEL=${LABEL:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo +changes)}
BENCH="$TARGET/release/jinlin-bench"
mkdir -p bench/results
OUT="bench/results/$(date -u +%Y-%m-%d)-import.jsonl"

XLSX_DIR=$(mktemp -d)
WORK=""
PG_DB=""
cleanup() {
  if [ -n "$PG_DB" ]; then psql -qAt -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true; fi
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  rm -rf "$XLSX_DIR"
}
trap cleanup EXIT

XLSX="$XLSX_DIR/people.xlsx"
echo "== writing $ROWS residents to $XLSX"
"$BENCH" people-xlsx --out "$XLSX" --rows "$ROWS"

for backend in $BACKENDS; do
  for run in $(seq 1 "$RUNS"); do
    WORK=$(mktemp -d)
    case "$backend" in
      sqlite) URL="sqlite://$WORK/jinlin.db" ;;
      postgres)
        PG_DB="jinlin_import_$$"
        psql -qAt -d "$PG/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
        URL="$PG/$PG_DB" ;;
      *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
    echo "== $backend, run $run: seeding the demo county"
    "$BENCH" fill --database-url "$URL" --cases 0 --key-file "$WORK/field-keys" >/dev/null
    echo "== $backend, run $run: importing"
    JINLIN_LOG=info,sqlx=warn,jinlin_store=debug /usr/bin/time -f "peak_kb=%M user_s=%U sys_s=%S" \
      "$JINLIN" --database-url "$URL" --data "$WORK" \
      people import "$XLSX" --region 350503000000 --only-valid > "$WORK/import.log" 2>&1
    python3 - "$WORK/import.log" "$backend" "$ROWS" "$LABEL" <<'EOF' | tee -a "$OUT"
import json, re, sys
log = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], encoding="utf-8").read())
def num(pattern):
    m = re.search(pattern, log)
    return int(m.group(1)) if m else None
def secs(pattern):
    m = re.search(pattern, log)
    return float(m.group(1)) if m else None
total = re.search(r"导入完成（([0-9.]+) 秒）", log)
print(json.dumps({
    "scenario": "people_import",
    "backend": sys.argv[2],
    "rows": int(sys.argv[3]),
    "build": sys.argv[4],
    "read_ms": num(r"parse_ms=(\d+)"),
    "check_ms": num(r"check_ms=(\d+)"),
    # The log gives the time since the start at the end of the duplicate check.
    "until_duplicates_checked_ms": num(r"duplicates checked ms=(\d+)"),
    "store_ms": num(r"store_ms=(\d+)"),
    "rows_inserted_ms": num(r"rows inserted ms=(\d+)"),
    "inserted_and_indexed_ms": num(r"indexes built ms=(\d+)"),
    "indexes_built": num(r"indexes=(\d+)"),
    "seconds": float(total.group(1)) if total else None,
    "peak_mb": (num(r"peak_kb=(\d+)") or 0) // 1024,
    "cpu_s": round((secs(r"user_s=([0-9.]+)") or 0) + (secs(r"sys_s=([0-9.]+)") or 0), 1),
}, ensure_ascii=False))
EOF
    if [ -n "$PG_DB" ]; then psql -qAt -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null; PG_DB=""; fi
    rm -rf "$WORK"; WORK=""
  done
done
echo "== results in $OUT"
