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
        "createChatCompletion": "fakeai.producers.text.chat:factory",
        "createCompletion": "fakeai.producers.text.completions:factory",
        "createResponse": "fakeai.producers.text.responses:factory",
        "createEmbedding": "fakeai.producers.endpoints.embeddings:factory",
        "createModeration": "fakeai.producers.endpoints.moderations:factory",
        "createImage": "fakeai.producers.endpoints.images:factory",
        "createImageEdit": "fakeai.producers.endpoints.images:factory",
        "createImageVariation": "fakeai.producers.endpoints.images:factory",
        "createSpeech": "fakeai.producers.endpoints.audio:factory",
        "createTranscription": "fakeai.producers.endpoints.audio:factory",
        "createTranslation": "fakeai.producers.endpoints.audio:factory",
    },
)
binding = BINDINGS.register  # @binding("createFoo") def factory(operation, env) -> Producer | None


def llm_factory(operation: Operation, env: CompileEnv) -> Producer | None:
    if operation.operation_id not in BINDINGS:
        return None
    return BINDINGS.get(operation.operation_id)(operation, env)
