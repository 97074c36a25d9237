# Invitation now lives in the members app (members.0001 takes over its table).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("organizations", "0002_invitation"),
        ("members", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Invitation")],
            database_operations=[],
        ),
    ]
