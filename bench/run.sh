#!/usr/bin/env bash
# Jinlin load benchmark: for each database, fill the demo county plus CASES cases straight into
# the store, start a release `jinlin serve`, and measure with concurrent clients
#   (a) intake      POST /api/v1/cases, 16 clients
#   (b) worklists   GET /api/v1/cases?view=tasks as a grid worker and as a community desk,
#                   and the grid worker's "我的任务" page
#   (c) statistics  GET /stats/data.json and the /stats page for the district, last 365 days
#   (d) people      GET /api/v1/people?q=… by name, pinyin initials, phone and ID number, as
#                   the district leader (all PEOPLE residents) and a community desk: 1 client;
#                   16 at PEOPLE_RATE (100) a second; 16 flat out
# Every run prints one JSON line; all lines go to bench/results/<date>-<backend>.jsonl.
#
#   bench/run.sh                      # 1,000,000 cases, 5,000,000 residents, both databases
#   CASES=100000 SECONDS_PER_RUN=10 BACKENDS=sqlite bench/run.sh
#   CASES=0 PEOPLE=1000000 BACKENDS=sqlite bench/run.sh     # the people search only
#
# PostgreSQL: JINLIN_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432); a database
# jinlin_bench_<pid> is created and dropped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
CASES=${CASES:-1000000}
PEOPLE=${PEOPLE:-5000000}
SECS=${SECONDS_PER_RUN:-20}
PEOPLE_RATE=${PEOPLE_RATE:-100}
BACKENDS=${BACKENDS:-sqlite postgres}
PG=${JINLIN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

cargo build --release -p jinlin -p jinlin-bench
JINLIN="$TARGET/release/jinlin"
BENCH="$TARGET/release/jinlin-bench"
mkdir -p bench/results

SERVER_PID=""
WORK=""
PG_DB=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql -qAt -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true; fi
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for backend in $BACKENDS; do
  WORK=$(mktemp -d)
  case "$backend" in
    sqlite) URL="sqlite://$WORK/jinlin.db" ;;
    postgres)
      PG_DB="jinlin_bench_$$"
      psql -qAt -d "$PG/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
      URL="$PG/$PG_DB" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  SUFFIX=""; [ "$CASES" -eq 0 ] && SUFFIX="-people"
  OUT="bench/results/$(date -u +%Y-%m-%d)-$backend$SUFFIX.jsonl"
  : > "$OUT"
  echo "== $backend: filling $CASES cases and $PEOPLE residents"
  "$BENCH" fill --database-url "$URL" --cases "$CASES" --people "$PEOPLE" --key-file "$WORK/field-keys" | tee -a "$OUT"
  if [ "$backend" = postgres ]; then
    # What autovacuum does after a bulk load (it may be off on a test server): statistics, and
    # the visibility map that lets index-only scans skip the table.
    psql -qAt -d "$URL" -c "VACUUM ANALYZE" >/dev/null
    # The load's dirty buffers written out now, not by a checkpoint in the middle of a run.
    psql -qAt -d "$URL" -c "CHECKPOINT" >/dev/null
  fi
  GRID=$("$JINLIN" --database-url "$URL" --data "$WORK" token create --user grid 2>/dev/null)
  DESK=$("$JINLIN" --database-url "$URL" --data "$WORK" token create --user community 2>/dev/null)
  LEADER=$("$JINLIN" --database-url "$URL" --data "$WORK" token create --user leader 2>/dev/null)
  PORT=$(free_port)
  "$JINLIN" --database-url "$URL" --data "$WORK" serve --listen "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  run() { "$BENCH" load --addr "127.0.0.1:$PORT" --seconds "$SECS" --label "$backend" "$@" | tee -a "$OUT"; }
  if [ "$PEOPLE" -gt 0 ]; then
    # One client gives a search's own latency; sixteen at PEOPLE_RATE searches a second, the
    # latency under a busy district's load; sixteen with no pause between requests, the
    # throughput of the two cores (and latency while they are saturated).
    for mode in "1 0" "16 $PEOPLE_RATE" "16 0"; do
      read -r clients rate <<< "$mode"
      for kind in name initials phone id browse; do
        run --scenario people --kind "$kind" --people "$PEOPLE" --token "$LEADER" --clients "$clients" --rate "$rate"
      done
      for kind in name initials; do
        run --scenario people --kind "$kind" --people "$PEOPLE" --token "$DESK" --clients "$clients" --rate "$rate"
      done
    done
  fi
  if [ "$CASES" -gt 0 ]; then
    POINT=$(curl -fs -H "Authorization: Bearer $GRID" "http://127.0.0.1:$PORT/api/v1/regions/350503001001001" \
      | python3 -c 'import json,sys; c=json.load(sys.stdin)["centroid"]; print(c["lat"], c["lng"])')
    read -r LAT LNG <<< "$POINT"
    FROM=$(date -u -d '365 days ago' +%Y-%m-%d); TO=$(date -u +%Y-%m-%d)
    run --scenario get --token "$GRID" --path "/api/v1/cases?view=tasks" --clients 16
    run --scenario get --token "$DESK" --path "/api/v1/cases?view=tasks" --clients 16
    run --scenario get --user grid --path "/cases" --clients 16
    run --scenario get --user leader --path "/stats/data.json?from=$FROM&to=$TO" --clients 4
    run --scenario get --user leader --path "/stats?from=$FROM&to=$TO" --clients 4
    run --scenario intake --token "$GRID" --lat "$LAT" --lng "$LNG" --category E06004 --clients 16
  fi
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  if [ -n "$PG_DB" ]; then psql -qAt -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null; PG_DB=""; fi
  rm -rf "$WORK"; WORK=""
done
echo "results in bench/results/"
