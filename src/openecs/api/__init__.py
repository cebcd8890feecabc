"""The AWS wire protocols: parse, authenticate, validate, route, serialize, map errors."""
