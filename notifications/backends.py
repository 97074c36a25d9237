"""The email backend of a local run: each message is written as one `.eml` file in a
folder (owner-only), and the console gets one line per message, not the whole MIME text.

Production sends through SMTP (EMAIL_URL); this is what `make run` uses when EMAIL_URL is
not set. Any mail client opens the files.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from config.files import private_dir

logger = logging.getLogger("keyturn.mail")


class FolderEmailBackend(BaseEmailBackend):
    def __init__(self, *, file_path: str | None = None, fail_silently: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        folder = private_dir(self.folder)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S.%fZ")
            path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(message.message().as_bytes(linesep="\r\n"))
            logger.info("email %r to %d recipient(s) written to %s", message.subject,
                        len(message.recipients()), path)
            sent += 1
        return sent
