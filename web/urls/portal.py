"""The portal's own pages outside any app's namespace."""

from django.urls import path

from web.views.dashboard import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
]
