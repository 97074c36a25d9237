from django.core.management.base import BaseCommand

from credentials.sweep import sweep_run


class Command(BaseCommand):
    help = (
        "Runs one pass of the scheduled work now: due rotations, overlap ends, expiries, "
        "automatic rotations and reminder emails. For cron-driven deployments and by hand."
    )

    def add_arguments(self, parser: object) -> None:
        parser.add_argument(  # type: ignore[attr-defined]
            "--dry-run", action="store_true", help="list what is due without doing it"
        )

    def handle(self, *args: object, dry_run: bool, **options: object) -> None:
        actions = sweep_run(dry_run=dry_run)
        for action in actions:
            self.stdout.write(action)
        self.stdout.write(self.style.SUCCESS(
            f"{len(actions)} {'things due' if dry_run else 'things done'}."
        ))
