"""The tutorials' datasets."""
