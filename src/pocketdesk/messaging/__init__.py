"""Channel adapters: inbound webhooks, outbound sends and delivery receipts, per provider."""
