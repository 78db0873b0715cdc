"""Catalog: products (GTIN), lots, serialised units, and who owns which unit."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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


class ProductDocument(models.Model):
    """A document that helps with a product: a setup guide, a manual or a video, in one language."""

    class Kind(models.TextChoices):
        SETUP_GUIDE = "setup_guide", _("Setup guide")
        MANUAL = "manual", _("Manual")
        VIDEO = "video", _("Video")

    public_id = PublicIdField(prefix="doc")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=2000)
    language = models.CharField(
        max_length=12, help_text="a language tag such as 'en' or 'fr-CA' (RFC 5646)"
    )

    class Meta:
        ordering = ["kind", "language", "title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["setup_guide", "manual", "video"]),
                name="catalog_document_kind",
            ),
            # Shown as links and redirected to from public pages: never javascript: or data:.
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"),
                name="catalog_document_http_url",
            ),
            models.CheckConstraint(condition=~Q(language=""), name="catalog_document_language"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"
