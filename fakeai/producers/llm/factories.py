"""Model-like producers for the generative endpoints, by operationId.

Each module exposes ``factory(operation, env) -> Producer | None``; modules load lazily so an
endpoint family that is not built yet simply falls through to examples / generated data.
"""

from __future__ import annotations

import importlib
from typing import Any

from fakeai.producers.base import CompileEnv, Producer
from fakeai.spec.operation import Operation

MODULES: dict[str, str] = {
    "createChatCompletion": "fakeai.producers.llm.chat",
    "createCompletion": "fakeai.producers.llm.completions",
    "createResponse": "fakeai.producers.llm.responses",
    "createEmbedding": "fakeai.producers.llm.embeddings",
    "createModeration": "fakeai.producers.llm.moderations",
    "createImage": "fakeai.producers.llm.images",
    "createImageEdit": "fakeai.producers.llm.images",
    "createImageVariation": "fakeai.producers.llm.images",
    "createSpeech": "fakeai.producers.llm.audio",
    "createTranscription": "fakeai.producers.llm.audio",
    "createTranslation": "fakeai.producers.llm.audio",
}


def llm_factory(operation: Operation, env: CompileEnv) -> Producer | None:
    name = MODULES.get(operation.operation_id)
    if name is None:
        return None
    try:
        module: Any = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    producer: Producer | None = module.factory(operation, env)
    return producer
