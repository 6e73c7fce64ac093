"""`genre-tf serve`: the web page and its JSON API (the `serve` extra)."""
