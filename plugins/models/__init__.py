"""The tutorials' models."""
