from typing import Any


async def test_models_list_through_sdk(client: Any) -> None:
    page = await client.models.list()
    assert page.data, "a list endpoint should return at least one item"
    assert all(m.object == "model" for m in page.data)
