"""The workflow's pages: the account inventory and access requests."""
