from django.urls import path

from web.views import recertification as views

app_name = "recertification"

urlpatterns = [
    path("recertification/", views.campaign_list, name="campaigns"),
    path("recertification/start/", views.campaign_start, name="campaign_start"),
    path("recertification/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("recertification/<int:pk>/csv/", views.campaign_export_csv, name="campaign_csv"),
    path("recertification/<int:pk>/pdf/", views.campaign_export_pdf, name="campaign_pdf"),
    path("recertification/items/<int:pk>/owner/", views.owner_answer, name="owner_answer"),
    path("recertification/items/<int:pk>/security/", views.security_answer, name="security_answer"),
]
