"""Gives the security group the admin permissions for vendors, the catalogue and reviews."""

from django.db import migrations

PERMISSIONS = [
    "view_vendor",
    "add_vendor",
    "change_vendor",
    "view_vendorcontact",
    "view_checklistitem",
    "add_checklistitem",
    "change_checklistitem",
    "view_subprocessorreview",
    "view_checklistanswer",
    "view_reviewexception",
    "view_complementarycontrol",
    "view_subserviceorganization",
    "view_evidencefile",
]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; this one needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    security, _ = Group.objects.get_or_create(name="security")
    security.permissions.add(
        *Permission.objects.filter(content_type__app_label="vendors", codename__in=PERMISSIONS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("vendors", "0002_checklist_catalogue"),
        ("accessportal", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
