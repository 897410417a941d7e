#!/usr/bin/env bash
# Ask HoverBot a question with curl: create a conversation, send a message, print the transcript.
#
#   HOVERBOT_API_KEY=hb_live_... ./examples/curl.sh
#
# HOVERBOT_URL defaults to http://127.0.0.1:8080 (a local `hoverbot serve`).
set -euo pipefail

HOVERBOT_URL="${HOVERBOT_URL:-http://127.0.0.1:8080}"
: "${HOVERBOT_API_KEY:?set HOVERBOT_API_KEY to an API key (hoverbot serve prints one on first start)}"

# api METHOD PATH [JSON]: prints the response body; on a non-2xx status prints the problem and fails.
api() {
  local response status
  response=$(curl -sS --max-time 60 -X "$1" "$HOVERBOT_URL$2" \
    -H "Authorization: Bearer $HOVERBOT_API_KEY" \
    ${3:+-H "Content-Type: application/json" --data "$3"} \
    -w '\n%{http_code}')
  status=${response##*$'\n'}
  response=${response%$'\n'*}
  if [[ $status != 2?? ]]; then
    echo "$1 $2 failed with HTTP $status:" >&2
    echo "$response" >&2
    return 1
  fi
  printf '%s\n' "$response"
}

# 1. Start a conversation for a visitor of the website.
conversation=$(api POST /v1/conversations '{"channel": "web", "externalUserId": "visitor_123"}')
conversation_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$conversation")
echo "conversation: $conversation_id"

# 2. Send the visitor's question; the answer comes back in the same response.
api POST "/v1/conversations/$conversation_id/messages" '{"text": "Can I change my shipping address?"}' >/dev/null

# 3. Fetch the transcript and print every message.
api GET "/v1/conversations/$conversation_id" | python3 -c '
import json, sys
for message in json.load(sys.stdin)["messages"]:
    print(message["role"] + ": " + message["text"])
'
