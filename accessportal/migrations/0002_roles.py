"""Creates the portal's three role groups (DESIGN.md section 2) and enrols existing users."""

from django.db import migrations

ROLES = ("requesters", "security", "auditors")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("auth", "User")
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    # Users created before this migration are requesters too, as every signed-in user is.
    groups["requesters"].user_set.add(*User.objects.all())


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accessportal", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
