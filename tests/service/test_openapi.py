"""Schemathesis against our OpenAPI: generated requests to every operation, sent as an admin
(who may call them all), never get a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.service.conftest import Api


def test_no_generated_request_gets_a_server_error(make_app: Any) -> None:
    api = Api(make_app(rate_limit_burst=100_000))
    headers = api.add_user("boss", "admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/cases", "/cases/{case_id}/feedback", "/users"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,  # write no .hypothesis folder into the checkout
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
