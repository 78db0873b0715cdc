"""Conversation writes, by topic: `messages` (receive, reply, receipts)."""
