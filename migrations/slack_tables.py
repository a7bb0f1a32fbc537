"""slack-sdk's own definitions of the Slack installation tables, for ``alembic check``.

Migration ``0003`` writes these tables out by hand (migrating must not need the Slack
packages); comparing the database with slack-sdk's ``build_*_table`` definitions proves that
the migration matches what slack-sdk's stores read and write. Without slack-sdk installed
the tables are left out of the comparison.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def slack_metadata() -> list[MetaData]:
    """The Slack stores' tables in a metadata of their own ([] without slack-sdk)."""
    try:
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
        from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
    except ImportError:
        return []
    metadata = MetaData()
    store = SQLAlchemyInstallationStore
    store.build_installations_table(metadata, store.default_installations_table_name)
    store.build_bots_table(metadata, store.default_bots_table_name)
    states = SQLAlchemyOAuthStateStore
    states.build_oauth_states_table(metadata, states.default_table_name)
    return [metadata]
