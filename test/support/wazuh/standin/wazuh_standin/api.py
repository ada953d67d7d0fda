"""Wazuh server API stand-in (filled in by a later step)."""


def start(manager):
    return None
