"""The anonymity path: one-time codes, credentials, casting, sealing and the voter's reads.

Nothing here links a ballot to a credential or a person; see each module for how.
"""
