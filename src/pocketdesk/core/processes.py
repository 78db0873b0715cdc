"""Extra processes `pocketdesk serve` runs beside the web, websocket, worker and scheduler ones.
An app registers a command line at start-up (the demo registers its fake providers)."""

from collections.abc import Callable

_processes: dict[str, Callable[[], list[str]]] = {}


def serve_process_register(name: str, command: Callable[[], list[str]]) -> None:
    _processes[name] = command


def serve_processes() -> dict[str, list[str]]:
    return {name: command() for name, command in sorted(_processes.items())}
