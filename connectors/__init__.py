"""Connectors: small declared units that read a source into raw event rows.

See `connectors.base` for the contract and `connectors.registry` for the list.
"""
