"""The voter's pages: entering a code, the ballot, the receipt."""
