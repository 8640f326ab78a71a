"""Durable storage: one Store protocol and one module per backend."""
