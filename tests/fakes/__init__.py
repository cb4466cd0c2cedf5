"""Test doubles for the outside world that run locally: the fake GitHub (`fakes.github`)."""
