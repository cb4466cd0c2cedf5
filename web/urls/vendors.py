from django.urls import path

from web.views import vendors as views

app_name = "vendors"

urlpatterns = [
    path("vendors/", views.vendor_list, name="list"),
    path("vendors/new/", views.vendor_create, name="create"),
    path("vendors/<int:pk>/", views.vendor_detail, name="detail"),
    path("vendors/<int:pk>/edit/", views.vendor_edit, name="edit"),
    path("vendors/<int:pk>/offboard/", views.vendor_offboard, name="offboard"),
    path("vendors/<int:pk>/cut-off/", views.vendor_cut_off, name="cut_off"),
    path("vendors/<int:pk>/contacts/new/", views.contact_edit, name="contact_add"),
    path(
        "vendors/<int:pk>/contacts/<int:contact_id>/edit/", views.contact_edit, name="contact_edit"
    ),
    path(
        "vendors/<int:pk>/contacts/<int:contact_id>/delete/",
        views.contact_delete,
        name="contact_delete",
    ),
    path(
        "vendors/<int:pk>/key-recipient/<int:change_id>/decide/",
        views.key_recipient_decide,
        name="key_recipient_decide",
    ),
    path("vendors/<int:pk>/reviews/start/", views.review_start, name="review_start"),
    path("reviews/<int:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/edit/", views.review_edit, name="review_edit"),
    path("reviews/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("reviews/<int:pk>/evidence/", views.evidence_upload, name="evidence_upload"),
    path("reviews/<int:pk>/<str:kind>/add/", views.review_detail_add, name="review_detail_add"),
    path(
        "reviews/<int:pk>/<str:kind>/<int:detail_id>/remove/",
        views.review_detail_remove,
        name="review_detail_remove",
    ),
    path("evidence/<int:pk>/", views.evidence_download, name="evidence_download"),
]
