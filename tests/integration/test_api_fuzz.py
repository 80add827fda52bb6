"""schemathesis against the served OpenAPI document: generated (valid and invalid) requests to
every operation, with a real token and a real open item, must never produce a server error
and must answer as documented."""

import pytest
import schemathesis
from conftest import ACTOR
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ballot.meetings import apitokens
from ballot.storage.models import User

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_api_never_fails_and_answers_as_documented(app, world, backend, mode):
    if backend != "sqlite":
        pytest.skip("the API code is the same on both databases; fuzz once")
    world.staff("admin")
    m = world.standard()
    world.codes(m.groups[0].id, 5)
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)
    with world.db.write() as s:
        token = apitokens.create_token(s, s.query(User).filter_by(username="admin1").one(), "fuzz", ACTOR)
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /api/v1/ballots", "POST /api/v1/meetings", "GET /api/v1/items/{item_id}/result"} <= labels
    calls = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            calls.append(response.status_code)

        run()
    assert calls and max(calls) < 500
