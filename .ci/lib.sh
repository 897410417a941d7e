# Helpers for .ci/run (sourced, not executed).

CURRENT_STEP=""
CREATED_DATABASES=()
SERVER_NAME=""
SERVER_PID=""
SERVER_URL=""
SERVER_KEY=""

step() {
  CURRENT_STEP=$1
  printf '\n==> %s\n' "$1"
}

die() {
  echo "error: $*" >&2
  exit 1
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "\`$tool\` is not installed"
  done
}

# apt_install PACKAGE: installs a Debian package, refreshing the package lists only when needed.
apt_install() {
  echo "installing Debian's $1"
  command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get"
  apt-get install -y -q "$1" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q "$1" >/dev/null; } ||
    die "cannot install $1"
}

psql_admin() {
  psql "$POSTGRES/postgres" --no-psqlrc -v ON_ERROR_STOP=1 -qAt "$@"
}

create_database() {
  psql_admin -c "CREATE DATABASE \"$1\""
  CREATED_DATABASES+=("$1")
  echo "created database $1"
}

# A TCP port on loopback that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME SERVE_ARGS...: starts `hoverbot serve` on a free loopback port, waits until
# /readyz answers, and sets SERVER_URL and SERVER_KEY (the admin key printed on first start).
start_server() {
  local name=$1 port started=$SECONDS deadline=$((SECONDS + 120))
  shift
  SERVER_NAME=$name
  port=$(free_port)
  SERVER_URL="http://127.0.0.1:$port"
  # Schemathesis sends thousands of requests a minute: lift the per-token rate limit out of its way.
  # Webhook receivers in CI live on loopback, which only a deployment that allows private networks
  # calls; retries come seconds apart, so that the conformance suite sees every attempt.
  HOVERBOT_RATE_LIMIT_PER_MINUTE=6000000 HOVERBOT_RATE_LIMIT_BURST=1000000 \
    HOVERBOT_ALLOW_PRIVATE_NETWORKS=true HOVERBOT_WEBHOOK_RETRY_SCHEDULE=0s,1s,2s,4s \
    "$BIN" serve --listen "127.0.0.1:$port" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.log" &
  SERVER_PID=$!
  until curl -fsS --max-time 2 -o /dev/null "$SERVER_URL/readyz" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 30 "$WORK/$name.log" >&2
      die "the $name server exited before it was ready"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$WORK/$name.log" >&2
      die "the $name server was not ready within 120 s"
    fi
    sleep 0.1
  done
  SERVER_KEY=$(grep -oE 'hb_live_[A-Za-z0-9_-]+' "$WORK/$name.stdout" | head -n 1 || true)
  [[ -n $SERVER_KEY ]] || die "the $name server did not print an admin key on first start"
  echo "$name server ready at $SERVER_URL (pid $SERVER_PID) after $((SECONDS - started)) s"
}

# Stops the server and keeps its log next to the Schemathesis reports.
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  mkdir -p "$CACHE/ci-reports"
  cp "$WORK/$SERVER_NAME.log" "$CACHE/ci-reports/server-$SERVER_NAME.log" 2>/dev/null || true
}

# run_example LABEL COMMAND...: runs an example against the server and checks that it printed the
# conversation id, the user's message and the assistant's answer.
run_example() {
  local label=$1 output
  shift
  echo "--- $label"
  output=$(HOVERBOT_URL="$SERVER_URL" HOVERBOT_API_KEY="$SERVER_KEY" "$@") ||
    die "$label failed"
  printf '%s\n' "$output"
  grep -qE '^conversation: conv_' <<<"$output" &&
    grep -qxF 'user: Can I change my shipping address?' <<<"$output" &&
    grep -qE '^assistant: .+' <<<"$output" ||
    die "$label did not print the conversation id, the user message and the assistant message"
}

# schemathesis REPORT_NAME ST_RUN_ARGS...: every check, positive and negative data, against the
# running server. Runs in the scratch directory so that its crash cache stays out of the repository.
schemathesis() {
  local report=$1
  shift
  rm -rf "$CACHE/ci-reports/schemathesis-$report"
  (
    cd "$WORK"
    export SCHEMATHESIS_HOOKS="$ROOT/.ci/schemathesis_hooks.py"
    # NUL (U+0000) is refused in every string, as the spec's conventions say; JSON Schema cannot
    # express that, so Schemathesis is told not to generate it (tests cover the refusal).
    st --config-file "$ROOT/.ci/schemathesis.toml" run "$SERVER_URL/openapi.json" --url "$SERVER_URL" \
      --header "Authorization: Bearer $SERVER_KEY" \
      --checks all --mode all --max-examples "$SCHEMATHESIS_EXAMPLES" \
      --request-timeout 30 --generation-database none --no-color \
      --generation-allow-x00 false \
      --report junit --report-dir "$CACHE/ci-reports/schemathesis-$report" "$@"
  )
}

# verify_webhook_delivery: subscribes .ci/webhook_receiver.py (which verifies signatures with the
# `standardwebhooks` package) on a loopback port, sends it a test event, then rotates the secret and
# sends another (signed with both secrets), then causes one event of each kind the API emits
# (conversation.created, message.responded, lead.qualified, escalation.created), which the server's
# worker delivers from its outbox, and checks that the receiver accepted all six and opened the
# lead's transcript link without an API key. The endpoint is deleted after.
verify_webhook_delivery() {
  local port endpoint secret receiver result conversation auth=(-H "Authorization: Bearer $SERVER_KEY")
  local json=(-H 'Content-Type: application/json')
  port=$(free_port)
  endpoint=$(curl -fsS "${auth[@]}" "${json[@]}" \
    -d "{\"url\": \"http://127.0.0.1:$port/hook\", \"enabledEvents\": [\"conversation.created\", \"message.responded\", \"lead.qualified\", \"escalation.created\"]}" \
    "$SERVER_URL/v1/webhook-endpoints")
  secret=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])' <<<"$endpoint")
  endpoint=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$endpoint")
  "$VENV/bin/python" .ci/webhook_receiver.py "$port" "$secret" 6 >"$WORK/receiver.log" 2>&1 &
  receiver=$!
  until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$receiver" 2>/dev/null || { cat "$WORK/receiver.log"; die "the receiver did not start"; }
    sleep 0.1
  done
  for round in first rotated; do
    if [[ $round == rotated ]]; then
      curl -fsS -X POST "${auth[@]}" -o /dev/null "$SERVER_URL/v1/webhook-endpoints/$endpoint/rotate-secret"
    fi
    result=$(curl -fsS -X POST "${auth[@]}" "$SERVER_URL/v1/webhook-endpoints/$endpoint/test")
    echo "$round: $result"
    grep -q '"delivered":true' <<<"$result" || { cat "$WORK/receiver.log"; die "the receiver refused the $round delivery"; }
  done
  conversation=$(curl -fsS "${auth[@]}" "${json[@]}" -d '{"channel": "web"}' "$SERVER_URL/v1/conversations")
  conversation=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$conversation")
  curl -fsS "${auth[@]}" "${json[@]}" -o /dev/null \
    -d '{"text": "Could we book a demo? I am Jane Doe from Northwind Traders, jane@northwind.example"}' \
    "$SERVER_URL/v1/conversations/$conversation/messages"
  curl -fsS "${auth[@]}" "${json[@]}" -o /dev/null \
    -d "{\"conversationId\": \"$conversation\", \"reasonCode\": \"user_requested\", \"destination\": \"zendesk\"}" \
    "$SERVER_URL/v1/escalations"
  wait "$receiver" || { cat "$WORK/receiver.log"; die "the receiver did not verify all six deliveries"; }
  cat "$WORK/receiver.log"
  for kind in webhook.test conversation.created message.responded lead.qualified escalation.created; do
    grep -q "^verified .* $kind\$" "$WORK/receiver.log" || die "no verified $kind delivery"
  done
  grep -q "^transcript $conversation 2\$" "$WORK/receiver.log" || die "the transcript link did not open"
  curl -fsS -X DELETE "${auth[@]}" "$SERVER_URL/v1/webhook-endpoints/$endpoint"
}

# verify_conformance_fails_on_a_mock: runs the promise suites of hoverbot-conformance against
# `prism mock` of the spec, which answers every operation with the spec's examples and keeps no
# promise (no rate limit, no idempotency, no webhook), and checks that the run fails (exit 1) with
# failures in each of limits, idempotency, webhooks and retries.
verify_conformance_fails_on_a_mock() {
  local port status=0 deadline=$((SECONDS + 60)) report="$CACHE/ci-reports/conformance-prism.json"
  port=$(free_port)
  prism mock openapi/hoverbot.yaml --host 127.0.0.1 --port "$port" >"$WORK/prism.log" 2>&1 &
  PRISM_PID=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$PRISM_PID" 2>/dev/null || { cat "$WORK/prism.log"; die "Prism exited"; }
    ((SECONDS < deadline)) || die "Prism did not listen within 60 s"
    sleep 0.2
  done
  "$CONFORMANCE" run --base-url "http://127.0.0.1:$port" --api-key hb_live_prismMockAcceptsAnyKey \
    --suites limits,idempotency,webhooks,retries --max-examples 5 --seed "$RUN_SEED" \
    --json "$report" >"$WORK/prism-run.log" 2>&1 || status=$?
  kill "$PRISM_PID" 2>/dev/null || true
  wait "$PRISM_PID" 2>/dev/null || true
  PRISM_PID=""
  grep -E '^(suite|limits|idempotency|webhooks|retries) ' "$WORK/prism-run.log" || true
  ((status == 1)) || { tail -n 30 "$WORK/prism-run.log"; die "against the mock the suite exited $status, not 1"; }
  python3 - "$report" <<'PY' || die "a promise suite passed against the mock"
import json, sys
failed = {failure["suite"] for failure in json.load(open(sys.argv[1]))["failures"]}
missing = {"limits", "idempotency", "webhooks", "retries"} - failed
print("suites failing against the mock:", ", ".join(sorted(failed)))
sys.exit(f"no failure in {', '.join(sorted(missing))}" if missing else 0)
PY
}

# verify_demo: on a server started with --demo, the README's question gets the help center's answer
# with its citation, and a question the help center does not answer gets no invented answer: a low
# confidence, no citation, the no_knowledge flag and an offer of a human.
verify_demo() {
  local auth=(-H "Authorization: Bearer $SERVER_KEY") deadline=$((SECONDS + 60)) output conversation exchange
  until curl -fsS "${auth[@]}" "$SERVER_URL/v1/knowledge-sources" | grep -q '"status":"ready"'; do
    ((SECONDS < deadline)) || die "the demo help center was not synced within 60 s"
    sleep 0.2
  done
  until output=$(HOVERBOT_URL="$SERVER_URL" HOVERBOT_API_KEY="$SERVER_KEY" bash examples/curl.sh) &&
    grep -qxF 'assistant: You can change the shipping address of an order until it ships. Open Orders in your account, select the order and choose Change shipping address.' <<<"$output"; do
    ((SECONDS < deadline)) || { printf '%s\n' "$output"; die "the README's question got no answer from the demo"; }
    sleep 0.5
  done
  printf '%s\n' "$output"
  conversation=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"channel": "web"}' \
    "$SERVER_URL/v1/conversations")
  conversation=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$conversation")
  exchange=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"text": "What is the capital of Australia?"}' "$SERVER_URL/v1/conversations/$conversation/messages")
  python3 - "$exchange" <<'PY' || die "the demo answered a question its help center does not answer"
import json, sys
exchange = json.loads(sys.argv[1])
answer, trace = exchange["assistantMessage"], exchange["trace"]
print("unanswerable:", answer["text"], "| confidence", trace["confidence"])
assert trace["confidence"] < 0.45, trace
assert answer["citations"] == [], answer
assert "no_knowledge" in trace["policyFlags"], trace
assert "person from our team" in answer["text"], answer
PY
}

cleanup() {
  local status=$? database
  stop_server
  [[ -z ${PRISM_PID:-} ]] || kill "$PRISM_PID" 2>/dev/null || true
  for database in "${CREATED_DATABASES[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" ||
      echo "warning: could not drop database $database" >&2
  done
  rm -rf "$WORK"
  if ((status != 0)); then
    printf '\nCI FAILED%s (exit %d)\n' "${CURRENT_STEP:+ in step: $CURRENT_STEP}" "$status" >&2
  fi
  return "$status"
}
