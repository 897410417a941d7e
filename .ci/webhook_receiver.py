"""A webhook receiver for .ci/run: verifies each delivery with the Standard Webhooks reference library.

    python webhook_receiver.py PORT SECRET COUNT

Listens on 127.0.0.1:PORT, answers 204 to a delivery whose signature verifies with SECRET (400
otherwise), prints one line per delivery (`verified <webhook-id> <type>` or `REJECTED ...`), and
exits after COUNT deliveries, or after 60 seconds with status 1. For `lead.qualified` it also opens
the event's `transcriptUrl` without credentials, as a CRM would, and prints
`transcript <conversation id> <message count>`.
"""

import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, SECRET, COUNT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
webhook = Webhook(SECRET)
received = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            webhook.verify(body, headers)
            event = json.loads(body)
            print(f"verified {headers['webhook-id']} {event['type']}", flush=True)
            if event["type"] == "lead.qualified":
                with urllib.request.urlopen(event["data"]["transcriptUrl"], timeout=10) as response:
                    transcript = json.load(response)
                print(
                    f"transcript {transcript['conversation']['id']} {len(transcript['messages'])}",
                    flush=True,
                )
            received.append(True)
            self.send_response(204)
        except (WebhookVerificationError, KeyError, ValueError, OSError) as error:
            print(f"REJECTED {headers.get('webhook-id')}: {error}", flush=True)
            received.append(False)
            self.send_response(400)
        self.end_headers()
        if len(received) >= COUNT:
            threading.Thread(target=server.shutdown).start()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", PORT), Handler)
deadline = threading.Timer(60, server.shutdown)
deadline.daemon = True
deadline.start()
server.serve_forever()
sys.exit(0 if len(received) >= COUNT and all(received) else 1)
