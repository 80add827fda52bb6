"""Staff pages: meetings, groups and codes, items, conduct, results, users, audit."""
