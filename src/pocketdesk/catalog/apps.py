from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "pocketdesk.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from pocketdesk.catalog.home import register_home_section

        register_home_section()
