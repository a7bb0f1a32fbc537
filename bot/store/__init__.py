"""Persistence: the ``ConversationStore`` protocol and its SQLAlchemy implementation."""
