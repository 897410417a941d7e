"""Schemathesis hooks for .ci/run (loaded through SCHEMATHESIS_HOOKS).

Idempotency-Key: the API answers 422 (`idempotency_key_reused`) when a key comes back with a different
request, as the spec promises, and Schemathesis sends the spec's example key with many different
requests. A valid key is therefore replaced by a fresh one on every call, which keeps each test case a
new request; keys that break the schema (negative test cases) are sent as generated.

Webhook receiver URLs: whether one is accepted depends on where its host resolves and on the
deployment, which JSON Schema cannot say, and CI calls nothing beyond loopback (the test operation
sends a real request). Schema-valid (positive) cases therefore get a loopback receiver on the discard
port, where nothing listens, keeping the generated path; the CI deployment allows private networks.
Negative cases are sent as generated. Tests cover the refusals.
"""

import uuid
from urllib.parse import urlsplit

import schemathesis

WEBHOOK_ENDPOINT_BODIES = {"POST /v1/webhook-endpoints", "PATCH /v1/webhook-endpoints/{webhookEndpointId}"}
LOOPBACK_RECEIVER = "http://127.0.0.1:9"


@schemathesis.hook
def before_call(context, case, **kwargs):
    for name, value in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and 1 <= len(value) <= 255:
            case.headers[name] = f"ci-{uuid.uuid4()}"
    if (
        case.operation.label in WEBHOOK_ENDPOINT_BODIES
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and isinstance(case.body, dict)
        and isinstance(case.body.get("url"), str)
    ):
        path = urlsplit(case.body["url"]).path
        case.body["url"] = (LOOPBACK_RECEIVER + path)[:2048]
