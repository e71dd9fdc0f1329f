"""The Postgres warehouse: connection, tables, migrations and the bulk writer."""
