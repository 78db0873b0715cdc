from django.contrib import admin

from pocketdesk.catalog.models import (
    Lot,
    Product,
    ProductDocument,
    ProductUnit,
    UnitRegistration,
)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["gtin", "name", "brand"]
    search_fields = ["gtin", "name"]


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):
    list_display = ["product", "code", "manufactured_on"]


@admin.register(ProductUnit)
class ProductUnitAdmin(admin.ModelAdmin):
    list_display = ["product", "serial", "lot"]
    search_fields = ["serial"]


@admin.register(UnitRegistration)
class UnitRegistrationAdmin(admin.ModelAdmin):
    list_display = ["unit", "customer", "purchased_on", "registered_at", "ended_at"]


@admin.register(ProductDocument)
class ProductDocumentAdmin(admin.ModelAdmin):
    list_display = ["product", "kind", "language", "title"]
    list_filter = ["kind", "language"]
    search_fields = ["title", "product__gtin", "product__name"]
    autocomplete_fields = ["product"]
