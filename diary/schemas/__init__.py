"""Marshmallow schemas for the HTTP layer, kept apart from the models."""
