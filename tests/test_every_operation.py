"""Every operation of the embedded spec answers a valid request with a 2xx, spec-valid body.

A valid request may name a resource that does not exist: operations on one resource (retrieve, update,
delete, actions, content) answer a well-formed id this server never issued with OpenAI's 404, like the API.
"""

from __future__ import annotations

import httpx2
import pytest

from fakeai.generated.schema import SchemaWalker
from fakeai.spec.load import load_document
from fakeai.spec.operation import Operation, iter_operations
from tests.conftest import make_app
from tests.spec_requests import build_request, is_missing_resource, send

DOCUMENT = load_document(None)
OPERATIONS = list(iter_operations(DOCUMENT))
WALKER = SchemaWalker(DOCUMENT)


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
async def test_operation_answers_valid_request(op: Operation) -> None:
    app = make_app()
    request = build_request(op, WALKER, seed=1)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        response = await send(http, op, request)
    if is_missing_resource(app, op, request, response):
        return
    assert 200 <= response.status_code < 300, (response.status_code, response.text[:500])
    assert not app.violations, app.violations
