"""Alembic environment: the URL comes from the config object built in ballot.storage.migrate."""

from alembic import context
from sqlalchemy import create_engine, pool

from ballot.storage.db import attach_live_on_connect
from ballot.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _our_schemas(name, type_, _parent) -> bool:
    return type_ != "schema" or name in (None, "live")


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    attach_live_on_connect(engine)  # SQLite: the live store's tables are in their own file
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_schemas=True,
            include_name=_our_schemas,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
