"""What several pages share: a service's refusal shown on its form."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def service_errors_on_form(form: Any, error: ValidationError) -> None:
    """Puts a service's ValidationError next to the matching fields (or on top)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)
