"""The AWS account inventory pages (built by the account-sync feature)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
