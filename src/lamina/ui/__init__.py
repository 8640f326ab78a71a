"""The dashboard's assets: one HTML template and one script, served by `api/ui.py`."""
