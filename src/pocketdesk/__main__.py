"""The `pocketdesk` command: Django's manage.py plus our own commands (dashes allowed)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pocketdesk.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        # `pocketdesk demo-seed` runs the `demo_seed` command.
        argv[1] = argv[1].replace("-", "_")
    argv[0] = "pocketdesk"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
