"""Plain domain functions: no request objects. They flush; the caller commits."""
