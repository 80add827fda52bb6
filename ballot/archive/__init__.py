"""The signed archive: building it (build), its keys (signing, keyring) and checking it offline.

verify.py needs only counting, signing and the audit chain check, so an auditor reads it alone.
"""
