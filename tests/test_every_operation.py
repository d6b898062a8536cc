"""Every operation of the embedded spec answers a valid request with a 2xx, spec-valid body."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from fakeai.producers.generated import SchemaWalker
from fakeai.spec.load import load_document
from fakeai.spec.operation import Operation, iter_operations
from tests.conftest import make_app
from tests.spec_requests import build_request

DOCUMENT = load_document(None)
OPERATIONS = list(iter_operations(DOCUMENT))
WALKER = SchemaWalker(DOCUMENT)


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
async def test_operation_answers_valid_request(op: Operation) -> None:
    app = make_app()
    request = build_request(op, WALKER, seed=1)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        kwargs: dict[str, Any] = {"params": request.params}
        if request.json is not None:
            kwargs["json"] = request.json
        if request.data is not None or request.files:
            kwargs["data"] = request.data or {}
            if request.files:
                kwargs["files"] = request.files
        if op.operation_id == "createRealtimeCall" or "application/sdp" in op.request_media:
            kwargs["content"] = (
                b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
            )
            kwargs["headers"] = {"content-type": "application/sdp"}
        response = await http.request(request.method, request.url, **kwargs)
    assert 200 <= response.status_code < 300, (response.status_code, response.text[:500])
    assert not app.violations, app.violations
