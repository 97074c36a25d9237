"""What a connection's network fields may hold: a host name, a port and a pinned host key.
One rule each, here: the portal's connection form validates with these validators and the
API's body shapes (api/shapes.py) state the same patterns and limits in its document."""

from __future__ import annotations

from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)

# DNS names (labels of letters, digits and inner dashes, up to 63 each) and IPv4 addresses.
HOSTNAME_PATTERN = (
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
HOSTNAME_MAX_LENGTH = 253
HOSTNAME_MESSAGE = "Enter a host name such as sftp.example.com, or an IPv4 address."

PORT_MIN, PORT_MAX = 1, 65535
PORT_MESSAGE = f"Enter a port from {PORT_MIN} to {PORT_MAX}."

# As `ssh-keygen -lf` prints it, and as Keyturn computes it (credentials.crypto.ssh_fingerprint):
# the unpadded base64 of a SHA-256 digest is 43 characters.
HOST_KEY_PIN_PATTERN = r"^SHA256:[A-Za-z0-9+/]{43}$"
HOST_KEY_PIN_MESSAGE = ("Enter the host key's fingerprint as ssh-keygen -lf prints it: SHA256: "
                        "followed by 43 characters.")

hostname_validators = [
    MaxLengthValidator(HOSTNAME_MAX_LENGTH, HOSTNAME_MESSAGE),
    RegexValidator(HOSTNAME_PATTERN, HOSTNAME_MESSAGE),
]
port_validators = [MinValueValidator(PORT_MIN, PORT_MESSAGE),
                   MaxValueValidator(PORT_MAX, PORT_MESSAGE)]
host_key_pin_validators = [RegexValidator(HOST_KEY_PIN_PATTERN, HOST_KEY_PIN_MESSAGE)]
