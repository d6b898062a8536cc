"""Loading, normalizing, compiling and validating OpenAPI documents."""
