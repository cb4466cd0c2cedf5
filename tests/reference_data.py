"""Re-creates what the data migrations seed, with the migrations' own functions."""

from __future__ import annotations

from importlib import import_module
from typing import Any


def restore_reference_data(apps: Any) -> None:
    """Role groups, the security group's permissions and the checklist catalogue."""
    roles = import_module("accessportal.migrations.0002_roles")
    catalogue = import_module("vendors.migrations.0002_checklist_catalogue")
    permissions = import_module("vendors.migrations.0003_security_permissions")
    roles.create_roles(apps, None)
    catalogue.seed(apps, None)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    security = group_model.objects.get(name="security")
    security.permissions.add(
        *permission_model.objects.filter(
            content_type__app_label="vendors", codename__in=permissions.PERMISSIONS
        )
    )
