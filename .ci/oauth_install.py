"""A marketplace app installs itself the way a real one would: Authlib, a third-party OAuth client
library, drives the authorization code flow with PKCE against a live server, a workspace admin
approves on the consent page in headless Chromium (.ci/oauth_consent.mjs), and the app's redirect
endpoint is a loopback listener on a port of the system's choosing (RFC 8252 §7.3: the app is
registered with http://127.0.0.1/callback, any port). Then the app uses, refreshes, introspects and
revokes its token, as the library does it.

  HOVERBOT_URL=http://127.0.0.1:PORT HOVERBOT_API_KEY=hb_live_... CLIENT_ID=app_... \
    CLIENT_SECRET=hb_cs_... CONSENT_SCRIPT=oauth_consent.mjs python .ci/oauth_install.py
"""

import http.server
import os
import subprocess
import sys
import threading
from urllib.parse import parse_qsl, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

BASE = os.environ["HOVERBOT_URL"]
SCOPE = "conversations:read conversations:write"


def check(condition, message):
    if not condition:
        sys.exit(f"oauth install: {message}")


class Callback(http.server.BaseHTTPRequestHandler):
    """The app's redirect endpoint: keeps what the authorization server sent back."""

    received = None

    def do_GET(self):
        if not self.path.startswith("/callback?"):
            self.send_error(404)  # the browser's /favicon.ico
            return
        Callback.received = self.path
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b'<p id="installed">Installed. You can close this window.</p>')

    def log_message(self, *args):
        pass


def main():
    metadata = requests.get(f"{BASE}/.well-known/oauth-authorization-server", timeout=10).json()
    check(metadata["issuer"] == BASE, f"issuer {metadata['issuer']!r} is not {BASE!r}")

    listener = http.server.HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    redirect_uri = f"http://127.0.0.1:{listener.server_port}/callback"

    app = OAuth2Session(
        os.environ["CLIENT_ID"],
        os.environ["CLIENT_SECRET"],
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    url, state = app.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier
    )

    subprocess.run(
        ["node", os.environ["CONSENT_SCRIPT"]],
        env={**os.environ, "AUTHORIZE_URL": url, "REDIRECT_URI": redirect_uri},
        check=True,
        timeout=120,
    )
    check(Callback.received is not None, "the browser never reached the app's redirect URI")
    response = f"http://127.0.0.1:{listener.server_port}{Callback.received}"
    params = dict(parse_qsl(urlparse(response).query))
    check(params.get("state") == state, "state did not come back")
    check(params.get("iss") == metadata["issuer"], "iss (RFC 9207) did not come back")

    token = app.fetch_token(
        metadata["token_endpoint"],
        authorization_response=response,
        code_verifier=verifier,
        state=state,
    )
    check(token["token_type"] == "Bearer", f"token_type {token['token_type']!r}")
    check(token["scope"] == SCOPE, f"scope {token['scope']!r}")
    check(token["access_token"].startswith("hb_at_"), "not an access token")

    # The token works on the API like an API key, within the scopes approved.
    created = app.post(f"{BASE}/v1/conversations", json={"channel": "web"}, timeout=10)
    check(created.status_code == 201, f"creating a conversation: {created.status_code}")
    denied = app.get(f"{BASE}/v1/api-keys", timeout=10)
    check(denied.status_code == 403, f"a scope not granted: {denied.status_code}")

    # Rotation: the library stores the new pair; the old refresh token is spent.
    old_refresh = token["refresh_token"]
    token = app.refresh_token(metadata["token_endpoint"], refresh_token=old_refresh)
    check(token["refresh_token"] != old_refresh, "the refresh token was not rotated")
    listed = app.get(f"{BASE}/v1/conversations", timeout=10)
    check(listed.status_code == 200, f"with the refreshed token: {listed.status_code}")

    about = app.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    check(about.json().get("active") is True, f"introspection: {about.text}")

    revoked = app.revoke_token(metadata["revocation_endpoint"], token=token["access_token"])
    check(revoked.status_code == 200, f"revocation: {revoked.status_code}")
    after = requests.get(
        f"{BASE}/v1/conversations",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    check(after.status_code == 401, f"a revoked token: {after.status_code}")
    print("oauth install: approved in Chromium, tokens from Authlib, used, rotated, revoked")


if __name__ == "__main__":
    main()
