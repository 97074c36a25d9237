from django.core.management.base import BaseCommand

from credentials.demo import DEMO_PASSWORD, DEMO_TOTP_KEY, DEMO_TOTP_USER, load_demo_data


class Command(BaseCommand):
    help = "Loads the demo organizations, users and credentials (safe to run again)."

    def handle(self, *args: object, **options: object) -> None:
        users = load_demo_data()
        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Sign in as:"))
        for demo in users:
            self.stdout.write(
                f"  {demo.username:<14} {demo.role:<9} in {demo.organization}"
                f"  (password: {DEMO_PASSWORD}; times in {demo.time_zone})"
            )
        self.stdout.write(f"  {DEMO_TOTP_USER} also asks for a code from an authenticator app "
                          f"with the key {DEMO_TOTP_KEY}")
