"""Turns approvals into pull requests, follows them to merge, and revokes access."""
