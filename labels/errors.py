"""The label store's errors, importable without torch (the command line catches them)."""


class StoreLockedError(RuntimeError):
    """Another process is writing the store."""


class StoreError(RuntimeError):
    """The store is missing, unreadable or of another schema version."""
