"""Sharing runs through Git remotes: push, fetch, pull (integrate), remote setup, artifact stores, gc."""
