"""PrintBridge: the office print server's web app (upload, queue, accounting)."""

__version__ = "0.1.0"
