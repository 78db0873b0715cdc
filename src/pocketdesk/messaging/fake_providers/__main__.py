"""``python -m pocketdesk.messaging.fake_providers``: serve the fake in the foreground."""

from pocketdesk.messaging.fake_providers.cli import main

if __name__ == "__main__":
    main()
