"""Threadline: an LLM chat bot service for Slack and Discord."""

__version__ = "0.1.0"
