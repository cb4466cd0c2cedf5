"""Test doubles for the outside world that run locally: the fake GitHub (`fakes.github`) and
GitLab (`fakes.gitlab`), both on the shared git smart-HTTP server (`fakes.gitserver`)."""
