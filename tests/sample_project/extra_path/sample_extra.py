"""Importable only from the directory sample_project.runner.ProjectRunner adds to sys.path."""

ADDED_BY_RUNNER = True
