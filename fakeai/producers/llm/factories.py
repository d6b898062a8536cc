"""Model-like producers for the generative endpoints, bound by operationId.

``BINDINGS`` maps an operationId to a ``factory(operation, env) -> Producer | None``, by import string
(loaded only when an operation with that id is compiled). Third parties bind more operationIds with
entry points in the ``fakeai.bindings`` group (name = the operationId). Python per operationId because
these endpoints behave like a model (tokens, streaming, usage), which the spec cannot say.
"""

from __future__ import annotations

from fakeai.plugins import Registry
from fakeai.producers.base import CompileEnv, Producer, ProducerFactory
from fakeai.spec.operation import Operation

BINDINGS: Registry[ProducerFactory] = Registry(
    "binding",
    group="fakeai.bindings",
    builtins={
        "createChatCompletion": "fakeai.producers.llm.chat:factory",
        "createCompletion": "fakeai.producers.llm.completions:factory",
        "createResponse": "fakeai.producers.llm.responses:factory",
        "createEmbedding": "fakeai.producers.llm.embeddings:factory",
        "createModeration": "fakeai.producers.llm.moderations:factory",
        "createImage": "fakeai.producers.llm.images:factory",
        "createImageEdit": "fakeai.producers.llm.images:factory",
        "createImageVariation": "fakeai.producers.llm.images:factory",
        "createSpeech": "fakeai.producers.llm.audio:factory",
        "createTranscription": "fakeai.producers.llm.audio:factory",
        "createTranslation": "fakeai.producers.llm.audio:factory",
    },
)
binding = BINDINGS.register  # @binding("createFoo") def factory(operation, env) -> Producer | None


def llm_factory(operation: Operation, env: CompileEnv) -> Producer | None:
    if operation.operation_id not in BINDINGS:
        return None
    return BINDINGS.get(operation.operation_id)(operation, env)
