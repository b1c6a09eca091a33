"""vsm: value stream mapping engine for service operations (library side of the `vsm` CLI)."""

__version__ = "0.1.0"
