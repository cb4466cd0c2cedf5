"""The OpenAPI document's shared parts: every operation documents the API's error answers
in their one shape (errors.py), so a client (and the fuzzing tests) can rely on them."""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMAS = {
    "ErrorDetail": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "integer"},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
    },
}
ERRORS = {
    "400": "The values sent were refused; `fields` says which and why.",
    "401": "No token, or one that is not valid, revoked or expired.",
    "403": "The token's scope, its owner's roles or a rule do not allow this.",
    "404": "No such object, or not one the caller may see.",
    "405": "This path does not take this method.",
    "406": "The Accept header asks for a type the API does not answer (it answers JSON).",
    "429": "Too many calls: wait the Retry-After seconds.",
}
# Only an operation that takes a body can be sent one of the wrong type.
BODY_ERRORS = {"415": "The body is not JSON (send Content-Type: application/json)."}


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            errors = {**ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for code, description in sorted(errors.items()):
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
    return result
