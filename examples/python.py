"""Ask HoverBot a question with Python: create a conversation, send a message, print the transcript.

    pip install -r examples/requirements.txt
    HOVERBOT_API_KEY=hb_live_... python3 examples/python.py

HOVERBOT_URL defaults to http://127.0.0.1:8080 (a local `hoverbot serve`).
"""

import os
import sys

import requests

BASE_URL = os.environ.get("HOVERBOT_URL", "http://127.0.0.1:8080")
API_KEY = os.environ.get("HOVERBOT_API_KEY")
if not API_KEY:
    sys.exit("Set HOVERBOT_API_KEY to an API key (hoverbot serve prints one on first start).")

session = requests.Session()
session.headers["Authorization"] = f"Bearer {API_KEY}"


def api(method, path, json=None):
    """Calls the API; on a non-2xx status prints the problem (application/problem+json) and exits."""
    response = session.request(method, BASE_URL + path, json=json, timeout=60)
    if not 200 <= response.status_code < 300:
        sys.exit(f"{method} {path} failed with HTTP {response.status_code}:\n{response.text}")
    return response.json()


# 1. Start a conversation for a visitor of the website.
conversation = api("POST", "/v1/conversations", {"channel": "web", "externalUserId": "visitor_123"})
print(f"conversation: {conversation['id']}")

# 2. Send the visitor's question; the answer comes back in the same response.
api("POST", f"/v1/conversations/{conversation['id']}/messages", {"text": "Can I change my shipping address?"})

# 3. Fetch the transcript and print every message.
transcript = api("GET", f"/v1/conversations/{conversation['id']}")
for message in transcript["messages"]:
    print(f"{message['role']}: {message['text']}")
