from django.db import migrations, models
from django.db.models import F


def trust_recorded_heads(apps, schema_editor):
    # Rows opened before the portal kept what it pushed: their recorded head is the best
    # knowledge there is (it came from the portal's own push or pull request).
    PullRequest = apps.get_model("approvals", "PullRequest")
    PullRequest.objects.update(pushed_sha=F("head_sha"))


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0012_request_list_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="pullrequest",
            name="pushed_sha",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="pullrequest",
            name="status_sha",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(trust_recorded_heads, migrations.RunPython.noop),
    ]
