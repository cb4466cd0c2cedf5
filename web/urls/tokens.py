from django.urls import path

from web.views import tokens as views

app_name = "tokens"

urlpatterns = [
    path("settings/tokens/", views.token_list, name="list"),
    path("settings/tokens/new/", views.token_create, name="create"),
    path("settings/tokens/<int:pk>/revoke/", views.token_revoke, name="revoke"),
]
