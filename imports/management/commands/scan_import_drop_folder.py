from django.conf import settings
from django.core.management.base import BaseCommand

from imports.drop_folder import drop_folder_scan


class Command(BaseCommand):
    help = (
        "Turns files waiting in KEYTURN_IMPORT_DROP_DIR/<organization slug>/ into pending "
        "imports (what the worker runs every minute)."
    )

    def handle(self, *args: object, **options: object) -> None:
        root = settings.KEYTURN_IMPORT_DROP_DIR
        result = drop_folder_scan(root=root)
        self.stdout.write(
            f"{root}: {len(result.received)} received, {len(result.duplicates)} already "
            f"received, {len(result.rejected)} rejected."
        )
        for path in result.rejected:
            self.stdout.write(f"rejected: {path} (see the .note.txt next to it)")
