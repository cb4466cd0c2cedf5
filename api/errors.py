"""Every API error in one shape (README "REST API"):

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"name": ["..."]}}}

`fields` is present only for a refusal of given values; its keys are the request's fields
("non_field_errors" for a refusal of the whole). The services' own exceptions (Django's
ValidationError, PermissionDenied, Http404, a missing row) become the same shape, so no rule
needs a second, API-only wording.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = "non_field_errors"


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _flatten(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _flatten(value)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    return {NON_FIELD: _flatten(detail)}


def from_django(exc: Exception) -> exceptions.APIException | None:
    """The DRF exception for a service's Django exception (None when it is not one)."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(
                {
                    (key if key != "__all__" else NON_FIELD): [str(m) for e in errors for m in e]
                    for key, errors in exc.error_dict.items()
                }
            )
        return exceptions.ValidationError({NON_FIELD: exc.messages})
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return exceptions.NotFound(str(exc) or None)
    return None


def error_body(status_code: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = from_django(exc) or exc
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling, logged with its traceback
    assert isinstance(exc, exceptions.APIException)  # noqa: S101  DRF answers only these
    codes = exc.get_codes()
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        message = " ".join(m for ms in fields.values() for m in ms)
        code = "invalid"
    else:
        fields = None
        message = " ".join(_flatten(exc.detail))
        code = codes if isinstance(codes, str) else "error"
    response.data = error_body(response.status_code, code, message, fields)
    return response
