"""Schemathesis hooks for .ci/run (loaded through SCHEMATHESIS_HOOKS).

Idempotency-Key: the API answers 422 (`idempotency_key_reused`) when a key comes back with a different
request, as the spec promises, and Schemathesis sends the spec's example key with many different
requests. A valid key is therefore replaced by a fresh one on every call, which keeps each test case a
new request; keys that break the schema (negative test cases) are sent as generated.
"""

import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, **kwargs):
    for name, value in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and 1 <= len(value) <= 255:
            case.headers[name] = f"ci-{uuid.uuid4()}"
