from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "pocketdesk.customers"
    label = "customers"
    verbose_name = "Customers"
