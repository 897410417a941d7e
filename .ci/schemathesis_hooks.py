"""Schemathesis hooks for .ci/run (loaded through SCHEMATHESIS_HOOKS).

Idempotency-Key: the API answers 422 (`idempotency_key_reused`) when a key comes back with a different
request, as the spec promises, and Schemathesis sends the spec's example key with many different
requests. A valid key is therefore replaced by a fresh one on every call, which keeps each test case a
new request; keys that break the schema (negative test cases) are sent as generated.

Webhook receiver URLs: whether one is accepted depends on where its host resolves and on the
deployment (private addresses and plain http are refused unless it allows private networks), which
JSON Schema cannot say. Schema-valid (positive) cases therefore get a receiver on a public address,
keeping the generated path; negative cases are sent as generated. Tests cover the refusals.
"""

import uuid
from urllib.parse import urlsplit

import schemathesis

WEBHOOK_ENDPOINT_BODIES = {"POST /v1/webhook-endpoints", "PATCH /v1/webhook-endpoints/{webhookEndpointId}"}
PUBLIC_RECEIVER = "https://93.184.216.34"


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
        case.body["url"] = (PUBLIC_RECEIVER + path)[:2048]
