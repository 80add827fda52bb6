"""Paper ballots: the sheets a meeting prints and the clerks' entry of the counted papers."""
