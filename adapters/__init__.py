"""Platform adapters: each translates one platform's events into engine calls."""
