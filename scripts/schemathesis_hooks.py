"""Schemathesis hooks for the grid: its own check, and the rules no schema can state.

The OpenAPI document states every rule a JSON Schema can: patterns, lengths, bounds,
enumerations, closed objects. A few rules are about other data or other fields, and
schema-valid data breaks them by chance, so the server rightly refuses it with 400:

- a registration's channel must already carry `hello` at index 0;
- an envelope's root must be the hash of its public key, and its signature must verify;
- the addresses of one batch-put must differ;
- `pageSize` and its other spelling `page-size` must agree when both are given;
- a statement is read with its member's own key, over `from` before `to`, at most 366
  days apart.

For data generated as valid (positive), `map_case` makes those rules hold, with a real
channel made for the run and given in GRID_SCHEMATHESIS_CHANNEL as JSON:
`{"root": ..., "sideKey": ..., "envelope": {...}}` (its hello, which verifies wherever it
is placed: the node cannot tell an address's owner). Schemathesis checks the case against
the document again after the hook, so what the hook puts in must be schema-valid too.
Invalid (negative) data is left alone.
"""

import json
import os

import schemathesis
from schemathesis import GenerationMode

_CHANNEL = os.environ.get("GRID_SCHEMATHESIS_CHANNEL")
_CHANNEL = json.loads(_CHANNEL) if _CHANNEL else None
# A registered member, `{"id": ..., "sideKey": ...}`: whose statement valid cases read.
_MEMBER = os.environ.get("GRID_SCHEMATHESIS_MEMBER")
_MEMBER = json.loads(_MEMBER) if _MEMBER else None
_YEAR_MS = 366 * 86_400_000


@schemathesis.check
def a_4xx_says_what_was_wrong(ctx, response, case):
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except Exception as error:  # noqa: BLE001 - any non-JSON body fails the check
            raise AssertionError(f"a {response.status_code} answer is not JSON: {error}") from error
        message = body.get("message") if isinstance(body, dict) else None
        assert isinstance(message, str) and message, f"a {response.status_code} answer without a message: {body}"


def _positive(case):
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def map_case(ctx, case):
    if not _positive(case):
        return case
    operation = (case.method.upper(), case.operation.path)
    body = case.body if isinstance(case.body, dict) else None
    if _CHANNEL is not None and body is not None:
        if operation == ("PUT", "/registration/{registrationId}") and isinstance(body.get("root"), str):
            body["root"], body["sideKey"] = _CHANNEL["root"], _CHANNEL["sideKey"]
        elif operation == ("PUT", "/channels/messages/{address}"):
            case.body = dict(_CHANNEL["envelope"])
        elif operation == ("POST", "/channels/messages/batch-put") and isinstance(body.get("messages"), list):
            seen, messages = set(), []
            for message in body["messages"]:
                if isinstance(message, dict) and message.get("address") not in seen:
                    seen.add(message.get("address"))
                    messages.append({**message, "envelope": dict(_CHANNEL["envelope"])})
            body["messages"] = messages
    if operation == ("GET", "/members/{registrationId}/statement") and _MEMBER is not None:
        case.path_parameters["registrationId"] = _MEMBER["id"]
        case.headers = {**(case.headers or {}), "X-Side-Key": _MEMBER["sideKey"]}
        # A valid range: `to` as generated, `from` within the 366 days before it.
        query = case.query or {}
        to = int(query["to"]) if "to" in query else None
        query.pop("from", None)
        if to is not None and to <= 0:
            del query["to"]
        elif to is not None:
            query["from"] = max(0, to - _YEAR_MS)
        case.query = query
    query = case.query
    if operation[1].startswith("/storage/") and query and "pageSize" in query and "page-size" in query:
        query["page-size"] = query["pageSize"]
    return case
