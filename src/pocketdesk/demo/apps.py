from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "pocketdesk.demo"
    label = "demo"
    verbose_name = "Demo data"

    def ready(self) -> None:
        from django.conf import settings

        from pocketdesk.core.processes import serve_process_register
        from pocketdesk.demo.channels import fake_providers_command

        if settings.PD_MODE == "demo":
            # The demo's channels talk to local fakes of Twilio and Meta: nothing leaves the box.
            serve_process_register("fake-providers", fake_providers_command)
