"""The customer 360 page is built from panels that apps register, like the customer home:
notifications adds recent deliveries, conversations could add health and habits.

    customer_panel_register(CustomerPanel(key="notifications", title=_("Notifications"),
                                          template="notifications/console/panel_360.html",
                                          context=lambda actor, customer: {...}, order=20))

Each panel's context function runs a fixed number of queries, whatever the customer has."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PanelContext = Callable[[Any, Any], dict[str, Any] | None]


@dataclass(frozen=True)
class CustomerPanel:
    key: str
    title: Any
    template: str
    context: PanelContext
    order: int = 100


_panels: dict[str, CustomerPanel] = {}


def customer_panel_register(panel: CustomerPanel) -> None:
    _panels[panel.key] = panel


def customer_panels(actor: Any, customer: Any) -> list[tuple[CustomerPanel, dict[str, Any]]]:
    """The panels with their context, in order; a panel whose context is None is left out."""
    shown = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key)):
        context = panel.context(actor, customer)
        if context is not None:
            shown.append((panel, context))
    return shown
