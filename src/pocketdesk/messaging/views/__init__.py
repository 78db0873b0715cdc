"""Provider webhooks, one module per provider. Every request is verified against its channel's
secret; a channel without one, an unsigned, forged or unknown-channel request gets 403 and
nothing is stored."""
