"""The chat-completions side: the ``ChatModel`` protocol and its OpenAI-compatible client."""
