"""Unicorn's Python worker: HTTP/1.x parsing, the WSGI layer and the worker loops the arbiter spawns."""

SERVER_SOFTWARE = "unicorn"
