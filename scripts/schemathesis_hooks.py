"""Schemathesis checks of the grid's own rule: every 4xx answer says what was wrong."""

import schemathesis


@schemathesis.check
def a_4xx_says_what_was_wrong(ctx, response, case):
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except Exception as error:  # noqa: BLE001 - any non-JSON body fails the check
            raise AssertionError(f"a {response.status_code} answer is not JSON: {error}") from error
        message = body.get("message") if isinstance(body, dict) else None
        assert isinstance(message, str) and message, f"a {response.status_code} answer without a message: {body}"
