"""A test-only app: one model shaped like a document, for the rules language's SQL tests."""
