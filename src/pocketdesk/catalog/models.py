"""Catalog: products (GTIN), lots, serialised units, and who owns which unit."""

from django.db import models
from django.db.models import Q

from pocketdesk.core.ids import PublicIdField
from pocketdesk.customers.models import Customer


class Product(models.Model):
    public_id = PublicIdField(prefix="prd")
    gtin = models.CharField(max_length=14, unique=True, help_text="GTIN-14, zero-padded")
    name = models.CharField(max_length=200)
    brand = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.gtin})"


class Lot(models.Model):
    public_id = PublicIdField(prefix="lot")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(max_length=20, help_text="GS1 AI (10), up to 20 characters")
    manufactured_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "code"], name="catalog_lot_product_code")
        ]

    def __str__(self) -> str:
        return f"{self.product.gtin}/{self.code}"


class ProductUnit(models.Model):
    public_id = PublicIdField(prefix="unt")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="units")
    serial = models.CharField(max_length=20, help_text="GS1 AI (21), up to 20 characters")
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="units"
    )
    manufactured_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "serial"], name="catalog_unit_product_serial"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product.gtin}/{self.serial}"


class UnitRegistration(models.Model):
    """A customer's ownership of a unit; at most one active owner per unit."""

    public_id = PublicIdField(prefix="reg")
    unit = models.ForeignKey(ProductUnit, on_delete=models.PROTECT, related_name="registrations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="registrations")
    purchased_on = models.DateField(null=True, blank=True)
    proof = models.FileField(upload_to="proofs/%Y/%m/", blank=True)
    registered_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["unit"], condition=Q(ended_at__isnull=True), name="catalog_one_active_owner"
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit} → {self.customer_id}"
