"""pocketdesk: self-hosted, mobile-first customer support."""
