from datetime import date, datetime

from ninja import Schema
from pydantic import Field


class ProductOut(Schema):
    id: str = Field(alias="public_id")
    gtin: str
    name: str
    brand: str
    description: str


class ProductIn(Schema):
    gtin: str
    name: str = Field(min_length=1, max_length=200)
    brand: str = Field(default="", max_length=100)
    description: str = ""


class UnitIn(Schema):
    serial: str = Field(min_length=1, max_length=20)
    lot: str | None = Field(default=None, max_length=20)
    manufactured_on: date | None = None


class UnitOut(Schema):
    id: str = Field(alias="public_id")
    gtin: str = Field(alias="product.gtin")
    product: str = Field(alias="product.public_id")
    serial: str
    lot: str | None = Field(default=None, alias="lot.code")
    manufactured_on: date | None


class RegistrationIn(Schema):
    gtin: str
    serial: str = Field(min_length=1, max_length=20)
    purchased_on: date | None = None


class RegistrationOut(Schema):
    id: str = Field(alias="public_id")
    unit: UnitOut
    product_name: str = Field(alias="unit.product.name")
    purchased_on: date | None
    registered_at: datetime
