"""What the adapter uses from Slack; ``slack-manifest.json`` requests exactly this (a test checks).

Each scope and event is listed with the reason it is needed.
"""

from __future__ import annotations

BOT_SCOPES: dict[str, str] = {
    "app_mentions:read": "receive app_mention in channels the bot is in",
    "assistant:write": "assistant panel: suggested prompts, thread titles, status",
    "channels:history": "thread follow-ups and edits in public channels (message.channels)",
    "groups:history": "the same in private channels (message.groups)",
    "mpim:history": "the same in group DMs (message.mpim)",
    "im:history": "direct messages and assistant threads (message.im)",
    "chat:write": "post, update and stream answers; ephemeral notes; status",
    "commands": "the /threadline slash command",
    "users:read": "display names for history, and admin checks for settings",
    "im:write": "open a DM to send a person their exported history (export)",
    "files:read": "download the files people attach to questions (url_private, bot token)",
    "files:write": "upload the exported history file into that DM (files.uploadV2)",
}

BOT_EVENTS: dict[str, str] = {
    "app_mention": "a mention in a channel starts (or continues) a threaded answer",
    "message.channels": "follow-ups, edits and deletes in public channel threads",
    "message.groups": "the same in private channels",
    "message.mpim": "the same in group DMs",
    "message.im": "direct messages and assistant-panel messages",
    "assistant_thread_started": "the assistant panel opened: suggested prompts",
    "assistant_thread_context_changed": "acknowledged (the panel moved to another channel)",
    "app_uninstalled": "installed through OAuth: forget the workspace's tokens",
    "tokens_revoked": "installed through OAuth: forget the revoked tokens",
}

MESSAGE_SHORTCUTS: dict[str, tuple[str, str]] = {
    "threadline_summarize": ("Summarize thread", "Summarize this thread with Threadline"),
    "threadline_translate": ("Translate message", "Translate this message with Threadline"),
}
"""Message shortcuts (``message_action``): callback id → (name, description)."""
SHORTCUT_SUMMARIZE, SHORTCUT_TRANSLATE = MESSAGE_SHORTCUTS

SLASH_COMMAND = "/threadline"
EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
BOT_NAME = "Threadline"
