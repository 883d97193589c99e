#!/usr/bin/env bash
# The README's first command: the whole product on this machine, nothing but loopback.
#   moto_server (S3 + DynamoDB)  http://127.0.0.1:${MOTO_PORT:-5000}
#   the API (chalice local)      http://127.0.0.1:${API_PORT:-8000}
#   the UI (Streamlit)           http://127.0.0.1:${UI_PORT:-8501}
# Sets up .venv, creates the buckets and the cache and history tables in moto, trains on
# the bundled data and publishes the bundle, starts the API and the UI, and stops everything
# on Ctrl-C or SIGTERM. API_KEY, if set, is required by the API and sent by the UI.
# State and logs: ${LOCAL_STACK_DIR:-.local-stack}/ (recreated on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/offline-env.sh

MOTO_PORT="${MOTO_PORT:-5000}"
API_PORT="${API_PORT:-8000}"
UI_PORT="${UI_PORT:-8501}"
STATE="${LOCAL_STACK_DIR:-.local-stack}"
PIDS="$STATE/pids"
OWNER="$STATE/owner"
PY=.venv/bin/python

say() { echo "local: $*"; }

# One stack per state directory: never tear down a stack another shell is running.
if [ -f "$OWNER" ]; then
  owner="$(cat "$OWNER")"
  if kill -0 "$owner" 2>/dev/null && grep -q "local.sh" "/proc/$owner/cmdline" 2>/dev/null; then
    say "a local stack is already running from $STATE (pid $owner); stop it first," >&2
    say "or run another one with LOCAL_STACK_DIR and other ports" >&2
    exit 1
  fi
fi

started=()
step=""
stop_all() {
  trap - INT TERM EXIT
  if [ -n "$step" ]; then  # a setup, training or publishing step still running
    kill -TERM "$step" 2>/dev/null || true
    wait "$step" 2>/dev/null || true
  fi
  if [ "${#started[@]}" -gt 0 ]; then
    say "stopping"
    # TERM each process group, KILL what is left after 10 s; then reap them here.
    "$PY" infra/local_stack.py stop "${started[@]}" || true
    wait 2>/dev/null || true
    rm -f "$PIDS" "$OWNER"
  fi
  say "stopped"
}
on_signal() { stop_all; exit 0; }
on_exit() {
  status=$?
  stop_all
  exit "$status"
}
trap on_signal INT TERM
trap on_exit EXIT

# run COMMAND...: a step in the background, waited for. Bash runs a trap only after the
# foreground command ends; `wait` it interrupts at once, so SIGTERM mid-training stops now.
run() {
  "$@" </dev/null &
  step=$!
  wait "$step"
  step=""
}

# start NAME COMMAND...: run in its own process group (setsid), log to $STATE/NAME.log.
start() {
  local name="$1"
  shift
  setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null &
  started+=("$!")
  echo "$!" >>"$PIDS"
}

wait_ready() {  # wait_ready NAME URL SECONDS
  if ! "$PY" infra/local_stack.py wait-http "$2" "$3" "${started[-1]}"; then
    say "$1 failed to start; the end of $STATE/$1.log:"
    tail -n 30 "$STATE/$1.log" >&2 || true
    exit 1
  fi
}

# Everything below runs from main(), which bash reads whole before running it: editing or
# updating this file while a stack is up cannot change what the running script does.
main() {
  run bash infra/setup.sh training,serving,frontend,local

  # A run killed with SIGKILL cannot clean up: stop what it left, then start afresh.
  if [ -f "$PIDS" ]; then "$PY" infra/local_stack.py stop-stale "$PIDS"; fi
  rm -rf "$STATE"
  mkdir -p "$STATE"
  echo "$$" >"$OWNER"
  "$PY" infra/local_stack.py ports-free "$MOTO_PORT" "$API_PORT" "$UI_PORT"

  # One set of names for every part: the chalice "local" stage's (bucket, table, prefix).
  eval "$("$PY" infra/local_stack.py stage-env)"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"

  say "starting moto (S3 + DynamoDB) on 127.0.0.1:$MOTO_PORT"
  start moto .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT"
  wait_ready moto "$AWS_ENDPOINT_URL/moto-api/" 60
  run "$PY" infra/local_stack.py create-aws "$MODEL_BUCKET" "$CACHE_TABLE" "$HISTORY_TABLE" \
    "$BATCH_BUCKET"

  say "training on data/CC_GENERAL.csv (half a minute on an idle machine, minutes on a busy one)"
  # One OpenMP thread unless told otherwise: on a shared or small machine, idle-spinning
  # OpenMP workers made this step 15 times slower (40 s against 10 min on 2 busy vCPUs).
  run env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
    "$PY" -m training train --data data/CC_GENERAL.csv --out "$STATE/bundle" --no-reference
  run "$PY" -m training publish "$STATE/bundle"

  say "starting the API on 127.0.0.1:$API_PORT"
  start api .venv/bin/chalice --project-dir functions local --stage local --no-autoreload \
    --host 127.0.0.1 --port "$API_PORT"
  wait_ready api "http://127.0.0.1:$API_PORT/v1/health" 120

  say "starting the UI on 127.0.0.1:$UI_PORT"
  export API_URL="http://127.0.0.1:$API_PORT"
  start ui .venv/bin/streamlit run frontend/Home.py \
    --server.headless true --server.address 127.0.0.1 --server.port "$UI_PORT" \
    --browser.gatherUsageStats false
  wait_ready ui "http://127.0.0.1:$UI_PORT/_stcore/health" 120

  cat <<EOF

  The local stack is up.
    UI    http://127.0.0.1:$UI_PORT
    API   http://127.0.0.1:$API_PORT/v1/health   (docs: docs/api.md${API_KEY:+; header x-api-key: \$API_KEY})
    moto  $AWS_ENDPOINT_URL   (buckets $MODEL_BUCKET, $BATCH_BUCKET; tables $CACHE_TABLE, $HISTORY_TABLE)
    score a file (S3 batch function, drift report):
          AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL $PY infra/local_stack.py score-file FILE.csv
    logs  $STATE/*.log
  Ctrl-C stops everything.

EOF

  # Until a signal arrives or a server dies on its own.
  set +e
  wait -n "${started[@]}"
  status=$?
  set -e
  say "a server exited on its own (status $status); see $STATE/*.log"
  exit 1
}

main "$@"; exit
