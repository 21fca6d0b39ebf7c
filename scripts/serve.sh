#!/usr/bin/env bash
# Starts the action server (port 5055), the Rasa server (port 5005, REST and website channels) and,
# for `run`, the staff console (127.0.0.1:5056) together; waits until Rasa answers, prints how to talk
# to it, the widget's demo address and the console's, and stops them all on Ctrl-C.
# Usage: scripts/serve.sh [run|shell]   (`make run` / `make shell` call it).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-run}"
BIN=.venv/bin
MODEL=models/clinic-assistant.tar.gz
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
# No usage events or error reports leave the machine (Rasa's telemetry is on unless told otherwise).
export RASA_TELEMETRY_ENABLED=false

# The SQLite conversation store (endpoints.yml) and booking store live in var/, for this user only.
umask 077
mkdir -p var
chmod 700 var

# No other process on this machine may call the action server: both servers share a token, made
# for this run unless ACTION_SERVER_TOKEN is set. Rasa reads it from the environment through the
# endpoints file made here (the token itself is never written to disk).
if [ -z "${ACTION_SERVER_TOKEN:-}" ]; then
  ACTION_SERVER_TOKEN="$("$BIN/python" -c 'import secrets; print(secrets.token_hex(24))')"
fi
export ACTION_SERVER_TOKEN
# The same for the published model: Rasa fetches it from the staff console with this token.
if [ -z "${MODEL_SERVER_TOKEN:-}" ]; then
  MODEL_SERVER_TOKEN="$("$BIN/python" -c 'import secrets; print(secrets.token_hex(24))')"
fi
export MODEL_SERVER_TOKEN
ENDPOINTS=var/endpoints.run.yml
"$BIN/python" - "$ENDPOINTS" "$MODE" <<'PY'
import os
import sys

import yaml

config = yaml.safe_load(open("endpoints.yml"))
config["action_endpoint"]["headers"] = {"Authorization": "Bearer ${ACTION_SERVER_TOKEN}"}
if sys.argv[2] == "run":
    # Rasa starts from models/ and then follows what the console publishes (no restart).
    port = os.environ.get("CONSOLE_PORT") or "5056"
    config["models"] = {
        "url": f"http://127.0.0.1:{port}/models/clinic-assistant.tar.gz",
        "headers": {"Authorization": "Bearer ${MODEL_SERVER_TOKEN}"},
        "wait_time_between_pulls": 1,
    }
with open(sys.argv[1], "w") as out:
    out.write("# Made by scripts/serve.sh from endpoints.yml for one run; edit endpoints.yml.\n")
    out.write(yaml.safe_dump(config, sort_keys=False))
PY

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

# The action server checks clinic.yml and the hand-off settings first and stops with a message
# naming any bad field; it listens on 127.0.0.1 only.
"$BIN/python" -m actions.server --port 5055 &
pids+=($!)

if [ "$MODE" = shell ]; then
  "$BIN/python" -m runtime.serve shell -m "$MODEL" --endpoints "$ENDPOINTS"
  exit 0
fi

# The staff console reads the same database as the action server (BOOKINGS_DB_URL) and listens on
# 127.0.0.1 only; staff log in with a user made by `python -m actions.staff add-user NAME`.
"$BIN/python" -m console &
pids+=($!)

# Rasa through the project's one entry point (runtime/serve.py). The HTTP API stays off
# (no --enable-api): only the channels in credentials.yml are served.
"$BIN/python" -m runtime.serve run -m "$MODEL" --port 5005 --endpoints "$ENDPOINTS" --credentials credentials.yml &
pids+=($!)

for _ in $(seq 1 300); do
  if "$BIN/python" -c "import urllib.request as u; u.urlopen('http://localhost:5005/webhooks/rest/', timeout=2)" 2>/dev/null; then
    cat <<'MSG'

  The clinic assistant is running (Ctrl-C stops all three).
    Rasa server:   http://localhost:5005   (REST and website channels)
    Action server: http://127.0.0.1:5055   (booking requests: python -m actions.staff list)
MSG
    echo "    Staff console: http://${CONSOLE_HOST:-127.0.0.1}:${CONSOLE_PORT:-5056}   (add a user first: .venv/bin/python -m actions.staff add-user NAME)"
    cat <<'MSG'

  The chat widget on a sample clinic page (open it in a browser):
    http://localhost:5005/webhooks/website/demo

  Talk to it:
    curl -s http://localhost:5005/webhooks/rest/webhook \
      -H 'Content-Type: application/json' \
      -d '{"sender": "3f6c1e2a-0b7d-4c57-9a43-5d2f8e1b6a90", "message": "does dry needling hurt?"}'
  or chat in the terminal with: make shell

MSG
    break
  fi
  sleep 1
done
wait -n "${pids[@]}"
