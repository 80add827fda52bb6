"""Meeting services: setting a meeting up, conducting its sittings, its units, users and tokens."""
