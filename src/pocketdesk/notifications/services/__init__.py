"""Notification writes: `subscriptions` (topics), `events` (accepting events) and `fanout`
(recipients, send windows, handing due notifications to the messaging outbox)."""
