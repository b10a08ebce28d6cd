"""Failure categories: the first whose pattern matches "nodeid :: message" wins."""
CATEGORIES = []
