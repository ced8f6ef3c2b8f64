"""Per-backend replacements for django.db.backends.<vendor>.creation, one module each."""
