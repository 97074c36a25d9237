# The Invitation model moves here from organizations (0002_invitation made its table); the
# table is taken over as it is, then renamed by 0002.

import uuid

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("organizations", "0002_invitation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Invitation",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("email", models.EmailField(max_length=254)),
                        ("role", models.CharField(choices=[("owner", "Owner"), ("manager", "Credential manager"), ("reviewer", "Security reviewer"), ("viewer", "Viewer")], max_length=20)),
                        ("token_hash", models.CharField(editable=False, max_length=64, unique=True)),
                        ("created_at", models.DateTimeField()),
                        ("sent_at", models.DateTimeField(help_text="When the latest link was sent.")),
                        ("expires_at", models.DateTimeField()),
                        ("accepted_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("accepted_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("invited_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="invitations", to="organizations.organization")),
                    ],
                    options={
                        "db_table": "organizations_invitation",
                        "ordering": ["-sent_at"],
                        "constraints": [models.UniqueConstraint(django.db.models.functions.text.Lower("email"), models.F("organization"), condition=models.Q(("accepted_at__isnull", True), ("revoked_at__isnull", True)), name="one_open_invitation")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
