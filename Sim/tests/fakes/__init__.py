"""Test doubles for the twin's physics side."""
