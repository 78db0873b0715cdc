"""Public GS1 Digital Link URLs, at the site root: `/01/{GTIN}[/10/{lot}][/21/{serial}]`."""

from django.urls import path

from pocketdesk.links import views_public

app_name = "digital_link"

urlpatterns = [
    path("01/<str:gtin>", views_public.item_resolve, name="product"),
    path("01/<str:gtin>/10/<str:lot>", views_public.item_resolve, name="lot"),
    path("01/<str:gtin>/21/<str:serial>", views_public.item_resolve, name="unit"),
    path("01/<str:gtin>/10/<str:lot>/21/<str:serial>", views_public.item_resolve, name="lot-unit"),
]
