"""
SQLite that cannot clone test databases, as Oracle's backend cannot without
the overlay: it says so in its features, and cloning reaches
BaseDatabaseCreation's refusal.
"""

from django.db.backends.base.creation import BaseDatabaseCreation
from django.db.backends.sqlite3 import base, creation, features


class DatabaseFeatures(features.DatabaseFeatures):
    can_clone_databases = False


class DatabaseCreation(creation.DatabaseCreation):
    _clone_test_db = BaseDatabaseCreation._clone_test_db


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    creation_class = DatabaseCreation
