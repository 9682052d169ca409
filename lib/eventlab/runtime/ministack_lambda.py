"""Patches that make MiniStack's Lambda behave as AWS's does, installed by the MiniStack launcher.

The launcher calls :func:`install` in the emulator's process before MiniStack serves. Today it
changes nothing; the Lambda work fills it, each patch naming what MiniStack does and what AWS does.
"""

from __future__ import annotations


def install() -> None:
    """Apply every patch to the imported ``ministack`` package; safe to call more than once."""
