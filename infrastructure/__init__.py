"""Adapters: persistence, credentials, mail, geolocation, configuration, CLI."""
