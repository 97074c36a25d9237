"""Rotations: the writes that move a credential from one version (or credential) to
another, one job per module:

- requests: asking for a rotation (now, scheduled, a swap), cancelling and retrying one;
- engine: running one (claim, check the material, switch, record the outcome);
- automatic: preparing automatic rotations and activating a new version on first use;
- steps: the scheduled pass's steps about rotations and versions.

When versions start and stop working is decided in credentials.lifecycle.
"""
